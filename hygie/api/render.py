"""Response shaping: ``_summary``, ``_elements``, ``_pretty`` — https://hl7.org/fhir/R4/search.html#summary"""

from __future__ import annotations

from typing import Any

from hygie.fhir import jsonio
from hygie.fhir.outcome import FhirError
from hygie.fhir.summary import elements as select_elements
from hygie.fhir.summary import mark_subsetted, summarize, text_summary

SUMMARY_MODES = frozenset({"true", "text", "data", "false", "count"})


def dumps(data: Any, pretty: bool) -> bytes:
    return jsonio.dumps(data, pretty=pretty)


def check_summary(value: str | None) -> str | None:
    if value is None or value in SUMMARY_MODES:
        return None if value == "false" else value
    raise FhirError.of(400, "invalid", "bad_param", name="_summary", value=value[:32])


def shape(resource: dict[str, Any], summary: str | None, elements: list[str] | None) -> dict[str, Any]:
    """Apply ``_summary`` (true, text, data) or ``_elements`` to one resource."""
    if summary == "true":
        return mark_subsetted(summarize(resource))
    if summary == "text":
        return mark_subsetted(text_summary(resource))
    if summary == "data":
        return mark_subsetted({k: v for k, v in resource.items() if k != "text"})
    if elements:
        return mark_subsetted(select_elements(resource, elements))
    return resource


def shape_bundle(bundle: dict[str, Any], summary: str | None, elements: list[str] | None) -> dict[str, Any]:
    for entry in bundle.get("entry") or []:
        res = entry.get("resource")
        if isinstance(res, dict) and (entry.get("search") or {}).get("mode", "match") == "match":
            entry["resource"] = shape(res, summary, elements)
    return bundle
