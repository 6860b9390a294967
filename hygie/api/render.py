"""Response shaping: ``_summary``, ``_elements``, ``_pretty`` — https://hl7.org/fhir/R4/search.html#summary"""

from __future__ import annotations

from typing import Any

from hygie.fhir import jsonio
from hygie.fhir.outcome import FhirError

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
_ALWAYS = ("resourceType", "id", "meta")


def dumps(data: Any, pretty: bool) -> bytes:
    return jsonio.dumps(data, pretty=pretty)


def check_summary(value: str | None) -> str | None:
    if value is None or value in ("text", "data", "false", "count"):
        return value
    if value == "true":
        raise FhirError.of(400, "not-supported", "not_implemented", what="_summary=true")
    raise FhirError.of(400, "invalid", "bad_param", name="_summary", value=value[:32])


def shape(resource: dict[str, Any], summary: str | None, elements: list[str] | None) -> dict[str, Any]:
    """Apply ``_summary`` (text, data) or ``_elements`` to one resource."""
    if summary == "text":
        kept = {k: v for k, v in resource.items() if k in (*_ALWAYS, "text")}
        return _mark(kept)
    if summary == "data":
        return _mark({k: v for k, v in resource.items() if k != "text"})
    if elements:
        wanted = set(elements)
        return _mark({k: v for k, v in resource.items() if k in _ALWAYS or k in wanted})
    return resource


def shape_bundle(bundle: dict[str, Any], summary: str | None, elements: list[str] | None) -> dict[str, Any]:
    for entry in bundle.get("entry") or []:
        res = entry.get("resource")
        if isinstance(res, dict) and (entry.get("search") or {}).get("mode", "match") == "match":
            entry["resource"] = shape(res, summary, elements)
    return bundle


def _mark(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    meta["tag"] = [*(meta.get("tag") or []), SUBSETTED]
    resource["meta"] = meta
    return resource
