"""Checks shared by the write interactions: ids, versions, incoming resources."""

from __future__ import annotations

import re
from typing import Any

from hygie.fhir.definitions import is_resource_type
from hygie.fhir.outcome import FhirError, Issue
from hygie.fhir.summary import is_subsetted
from hygie.fhir.validation import validate_resource

ID_RE = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# Issue types reported as 400 (the content could not be understood as FHIR); others → 422.
_STRUCTURAL = frozenset({"structure", "too-costly"})


def is_count(text: str, most: int = 9) -> bool:
    """ASCII digits only, at most ``most`` of them (``"¹".isdigit()`` is True in Python, and
    ``int("¹")`` a ValueError): check with this before ``int()`` on anything a client sent."""
    return 0 < len(text) <= most and text.isascii() and text.isdigit()


def check_type(rtype: str) -> str:
    if not is_resource_type(rtype):
        raise FhirError.of(404, "not-supported", "unknown_type", type=rtype[:64])
    return rtype


def check_id(rid: str) -> str:
    if not ID_RE.fullmatch(rid):
        raise FhirError.of(400, "invalid", "invalid_id", id=rid[:80])
    return rid


def check_vid(vid: str) -> int:
    if not is_count(vid):
        raise FhirError.of(400, "invalid", "invalid_vid", vid=vid[:20])
    return int(vid)


def parse_etag(value: str) -> int:
    """``W/"3"`` or ``"3"`` → 3 (If-Match / If-None-Match / entry.request.ifMatch)."""
    text = value.strip()
    text = text.removeprefix("W/").strip('"')
    if not is_count(text):
        raise FhirError.of(400, "invalid", "bad_if_match", value=value[:40])
    return int(text)


def check_resource(body: Any, rtype: str, rid: str | None = None) -> dict[str, Any]:
    """Validate an incoming resource for ``rtype`` (and ``rid`` for updates); one tagged
    SUBSETTED (an incomplete copy: ``_elements``, ``_summary``) is refused (422)."""
    if not isinstance(body, dict):
        raise FhirError.of(400, "structure", "not_an_object")
    found = body.get("resourceType")
    if found != rtype:
        raise FhirError.of(
            400, "invalid", "type_mismatch", ("resourceType",), found=str(found)[:64], expected=rtype
        )
    if rid is not None:
        body_id = body.get("id")
        if body_id is None:
            raise FhirError.of(400, "required", "id_missing", (f"{rtype}.id",), expected=rid)
        if body_id != rid:
            raise FhirError.of(
                400, "invalid", "id_mismatch", (f"{rtype}.id",), found=str(body_id)[:80], expected=rid
            )
    issues = [i for i in validate_resource(body, expected_type=rtype) if i.severity in ("error", "fatal")]
    if issues:
        raise_invalid(issues)
    if is_subsetted(body):  # https://hl7.org/fhir/R4/search.html#summary: never over a whole one
        raise FhirError.of(422, "business-rule", "subsetted_write", (f"{rtype}.meta.tag",))
    return body


def raise_invalid(issues: list[Issue]) -> None:
    status = 400 if any(i.code in _STRUCTURAL for i in issues) else 422
    raise FhirError(status, *issues)
