"""FHIR R4 AuditEvents following IHE Basic Audit Log Patterns (BALP), built from a typed record.

Callers describe an access with an :class:`AccessRecord` (who, what, when, from where, outcome,
purpose, request id) and :func:`build_events` turns it into AuditEvent dicts: **one event per
patient concerned** (a search returning data of three patients gives three events, each naming
only that patient and that patient's resources), or one event without a patient when the access
touches none. This lets a patient read "who accessed my record" from their own events only.

Shapes, by :attr:`AccessRecord.action`:

- ``rest`` — a FHIR RESTful interaction (``interaction`` from
  http://hl7.org/fhir/restful-interaction), type ``rest`` of
  http://terminology.hl7.org/CodeSystem/audit-event-type. Successful events claim the BALP
  profile of the interaction (agent and entity slices as the profile requires):
  https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Read and ``PatientRead``
  (read, vread), ``.Query`` / ``.PatientQuery`` (search, search-type, search-system),
  ``.Create`` / ``.PatientCreate``, ``.Update`` / ``.PatientUpdate`` (update, patch),
  ``.Delete`` / ``.PatientDelete``. Failures keep the same shape without claiming the profile
  (BALP pins ``outcome`` to 0); so do interactions BALP has no profile for (history, operations).
- ``login`` / ``logout`` — DICOM ``110114`` User Authentication, subtype ``110122`` Login or
  ``110123`` Logout (a failed login is ``login`` with a failure outcome), as BALP's content
  page recommends for authentication events: https://profiles.ihe.net/ITI/BALP/content.html
- ``export`` — DICOM ``110106`` Export (bulk data leaving the server), with the request as a
  query entity.
- ``policy-change`` / ``account-change`` — DICOM ``110113`` Security Alert, subtype ``110135``
  Object Security Attributes Changed (consent, access rules of a record) or ``110137`` User
  Security Attributes Changed (roles, credentials, lock of an account).
- ``break-glass`` — DICOM ``110113`` Security Alert, subtype ``110127`` Emergency Override
  Started, ``purposeOfEvent`` ``BTG`` of http://terminology.hl7.org/CodeSystem/v3-ActReason.

Common parts: outcome codes 0 / 4 / 8 / 12 (http://hl7.org/fhir/R4/valueset-audit-event-outcome.html);
the requesting agent (a Practitioner / Patient / Device reference, or the client id when a
backend service acts alone) with ``requestor = true``; the client application with its network
address; the server agent and ``source.observer`` (this Hygie server, type 4 Application Server);
the patient as entity type 1 Person / role 1 Patient; the resources touched as type 2 System
Object / role 4 Domain Resource; the raw query base64-encoded in a role 24 Query entity; the
request id as BALP's ``transaction`` entity (type ``XrequestId`` of
https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType, ``what.identifier.value``).
AuditEvent: https://hl7.org/fhir/R4/auditevent.html
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

Action = Literal["rest", "export", "login", "logout", "policy-change", "account-change", "break-glass"]
Interaction = Literal[
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history",
    "history-instance",
    "history-type",
    "history-system",
    "create",
    "search",
    "search-type",
    "search-system",
    "capabilities",
    "transaction",
    "batch",
    "operation",
]
Outcome = Literal[0, 4, 8, 12]

BALP_PROFILE = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
DCM = "http://dicom.nema.org/resources/ontology/DCM"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
PROVENANCE_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
BALP_ENTITY_TYPE = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"

_PURPOSES = {  # displays of the v3-ActReason codes Hygie uses; others are recorded as given
    "BTG": "break the glass",
    "TREAT": "treatment",
    "ETREAT": "Emergency Treatment",
    "PATRQT": "patient requested",
    "HOPERAT": "healthcare operations",
    "HSYSADMIN": "security administration",
}
_ACTION_CODE: dict[str, str] = {  # AuditEvent.action per restful interaction
    "read": "R",
    "vread": "R",
    "history": "R",
    "history-instance": "R",
    "history-type": "R",
    "history-system": "R",
    "create": "C",
    "update": "U",
    "patch": "U",
    "delete": "D",
}
_PROFILE = {  # restful interaction -> BALP profile name (the Patient* variant adds "Patient")
    "read": "Read",
    "vread": "Read",
    "search": "Query",
    "search-type": "Query",
    "search-system": "Query",
    "create": "Create",
    "update": "Update",
    "patch": "Update",
    "delete": "Delete",
}
_SECURITY_SUBTYPES = {
    "policy-change": ("110135", "Object Security Attributes Changed"),
    "account-change": ("110137", "User Security Attributes Changed"),
    "break-glass": ("110127", "Emergency Override Started"),
}
_ACTIONS = frozenset(get_args(Action))
_INTERACTIONS = frozenset(get_args(Interaction))
_OUTCOMES = frozenset(get_args(Outcome))


@dataclass(frozen=True, slots=True)
class Server:
    """This Hygie server, as the audit source and the server agent."""

    name: str = "Hygie"
    base_url: str | None = None
    site: str | None = None


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One access, as the HTTP layer or the authentication code sees it.

    ``patient_resources`` maps a patient id to the resources of that patient the access touched;
    ``patients`` lists patients concerned without naming resources (a read of their Patient
    resource, a login on their behalf...); ``resources`` are touched resources of no patient (or
    of an unknown one): they appear in every event of the access.
    """

    action: Action
    time_ms: int
    interaction: Interaction | None = None
    outcome: Outcome = 0
    outcome_text: str | None = None
    agent_ref: str | None = None
    agent_display: str | None = None
    agent_login: str | None = None
    client_id: str | None = None
    client_ip: str | None = None
    patients: tuple[str, ...] = ()
    patient_resources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    resources: tuple[str, ...] = ()
    query: str | None = None
    purpose: str | None = None
    reason: str | None = None
    request_id: str | None = None


