"""Is a record open by break-the-glass? — for the chart's "emergency access" banner.

The access policy (hygie/auth/policy.py) decides what a professional sees; this module only tells
the pages *why* a visible record is visible, so that an emergency access is never mistaken for a
routine one:

- :data:`GRANTS` remembers the grants this server process obtained through the workspace
  (``Patient/[id]/$break-glass`` answers the grant's end, ``until``), per account — in memory,
  like :class:`hygie.web.session.Profiles`;
- :func:`in_care` reads the relationships the policy grants access by (docs/security.md: the
  patient's GP or managing organisation is the professional or their organisation, or an active
  CareTeam of the patient counts them or their organisation): a visible patient outside all of
  them is open by break-the-glass, even when the grant was made elsewhere (another process, before
  a restart).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from hygie.auth.tokens import Principal
from hygie.web.workspace.view import parse_instant


class Grants:
    """``(account, patient) → until`` (epoch ms) of the grants obtained here; bounded (the oldest
    entries go first), expired entries are ignored."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._until: OrderedDict[tuple[str, str], int] = OrderedDict()

    def add(self, account: str, patient: str, until_ms: int) -> None:
        key = (account, patient)
        self._until[key] = until_ms
        self._until.move_to_end(key)
        while len(self._until) > self.size:
            self._until.popitem(last=False)

    def until(self, account: str, patient: str, now_ms: int) -> int | None:
        found = self._until.get((account, patient))
        return found if found is not None and found > now_ms else None


GRANTS = Grants()


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
