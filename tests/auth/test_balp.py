"""AuditEvent builders following IHE Basic Audit Log Patterns (BALP).

BALP profiles: https://profiles.ihe.net/ITI/BALP/ (RESTful read/query/create/update/delete, with
and without a patient); DICOM audit codes (User Authentication, Export, Security Alert):
https://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_400.html ;
AuditEvent: https://hl7.org/fhir/R4/auditevent.html
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from hygie.auth.balp import (
    AccessRecord,
    Server,
    build_events,
    patient_of,
    requestor_of,
)
from hygie.fhir.validation import validate_resource

DCM = "http://dicom.nema.org/resources/ontology/DCM"
REST = "http://hl7.org/fhir/restful-interaction"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
XREQUEST = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
SERVER = Server(name="Hygie test", base_url="https://hygie.example/fhir", site="CHU test")
T0 = 1_700_000_000_123


def record(**changes: Any) -> AccessRecord:
    base: dict[str, Any] = {
        "action": "rest",
        "interaction": "read",
        "time_ms": T0,
        "agent_ref": "Practitioner/dr-house",
        "agent_display": "Dr House",
        "client_id": "hygie-web",
        "client_ip": "203.0.113.7",
        "request_id": "req-42",
    }
    base.update(changes)
    return AccessRecord(**base)


def coding(concept: dict[str, Any]) -> tuple[str, str]:
    first = concept["coding"][0] if "coding" in concept else concept
    return first["system"], first["code"]


def agents_by_type(event: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {coding(agent["type"]): agent for agent in event["agent"]}


def entities(
    event: dict[str, Any], role: str | None = None, etype: str | None = None
) -> list[dict[str, Any]]:
    found = []
    for entity in event.get("entity", []):
        if role is not None and entity.get("role", {}).get("code") != role:
            continue
        if etype is not None and entity.get("type", {}).get("code") != etype:
            continue
        found.append(entity)
    return found


def patient_refs(event: dict[str, Any]) -> list[str]:
    return [e["what"]["reference"] for e in entities(event, role="1", etype="1")]


def data_refs(event: dict[str, Any]) -> list[str]:
    return [e["what"]["reference"] for e in entities(event, role="4", etype="2")]


def assert_valid(event: dict[str, Any]) -> None:
    issues = validate_resource(event, expected_type="AuditEvent")
    assert issues == [], [(i.key, i.params, i.expression) for i in issues]


# --- RESTful interactions -------------------------------------------------------------------------


def test_patient_read_follows_balp_patient_read() -> None:
    [event] = build_events(record(patient_resources={"p1": ("Observation/o1",)}), server=SERVER)
    assert event["resourceType"] == "AuditEvent"
    assert event["meta"]["profile"] == [BALP + "PatientRead"]
    assert coding(event["type"]) == ("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest")
    assert [coding(s) for s in event["subtype"]] == [(REST, "read")]
    assert event["action"] == "R"
    assert event["outcome"] == "0"
    assert event["recorded"] == "2023-11-14T22:13:20.123Z"
    assert event["period"] == {"start": "2023-11-14T22:13:20.123Z", "end": "2023-11-14T22:13:20.123Z"}
    agents = agents_by_type(event)
    # BALP Read: the client receives the data (Destination Role ID), the server sends it.
    client = agents[(DCM, "110152")]
    server = agents[(DCM, "110153")]
    user = agents[("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP")]
    assert user["who"] == {"reference": "Practitioner/dr-house", "display": "Dr House"}
    assert user["requestor"] is True
    assert "network" not in user  # BALP: the network address belongs to the client agent
    assert client["who"]["identifier"]["value"] == "hygie-web"
    assert client["network"] == {"address": "203.0.113.7", "type": "2"}
    assert client["requestor"] is False
    assert server["who"]["identifier"]["value"] == "https://hygie.example/fhir"
    assert server["network"] == {"address": "https://hygie.example/fhir", "type": "5"}
    assert event["source"]["observer"] == server["who"]
    assert event["source"]["site"] == "CHU test"
    assert coding(event["source"]["type"][0]) == (
        "http://terminology.hl7.org/CodeSystem/security-source-type",
        "4",
    )
    assert patient_refs(event) == ["Patient/p1"]
    assert data_refs(event) == ["Observation/o1"]
    [transaction] = [e for e in event["entity"] if e["type"]["system"] == XREQUEST]
    assert transaction["type"]["code"] == "XrequestId"
    assert transaction["what"]["identifier"]["value"] == "req-42"
    assert patient_of(event) == "p1"
    assert requestor_of(event) == "Practitioner/dr-house"
    assert_valid(event)


def test_read_of_a_resource_of_no_patient_is_one_event_without_patient() -> None:
    [event] = build_events(record(resources=("Practitioner/dr-house",)), server=SERVER)
    assert event["meta"]["profile"] == [BALP + "Read"]
    assert patient_refs(event) == []
    assert data_refs(event) == ["Practitioner/dr-house"]
    assert patient_of(event) is None
    assert_valid(event)


def test_search_returning_three_patients_gives_one_event_per_patient() -> None:
    query = "GET /fhir/Observation?code=8867-4&_include=Observation:subject"
    rec = record(
        interaction="search-type",
        query=query,
        patient_resources={
            "p1": ("Observation/a", "Patient/p1"),
            "p2": ("Observation/b",),
            "p3": ("Observation/c", "Observation/d"),
        },
        resources=("Practitioner/dr-who",),
    )
    events = build_events(rec, server=SERVER)
    assert [patient_refs(e) for e in events] == [["Patient/p1"], ["Patient/p2"], ["Patient/p3"]]
    assert [patient_of(e) for e in events] == ["p1", "p2", "p3"]
    # Each event names only the resources of its own patient (plus the patient-free ones).
    assert data_refs(events[0]) == ["Observation/a", "Patient/p1", "Practitioner/dr-who"]
    assert data_refs(events[1]) == ["Observation/b", "Practitioner/dr-who"]
    assert data_refs(events[2]) == ["Observation/c", "Observation/d", "Practitioner/dr-who"]
    for event in events:
        assert event["meta"]["profile"] == [BALP + "PatientQuery"]
        assert event["action"] == "E"
        assert [coding(s) for s in event["subtype"]] == [(REST, "search-type")]
        [query_entity] = entities(event, role="24", etype="2")
        assert base64.b64decode(query_entity["query"]).decode() == query
        assert "what" not in query_entity  # BALP Query: entity[query].what 0..0
        agents = agents_by_type(event)
        assert (DCM, "110153") in agents  # BALP Query: the client sends the query (Source Role ID)
        assert (DCM, "110152") in agents
        assert_valid(event)


def test_search_touching_no_patient_gives_one_query_event() -> None:
    [event] = build_events(record(interaction="search-type", query="name=house"), server=SERVER)
    assert event["meta"]["profile"] == [BALP + "Query"]
    assert patient_refs(event) == []
    assert len(entities(event, role="24")) == 1
    assert_valid(event)


def test_patients_given_without_resources_still_get_their_event() -> None:
    events = build_events(record(patients=("p1", "p2", "p1")), server=SERVER)
    assert [patient_refs(e) for e in events] == [["Patient/p1"], ["Patient/p2"]]  # duplicates merged
    for event in events:
        assert_valid(event)


@pytest.mark.parametrize(
    ("interaction", "action", "profile", "client_type", "server_type"),
    [
        ("create", "C", "PatientCreate", (DCM, "110153"), (DCM, "110152")),
        ("update", "U", "PatientUpdate", (DCM, "110153"), (DCM, "110152")),
        ("patch", "U", "PatientUpdate", (DCM, "110153"), (DCM, "110152")),
        (
            "delete",
            "D",
            "PatientDelete",
            (DCM, "110150"),
            ("http://terminology.hl7.org/CodeSystem/provenance-participant-type", "custodian"),
        ),
        ("vread", "R", "PatientRead", (DCM, "110152"), (DCM, "110153")),
    ],
)
def test_writes_follow_their_balp_profile(
    interaction: str, action: str, profile: str, client_type: tuple[str, str], server_type: tuple[str, str]
) -> None:
    [event] = build_events(
        record(interaction=interaction, patient_resources={"p9": ("Condition/c1",)}), server=SERVER
    )
    assert event["action"] == action
    assert [coding(s) for s in event["subtype"]] == [(REST, interaction)]
    assert event["meta"]["profile"] == [BALP + profile]
    agents = agents_by_type(event)
    assert client_type in agents
    assert server_type in agents
    user_types = {coding(a["type"]) for a in event["agent"] if a["requestor"]}
    expected_user = "IRCP" if action == "R" else "AUT"
    assert user_types == {("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", expected_user)}
    assert patient_refs(event) == ["Patient/p9"]
    assert_valid(event)


def test_history_is_a_rest_read_without_a_balp_profile() -> None:
    [event] = build_events(
        record(interaction="history-instance", resources=("Organization/o",)), server=SERVER
    )
    assert event["action"] == "R"
    assert [coding(s) for s in event["subtype"]] == [(REST, "history-instance")]
    assert "meta" not in event  # BALP defines no history profile: claim none
    assert_valid(event)


def test_failed_access_keeps_the_outcome_and_claims_no_success_profile() -> None:
    [event] = build_events(record(outcome=8, outcome_text="access denied", patients=("p1",)), server=SERVER)
    assert event["outcome"] == "8"
    assert event["outcomeDesc"] == "access denied"
    assert "meta" not in event  # BALP profiles pin outcome 0
    assert patient_refs(event) == ["Patient/p1"]
    assert_valid(event)


def test_system_client_without_user_is_the_requestor() -> None:
    [event] = build_events(
        record(
            agent_ref=None,
            agent_display=None,
            client_id="backend-lab",
            interaction="create",
            resources=("Organization/lab",),
        ),
        server=SERVER,
    )
    requestors = [a for a in event["agent"] if a["requestor"]]
    assert len(requestors) == 1
    assert requestors[0]["who"]["identifier"]["value"] == "backend-lab"
    assert requestor_of(event) == "backend-lab"
    assert_valid(event)


# --- purpose of use, break-the-glass --------------------------------------------------------------


def test_break_the_glass_read_carries_purpose_btg() -> None:
    [event] = build_events(
        record(purpose="BTG", reason="Patient unconscious in the ER", patients=("p1",)), server=SERVER
    )
    [purpose] = event["purposeOfEvent"]
    assert coding(purpose) == (ACT_REASON, "BTG")
    assert purpose["text"] == "Patient unconscious in the ER"
    [user] = [a for a in event["agent"] if a["requestor"]]
    assert [coding(p) for p in user["purposeOfUse"]] == [(ACT_REASON, "BTG")]
    assert_valid(event)


def test_break_the_glass_grant_is_an_emergency_override_security_alert() -> None:
    [event] = build_events(
        record(action="break-glass", interaction=None, patients=("p1",), reason="Cardiac arrest"),
        server=SERVER,
    )
    assert coding(event["type"]) == (DCM, "110113")
    assert [coding(s) for s in event["subtype"]] == [(DCM, "110127")]
    assert event["action"] == "E"
    assert [coding(p) for p in event["purposeOfEvent"]] == [(ACT_REASON, "BTG")]
    assert event["purposeOfEvent"][0]["text"] == "Cardiac arrest"
    assert patient_refs(event) == ["Patient/p1"]
    assert_valid(event)


# --- authentication, export, policy ---------------------------------------------------------------


@pytest.mark.parametrize(("action", "subtype"), [("login", "110122"), ("logout", "110123")])
def test_login_and_logout_are_user_authentication_events(action: str, subtype: str) -> None:
    [event] = build_events(record(action=action, interaction=None, request_id=None), server=SERVER)
    assert coding(event["type"]) == (DCM, "110114")
    assert [coding(s) for s in event["subtype"]] == [(DCM, subtype)]
    assert event["action"] == "E"
    assert event["outcome"] == "0"
    [user] = [a for a in event["agent"] if a["requestor"]]
    assert user["who"]["reference"] == "Practitioner/dr-house"
    assert user["network"] == {"address": "203.0.113.7", "type": "2"}
    assert "entity" not in event
    assert_valid(event)


def test_failed_login_records_the_attempted_user_name() -> None:
    [event] = build_events(
        record(
            action="login",
            interaction=None,
            agent_ref=None,
            agent_display=None,
            agent_login="mallory",
            outcome=4,
            outcome_text="wrong password",
        ),
        server=SERVER,
    )
    assert event["outcome"] == "4"
    assert event["outcomeDesc"] == "wrong password"
    [user] = [a for a in event["agent"] if a["requestor"]]
    assert user["who"] == {"identifier": {"value": "mallory"}}
    assert user["altId"] == "mallory"
    assert requestor_of(event) == "mallory"
    assert_valid(event)


def test_export_is_one_dicom_export_event_per_patient() -> None:
    events = build_events(
        record(
            action="export",
            interaction=None,
            query="/fhir/Group/g1/$export?_type=Observation",
            patients=("p1", "p2"),
            resources=("Group/g1",),
        ),
        server=SERVER,
    )
    assert len(events) == 2
    for event, patient in zip(events, ("Patient/p1", "Patient/p2"), strict=True):
        assert coding(event["type"]) == (DCM, "110106")
        assert event["action"] == "R"
        assert patient_refs(event) == [patient]
        assert data_refs(event) == ["Group/g1"]
        assert len(entities(event, role="24")) == 1
        assert_valid(event)


@pytest.mark.parametrize(("action", "subtype"), [("policy-change", "110135"), ("account-change", "110137")])
def test_policy_changes_are_security_alerts(action: str, subtype: str) -> None:
    [event] = build_events(
        record(
            action=action,
            interaction=None,
            patients=("p1",),
            resources=("Consent/c1",),
            reason="patient blocks Dr Who",
        ),
        server=SERVER,
    )
    assert coding(event["type"]) == (DCM, "110113")
    assert [coding(s) for s in event["subtype"]] == [(DCM, subtype)]
    assert patient_refs(event) == ["Patient/p1"]
    assert data_refs(event) == ["Consent/c1"]
    assert_valid(event)


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"entity": "x", "agent": 3},
        {"entity": [1, {"role": "x"}, {"role": {"system": OBJECT_ROLE, "code": "1"}, "what": 5}]},
        {"agent": [{"requestor": True, "who": "x"}]},
        {"agent": [{"requestor": True, "who": {"identifier": 7}}]},
    ],
)
def test_reading_patient_and_requestor_tolerates_malformed_events(event: dict[str, Any]) -> None:
    assert patient_of(event) is None
    assert requestor_of(event) is None


# --- input checks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"interaction": None}, "interaction"),
        ({"action": "login", "interaction": "read"}, "interaction"),
        ({"action": "teleport"}, "action"),
        ({"interaction": "dance"}, "interaction"),
        ({"outcome": 3}, "outcome"),
        ({"patients": ("a/b",)}, "patient id"),
        ({"resources": ("not a reference",)}, "reference"),
    ],
)
def test_bad_records_are_rejected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_events(record(**changes), server=SERVER)