DEFAULT_SERVER = Server()


def build_events(record: AccessRecord, *, server: Server = DEFAULT_SERVER) -> list[dict[str, Any]]:
    """The AuditEvents of one access: one per patient concerned, or one without patient."""
    _check(record)
    by_patient: dict[str, list[str]] = {}
    for patient in (*record.patients, *record.patient_resources):
        by_patient.setdefault(patient, [])
    for patient, refs in record.patient_resources.items():
        by_patient[patient].extend(ref for ref in refs if ref not in by_patient[patient])
    if not by_patient:
        return [_event(record, server, None, [])]
    return [_event(record, server, patient, refs) for patient, refs in by_patient.items()]


def format_instant(ms: int) -> str:
    """An FHIR ``instant`` with exact milliseconds (UTC), e.g. ``2023-11-14T22:13:20.123Z``."""
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


def patient_of(event: Mapping[str, Any]) -> str | None:
    """The id of the patient an AuditEvent is about (its entity of role 1 Patient), if any.

    Tolerates malformed events (the ledger's verification reads stored bodies with it).
    """
    for entity in _dicts(event.get("entity")):
        role = entity.get("role")
        if isinstance(role, dict) and role.get("system") == OBJECT_ROLE and role.get("code") == "1":
            what = entity.get("what")
            reference = what.get("reference") if isinstance(what, dict) else None
            if not isinstance(reference, str):
                return None
            return reference.rsplit("/", 1)[-1] or None
    return None


def requestor_of(event: Mapping[str, Any]) -> str | None:
    """Who asked: the requestor agent's reference, or its identifier (client id, user name)."""
    for agent in _dicts(event.get("agent")):
        if agent.get("requestor") is True:
            who = agent.get("who")
            if not isinstance(who, dict):
                return None
            identifier = who.get("identifier")
            value = who.get("reference") or (
                identifier.get("value") if isinstance(identifier, dict) else None
            )
            return value if isinstance(value, str) and value else None
    return None


