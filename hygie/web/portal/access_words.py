"""The audit trail in plain words: who did what to my record, when, from where (pure functions).

Reads the BALP AuditEvents of the ledger (docs/security-audit.md; IHE BALP
https://profiles.ihe.net/ITI/BALP/, FHIR https://hl7.org/fhir/R4/auditevent.html):

- ``type``/``subtype``: a REST interaction (``rest`` + read, search-type, create…), a sign-in
  (DICOM 110114), an export of the record (DICOM 110106), a change of who may see the record
  (110113/110135), a break-the-glass opening (110113/110127);
- ``action`` R/E/C/U/D, ``outcome`` (0 = success), ``purposeOfEvent`` BTG (emergency access) with
  the written reason as its text;
- the requesting agent (``requestor: true``: a Practitioner or Patient reference, or an
  identifier), the client application (its OAuth client id: ``hygie-web`` is this website);
- the resources touched (entities of role 4), told as kinds of information.

Consecutive entries of the same person doing the same thing the same day through the same
application become one line ("viewed your record 12 times between 09:02 and 09:15").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any

from hygie.web.portal.dates import parse_instant, when

DCM = "http://dicom.nema.org/resources/ontology/DCM"
WEB_CLIENT = "hygie-web"
# Resource types → a message key naming the kind of information (pt_what_…)
WHAT = {
    "Observation": "results",
    "DiagnosticReport": "results",
    "Condition": "problems",
    "MedicationRequest": "treatments",
    "MedicationStatement": "treatments",
    "MedicationDispense": "treatments",
    "AllergyIntolerance": "allergies",
    "Immunization": "vaccinations",
    "DocumentReference": "documents",
    "Binary": "documents",
    "Patient": "identity",
    "Encounter": "visits",
    "Communication": "messages",
    "Consent": "privacy",
    "Task": "alerts",
    "DetectedIssue": "alerts",
    "Device": "devices",
    "Goal": "goals",
    "CareTeam": "care_team",
    "AuditEvent": "history",
    "Procedure": "care",
    "CarePlan": "care",
}


@dataclass(frozen=True, slots=True)
class Access:
    """One line of "who accessed my record"."""

    seq: int
    actor: str | None  # a reference (Practitioner/…, Patient/…), None: ``service`` names it
    service: str  # the client or login when no person is named
    verb: str  # message key suffix: view, add, change, delete, export, privacy, signin, emergency
    refused: bool
    emergency: bool
    reason: str
    via: str  # "web", "app" or "" (the application used)
    app: str  # the app's client id when via == "app"
    first: datetime
    last: datetime
    count: int = 1
    what: tuple[str, ...] = field(default_factory=tuple)

    def day(self, tz: tzinfo) -> tuple[int, int, int]:
        local = self.last.astimezone(tz)
        return (local.year, local.month, local.day)


def _coding(value: object) -> tuple[str, str]:
    if isinstance(value, dict):
        return str(value.get("system", "")), str(value.get("code", ""))
    return "", ""


def _requestor(event: dict[str, Any]) -> tuple[str | None, str, str]:
    """(reference, identifier, client id) of an event's agents: the requestor's reference or
    identifier; the client application is the agent named by an identifier alone (the server
    agent also carries its display name, a user their login as ``altId``)."""
    ref, ident, client = None, "", ""
    for agent in event.get("agent") or []:
        who = agent.get("who") if isinstance(agent, dict) else None
        if not isinstance(who, dict):
            continue
        identifier = who.get("identifier")
        value = str(identifier.get("value") or "") if isinstance(identifier, dict) else ""
        if agent.get("requestor") is True:
            ref = who["reference"] if isinstance(who.get("reference"), str) else None
            ident = value
        if value and not ({"display", "reference"} & set(who)) and "altId" not in agent and not client:
            client = value
    return ref, ident, client


def _verb(event: dict[str, Any]) -> str:
    _, type_code = _coding(event.get("type"))
    subtypes = [_coding(s)[1] for s in event.get("subtype") or []]
    if type_code == "110113":
        if "110127" in subtypes:
            return "emergency"
        return "privacy" if "110135" in subtypes else "account"
    if type_code == "110106":
        return "export"
    if type_code == "110114":
        return "signout" if "110123" in subtypes else "signin"
    return {"C": "add", "U": "change", "D": "delete"}.get(str(event.get("action")), "view")


def _purpose(event: dict[str, Any]) -> tuple[bool, str]:
    for concept in event.get("purposeOfEvent") or []:
        if isinstance(concept, dict) and any(_coding(c)[1] == "BTG" for c in concept.get("coding") or []):
            return True, str(concept.get("text") or "")
    return False, ""


def _what(event: dict[str, Any]) -> tuple[str, ...]:
    kinds = set()
    for entity in event.get("entity") or []:
        if not isinstance(entity, dict) or _coding(entity.get("role"))[1] != "4":
            continue
        reference = str((entity.get("what") or {}).get("reference") or "")
        kinds.add(WHAT.get(reference.split("/", 1)[0], "other"))
    return tuple(sorted(kinds))


def access(event: dict[str, Any]) -> Access | None:
    """The line of one AuditEvent (None when it has no readable time or id)."""
    at = parse_instant((event.get("period") or {}).get("start")) or parse_instant(event.get("recorded"))
    seq = str(event.get("id") or "")
    if at is None or not (seq.isascii() and seq.isdigit()):
        return None
    ref, ident, client = _requestor(event)
    emergency, reason = _purpose(event)
    verb = _verb(event)
    if verb == "emergency":
        emergency = True
    via = "web" if client == WEB_CLIENT else ("app" if client and ref else "")
    return Access(
        seq=int(seq),
        actor=ref,
        service=ident or client,
        verb=verb,
        refused=str(event.get("outcome", "0")) != "0",
        emergency=emergency,
        reason=reason,
        via=via,
        app=client if via == "app" else "",
        first=at,
        last=at,
        what=_what(event),
    )


def grouped(events: Iterable[dict[str, Any]], tz: tzinfo) -> list[Access]:
    """Lines newest first; consecutive events of one person doing the same thing the same day
    through the same application merge into one (counted, with their time span)."""
    out: list[Access] = []
    for event in events:
        line = access(event)
        if line is None:
            continue
        if out and _same(out[-1], line, tz):
            prev = out[-1]
            out[-1] = replace(
                prev,
                first=min(prev.first, line.first),
                last=max(prev.last, line.last),
                count=prev.count + 1,
                what=tuple(sorted(set(prev.what) | set(line.what))),
            )
            continue
        out.append(line)
    return out


def _same(a: Access, b: Access, tz: tzinfo) -> bool:
    keys = ("actor", "service", "verb", "refused", "emergency", "reason", "via", "app")
    return all(getattr(a, k) == getattr(b, k) for k in keys) and a.day(tz) == b.day(tz)


def span(line: Access, lang: str, tz: tzinfo) -> tuple[str, str, str]:
    """(date and time of the latest, time of the first, time of the latest) in words."""
    first, last = line.first.astimezone(tz), line.last.astimezone(tz)
    return (
        when(line.last, lang, tz),
        f"{first.hour:02d}:{first.minute:02d}",
        f"{last.hour:02d}:{last.minute:02d}",
    )
