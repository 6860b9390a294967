"""Is a record open by break-the-glass? — for the chart's "emergency access" banner.

The access policy (hygie/auth/policy.py) decides what a professional sees; this module only tells
the pages *why* a visible record is visible, so that an emergency access is never mistaken for a
routine one:

- :func:`grant_until` and :func:`my_grants` read the professional's own current grants from the
  API (``GET Patient/[id]/$break-glass``, ``GET Patient/$break-glass``: stored, so every server
  process knows them, with their end);
- :func:`cares_directly` and :func:`in_team` read the relationships the policy grants access by
  (docs/security.md: the patient's GP or managing organisation is the professional or their
  organisation, or an active CareTeam of the patient counts them or their organisation).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hygie.auth.tokens import Principal
from hygie.web.fhir import WebFhir, WebFhirError
from hygie.web.workspace.view import parse_instant


def _ms(value: Any) -> int | None:
    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _grant_until(parts: list[dict[str, Any]]) -> tuple[str | None, int | None]:
    named = {p.get("name"): p for p in parts if isinstance(p, dict)}
    patient = str((named.get("patient") or {}).get("valueReference", {}).get("reference", ""))
    return patient.removeprefix("Patient/") or None, _ms((named.get("until") or {}).get("valueInstant"))


async def grant_until(fhir: WebFhir, patient: str) -> int | None:
    """The end (epoch ms) of my current break-the-glass grant for ``patient``, if any
    (``GET Patient/{id}/$break-glass``, docs/security.md)."""
    try:
        answer = await fhir.operation(f"Patient/{patient}/$break-glass")
    except WebFhirError as error:
        if error.status in (403, 404):
            return None
        raise
    return _grant_until(answer.get("parameter") or [])[1]


async def my_grants(fhir: WebFhir) -> dict[str, int]:
    """Patient id → end (epoch ms) of each of my current grants (``GET Patient/$break-glass``)."""
    try:
        answer = await fhir.operation("Patient/$break-glass")
    except WebFhirError as error:
        if error.status == 403:
            return {}
        raise
    out = {}
    for grant in answer.get("parameter") or []:
        patient, until = _grant_until(grant.get("part") or [])
        if patient and until is not None:
            out[patient] = until
    return out


def members(principal: Principal) -> set[str]:
    """The references that stand for the professional: their Practitioner and organisation."""
    out = set()
    if principal.practitioner:
        out.add(f"Practitioner/{principal.practitioner}")
    if principal.organization:
        out.add(f"Organization/{principal.organization}")
    return out


def cares_directly(patient: dict[str, Any], principal: Principal) -> bool:
    """The patient's GP or managing organisation is the professional or their organisation."""
    mine = members(principal)
    refs = [r for r in patient.get("generalPractitioner") or [] if isinstance(r, dict)]
    managing = patient.get("managingOrganization")
    if isinstance(managing, dict):
        refs.append(managing)
    return any(r.get("reference") in mine for r in refs)


def in_team(careteams: list[dict[str, Any]], principal: Principal, now: datetime) -> bool:
    """One of the patient's CareTeams counts the professional or their organisation, while it is
    active (or has no status) and its period covers now (https://hl7.org/fhir/R4/careteam.html)."""
    mine = members(principal)
    for team in careteams:
        if team.get("status") not in (None, "active"):
            continue
        period = team.get("period") or {}
        start, end = parse_instant(period.get("start")), parse_instant(period.get("end"))
        if (start is not None and start > now) or (end is not None and end < now):
            continue
        for participant in team.get("participant") or []:
            member = participant.get("member") if isinstance(participant, dict) else None
            if isinstance(member, dict) and member.get("reference") in mine:
                return True
    return False


def now_utc() -> datetime:
    return datetime.now(UTC)