def _dicts(items: object) -> list[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


# --- checks -----------------------------------------------------------------------------------------


def _check(record: AccessRecord) -> None:
    if record.action not in _ACTIONS:
        raise ValueError(f"unknown audit action {record.action!r}")
    if record.action == "rest" and record.interaction not in _INTERACTIONS:
        raise ValueError(f"a rest audit record needs a restful interaction, not {record.interaction!r}")
    if record.action != "rest" and record.interaction is not None:
        raise ValueError(f"only rest audit records carry an interaction ({record.action!r} has one)")
    if record.outcome not in _OUTCOMES:
        raise ValueError(f"audit outcome must be 0, 4, 8 or 12, not {record.outcome!r}")
    for patient in (*record.patients, *record.patient_resources):
        if not patient or "/" in patient:
            raise ValueError(f"bad patient id {patient!r} (give the bare id)")
    refs = [*record.resources, *(r for rs in record.patient_resources.values() for r in rs)]
    for ref in refs:
        kind, _, ident = ref.rpartition("/")
        if not kind or not ident or not kind.split("/")[-1][:1].isupper() or " " in ref:
            raise ValueError(f"bad resource reference {ref!r} (expected Type/id)")


# --- events -----------------------------------------------------------------------------------------


def _event(record: AccessRecord, server: Server, patient: str | None, refs: list[str]) -> dict[str, Any]:
    when = format_instant(record.time_ms)
    event: dict[str, Any] = {"resourceType": "AuditEvent"}
    profile = _profile(record, patient)
    if profile:
        event["meta"] = {"profile": [BALP_PROFILE + profile]}
    event_type, subtype, action = _classify(record)
    event.update(type=event_type, subtype=[subtype], action=action, period={"start": when, "end": when})
    event["recorded"] = when
    event["outcome"] = str(record.outcome)
    if record.outcome_text:
        event["outcomeDesc"] = record.outcome_text
    purpose = _purpose(record)
    if purpose:
        event["purposeOfEvent"] = [purpose]
    event["agent"] = _agents(record, server)
    server_who = _server_who(server)
    source: dict[str, Any] = {
        "observer": server_who,
        "type": [_coding(SOURCE_TYPE, "4", "Application Server")],
    }
    if server.site:
        source = {"site": server.site, **source}
    event["source"] = source
    entities = _entities(record, patient, [*refs, *(r for r in record.resources if r not in refs)])
    if entities:
        event["entity"] = entities
    return event


def _profile(record: AccessRecord, patient: str | None) -> str | None:
    if record.action != "rest" or record.outcome != 0 or record.interaction not in _PROFILE:
        return None
    return ("Patient" if patient else "") + _PROFILE[record.interaction]


def _classify(record: AccessRecord) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(type, subtype, action) of the event."""
    if record.action == "rest":
        interaction = str(record.interaction)
        return (
            _coding(EVENT_TYPE, "rest", "Restful Operation"),
            _coding(RESTFUL_INTERACTION, interaction, interaction),
            _ACTION_CODE.get(interaction, "E"),
        )
    if record.action in ("login", "logout"):
        code, display = ("110122", "Login") if record.action == "login" else ("110123", "Logout")
        return _coding(DCM, "110114", "User Authentication"), _coding(DCM, code, display), "E"
    if record.action == "export":
        return _coding(DCM, "110106", "Export"), _coding(RESTFUL_INTERACTION, "operation", "operation"), "R"
    code, display = _SECURITY_SUBTYPES[record.action]
    return _coding(DCM, "110113", "Security Alert"), _coding(DCM, code, display), "E"


def _purpose_code(record: AccessRecord) -> str | None:
    return "BTG" if record.action == "break-glass" else record.purpose


def _purpose(record: AccessRecord) -> dict[str, Any] | None:
    code = _purpose_code(record)
    concept: dict[str, Any] = {}
    if code:
        concept["coding"] = [_coding(ACT_REASON, code, _PURPOSES.get(code))]
    if record.reason:
        concept["text"] = record.reason
    return concept or None


# --- agents -----------------------------------------------------------------------------------------


def _agents(record: AccessRecord, server: Server) -> list[dict[str, Any]]:
    """The user (when known), the client application and the server (BALP agent slices)."""
    client_type, server_type, user_type = _roles(record)
    agents: list[dict[str, Any]] = []
    user_who = _user_who(record)
    network = {"address": record.client_ip, "type": "2"} if record.client_ip else None
    if user_who is not None:
        user: dict[str, Any] = {"type": {"coding": [user_type]}, "who": user_who}
        if record.agent_login:
            user["altId"] = record.agent_login
        user["requestor"] = True
        if record.action in ("login", "logout") and network:
            user["network"] = network  # sign-in events: the address is the user's (no BALP profile)
        purpose = _purpose_code(record)
        if purpose:
            user["purposeOfUse"] = [{"coding": [_coding(ACT_REASON, purpose, _PURPOSES.get(purpose))]}]
        agents.append(user)
    if record.action not in ("login", "logout") or user_who is None or record.client_id:
        client_who: dict[str, Any] = (
            {"identifier": {"value": record.client_id}}
            if record.client_id
            else {"display": "unidentified client"}
        )
        client: dict[str, Any] = {"type": {"coding": [client_type]}, "who": client_who}
        client["requestor"] = user_who is None
        if network:
            client["network"] = network
        agents.append(client)
    server_agent: dict[str, Any] = {
        "type": {"coding": [server_type]},
        "who": _server_who(server),
        "requestor": False,
    }
    if server.base_url:
        server_agent["network"] = {"address": server.base_url, "type": "5"}
    agents.append(server_agent)
    return agents


def _roles(record: AccessRecord) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(client, server, user) agent types of the BALP profile of the record."""
    source = _coding(DCM, "110153", "Source Role ID")
    destination = _coding(DCM, "110152", "Destination Role ID")
    recipient = _coding(PARTICIPATION, "IRCP", "information recipient")
    author = _coding(PARTICIPATION, "AUT", "author (originator)")
    action = _classify(record)[2] if record.action == "rest" else ""
    if action == "R":  # data flows from the server to the client
        return destination, source, recipient
    if action == "D":
        return (
            _coding(DCM, "110150", "Application"),
            _coding(PROVENANCE_PARTICIPANT, "custodian", "Custodian"),
            author,
        )
    if action in ("C", "U"):
        return source, destination, author
    if record.action == "export":
        return destination, source, recipient
    return source, destination, recipient  # queries, operations, security events


def _user_who(record: AccessRecord) -> dict[str, Any] | None:
    if record.agent_ref:
        who: dict[str, Any] = {"reference": record.agent_ref}
    elif record.agent_login:
        who = {"identifier": {"value": record.agent_login}}
    else:
        return None
    if record.agent_display:
        who["display"] = record.agent_display
    return who


def _server_who(server: Server) -> dict[str, Any]:
    return {"identifier": {"value": server.base_url or server.name}, "display": server.name}


# --- entities ---------------------------------------------------------------------------------------


def _entities(record: AccessRecord, patient: str | None, refs: list[str]) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    if patient:
        entities.append(
            {
                "what": {"reference": f"Patient/{patient}"},
                "type": _coding(ENTITY_TYPE, "1", "Person"),
                "role": _coding(OBJECT_ROLE, "1", "Patient"),
            }
        )
    entities.extend(
        {
            "what": {"reference": ref},
            "type": _coding(ENTITY_TYPE, "2", "System Object"),
            "role": _coding(OBJECT_ROLE, "4", "Domain Resource"),
        }
        for ref in refs
    )
    if record.query is not None:
        entities.append(
            {
                "type": _coding(ENTITY_TYPE, "2", "System Object"),
                "role": _coding(OBJECT_ROLE, "24", "Query"),
                "query": base64.b64encode(record.query.encode()).decode("ascii"),
            }
        )
    if record.request_id:
        entities.append(
            {
                "what": {"identifier": {"value": record.request_id}},
                "type": _coding(BALP_ENTITY_TYPE, "XrequestId", "X-Request-Id"),
            }
        )
    return entities


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding
