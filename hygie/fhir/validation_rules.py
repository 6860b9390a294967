"""Rules shared by the reporting validator and the compiled acceptor (:mod:`hygie.fhir.validation`).

Spec: https://hl7.org/fhir/R4/references.html#literal (literal references),
https://hl7.org/fhir/R4/http.html#trules (conditional references in transaction/batch Bundles),
https://hl7.org/fhir/R4/narrative.html#rules (txt-1: no script, no event attribute).

The reporting validator (:mod:`hygie.fhir.validation`) and the compiled acceptor
(:mod:`hygie.fhir.validation_accept`) both apply these, so that they cannot disagree.
"""

from __future__ import annotations

import re
from typing import Final

from hygie.fhir import primitives
from hygie.fhir.definitions import RESOURCE_TYPES

_ID = r"[A-Za-z0-9\-\.]{1,64}"
RELATIVE_RE: Final = re.compile(rf"([A-Za-z]+)/{_ID}(/_history/{_ID})?")
LOCAL_RE: Final = re.compile(rf"#({_ID})?")
ABSOLUTE_RE: Final = re.compile(r"https?://[^\s/]+/\S*")
CONDITIONAL_RE: Final = re.compile(r"([A-Za-z]+)\?\S+")
_EVENT_ATTRIBUTE_RE: Final = re.compile(r"on[a-z]+\s*=")  # after a space, in a tag: has_event_attribute
CONDITIONAL_BUNDLES: Final = frozenset({"transaction", "batch"})


def has_event_attribute(lowered: str) -> bool:
    """Whether ``<[^>]*\\son[a-z]+\\s*=`` occurs: an ``on…=`` attribute inside a tag.

    Searched from the attribute (rare) back to the tag start, which is linear where the
    pattern above backtracks over every tag.
    """
    for match in _EVENT_ATTRIBUTE_RE.finditer(lowered):
        start = match.start() - 1  # the space before the attribute (str.isspace() is regex \s)
        if (
            start > 0
            and lowered[start].isspace()
            and lowered.rfind("<", 0, start) > lowered.rfind(">", 0, start)
        ):
            return True
    return False


def narrative_problem(text: str) -> str | None:
    """txt-1 on a lexically valid ``Narrative.div``: None, or the key of the issue to report."""
    if not text.lstrip().startswith("<div"):
        return "validation.narrative_div"  # not an XHTML <div>
    lowered = text.lower()
    if "<script" in lowered or has_event_attribute(lowered):
        return "validation.narrative_unsafe"
    return None


def is_conditional_bundle(resource: dict[str, object]) -> bool:
    """A transaction or batch Bundle, whose entries may use conditional references."""
    kind = resource.get("type")
    return resource.get("resourceType") == "Bundle" and type(kind) is str and kind in CONDITIONAL_BUNDLES


REF_BAD: Final = 0  # invalid syntax or unknown resource type
REF_LOCAL: Final = 1  # "#id" or "#": a contained resource or the container
REF_LITERAL: Final = 2  # valid whatever the resource around it (relative, absolute, urn:uuid, urn:oid)
REF_CONDITIONAL: Final = 3  # "Type?criteria", only inside a transaction or batch Bundle


def classify_reference(text: str, conditional: bool) -> tuple[int, str | None]:
    """The literal reference rules on a non-empty string (``conditional``: inside a transaction).

    Returns the kind of reference (``REF_*``) and, for a reference to an unknown resource type,
    that type (else None).
    """
    if text[0] == "#":
        return (REF_LOCAL if LOCAL_RE.fullmatch(text) else REF_BAD), None
    if (match := RELATIVE_RE.fullmatch(text)) is not None:
        return (REF_LITERAL, None) if match[1] in RESOURCE_TYPES else (REF_BAD, match[1])
    if text.startswith("urn:"):
        if primitives.UUID_RE.fullmatch(text) or primitives.OID_RE.fullmatch(text):
            return REF_LITERAL, None
    elif ABSOLUTE_RE.fullmatch(text):
        return REF_LITERAL, None
    elif conditional and (match := CONDITIONAL_RE.fullmatch(text)) is not None:
        return (REF_CONDITIONAL, None) if match[1] in RESOURCE_TYPES else (REF_BAD, match[1])
    return REF_BAD, None
