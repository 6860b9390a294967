"""Conditional interactions: resolve search criteria to matching current resources.

https://hl7.org/fhir/R4/http.html#ccreate (and #cond-update, #cdelete, transaction references)
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from hygie.api.context import Env
from hygie.api.search import find
from hygie.fhir.outcome import FhirError
from hygie.storage.store import Version


def parse_criteria(text: str) -> list[tuple[str, str]]:
    """``identifier=x&name=y`` (with or without a leading ``?``) → list of pairs.

    Search ignores a parameter with an empty value (https://hl7.org/fhir/R4/search.html: "empty
    parameters are ignored"), so ``Patient?_id=`` would select every Patient: criteria holding
    only empty values are refused, as no criteria are (a conditional update, delete or reference
    must name what it means)."""
    pairs = parse_qsl(text.removeprefix("?"), keep_blank_values=True)
    if not any(value.strip() for _, value in pairs):
        raise FhirError.of(400, "invalid", "criteria_required")
    return pairs


def match(env: Env, rtype: str, criteria: list[tuple[str, str]], limit: int = 2) -> list[Version]:
    """Current versions of ``rtype`` matching ``criteria`` (at most ``limit``); criteria holding
    only empty values are refused (see :func:`parse_criteria`)."""
    if not any(value.strip() for _, value in criteria):
        raise FhirError.of(400, "invalid", "criteria_required")
    return find(env, rtype, criteria, limit=limit)


def match_one_or_none(env: Env, rtype: str, criteria: list[tuple[str, str]]) -> Version | None:
    """0 → None, 1 → the match, more → 412 Precondition Failed.

    Concurrent conditional writes with the same criteria are serialised (no duplicate creates).
    """
    env.store.lock(f"{rtype}?{sorted(criteria)}")
    found = match(env, rtype, criteria)
    if len(found) > 1:
        raise FhirError.of(412, "multiple-matches", "multiple_matches", count="2+")
    return found[0] if found else None
