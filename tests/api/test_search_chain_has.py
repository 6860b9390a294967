"""Chained parameters and ``_has`` on both backends.

Specs: https://hl7.org/fhir/R4/search.html#chaining and https://hl7.org/fhir/R4/search.html#has

The data set is loaded once per backend and the whole table of searches is run against it (one
database per test is the costly part), each mismatch reported with its query.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC
from typing import Any
from urllib.parse import parse_qsl

import pytest
from starlette.testclient import TestClient

from hygie.fhir.searchparams import default_registry
from hygie.search.chain import MAX_DEPTH
from hygie.search.query import compile_criteria
from hygie.storage.migrations import MIGRATIONS
from tests.api.support import put_all, search_ids

H = {"content-type": "application/fhir+json"}
LOINC = "http://loinc.org"


def _obs(oid: str, subject: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": subject},
    }


RESOURCES: list[dict[str, Any]] = [
    {"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "Dubois", "given": ["Martin"]}]},
    {"resourceType": "Practitioner", "id": "pr2", "name": [{"family": "Leroy", "given": ["Claire"]}]},
    {"resourceType": "Organization", "id": "org1", "name": "Clinique Saint-Pierre"},
    {"resourceType": "Location", "id": "loc1", "name": "Peterborough"},
    {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"family": "Chalmers", "given": ["Peter"]}],
        "birthDate": "1974-12-25",
        "identifier": [{"system": "urn:sys", "value": "111"}],
        "generalPractitioner": [{"reference": "Practitioner/pr1"}],
    },
    {
        "resourceType": "Patient",
        "id": "p2",
        "name": [{"family": "Durand", "given": ["Pétra"]}],
        "birthDate": "1990-05-01",
        "generalPractitioner": [{"reference": "Practitioner/pr2"}, {"reference": "Organization/org1"}],
    },
    {"resourceType": "Patient", "id": "p3", "name": [{"family": "Gone", "given": ["Peter"]}]},
    _obs("o1", "Patient/p1", "1234-5"),
    _obs("o2", "Patient/p2", "9999-9"),
    _obs("o3", "Patient/p3", "1234-5"),
    _obs("o4", "Location/loc1", "1234-5"),
    _obs("o5", "Patient/p2", "5555-5"),
    {
        "resourceType": "DiagnosticReport",
        "id": "dr1",
        "status": "final",
        "code": {"text": "panel"},
        "result": [{"reference": "Observation/o1"}],
    },
    {  # (AuditEvent is the server's own ledger: a Provenance gives the same two-level _has)
        "resourceType": "Provenance",
        "id": "pv1",
        "recorded": "2024-01-01T00:00:00Z",
        "agent": [{"who": {"reference": "Practitioner/pr2"}}],
        "target": [{"reference": "Observation/o2"}],
    },
]
DELETED = ("Patient/p3", "Observation/o5")

# (type, query, ids expected)
SEARCHES: list[tuple[str, str, set[str]]] = [
    # typed and untyped single-level chains; the deleted p3 never satisfies a chain
    ("Observation", "subject:Patient.name=peter", {"o1"}),
    ("Observation", "subject.name=peter", {"o1", "o4"}),  # Patient and Location both have name
    ("Observation", "patient.name=peter", {"o1"}),
    ("Observation", "subject:Patient.name=petra", {"o2"}),  # accent folding at the end of a chain
    ("Observation", "subject:Patient.family=chal", {"o1"}),
    ("Observation", "subject:Location.name=peter", {"o4"}),
    # modifiers and OR values on the final parameter
    ("Observation", "subject:Patient.name:exact=Peter", {"o1"}),
    ("Observation", "subject:Patient.name:exact=peter", set()),
    ("Observation", "subject:Patient.name:contains=ALME", {"o1"}),
    ("Observation", "subject:Patient.name=peter,petra", {"o1", "o2"}),
    ("Observation", "subject:Patient.name:missing=false", {"o1", "o2"}),
    ("Observation", "subject:Patient.birthdate=lt1980", {"o1"}),
    ("Observation", "subject:Patient.birthdate=1990,1974", {"o1", "o2"}),
    ("Observation", "subject:Patient.gender:not=male", {"o1", "o2"}),  # no gender: :not matches
    ("Observation", "subject:Patient.general-practitioner:Practitioner=pr1", {"o1"}),
    ("Observation", "subject:Patient.general-practitioner=Practitioner/pr2", {"o2"}),
    ("Observation", "subject:Patient._lastUpdated=gt2000", {"o1", "o2"}),
    # _id and identifier
    ("Observation", "subject:Patient._id=p1,p2", {"o1", "o2"}),
    ("Observation", "subject._id=loc1", {"o4"}),
    ("Observation", "subject:Patient._id=p3", set()),  # deleted target
    ("Observation", "subject:Patient.identifier=urn:sys|111", {"o1"}),
    ("Observation", "subject:Patient.identifier=111", {"o1"}),
    ("Observation", "subject:Patient.identifier=urn:other|111", set()),
    # AND with a plain parameter and with a second chain
    ("Observation", "code=1234-5&subject.name=peter", {"o1", "o4"}),
    ("Observation", "subject:Patient.name=peter&subject:Patient.birthdate=1990", set()),
    # multi-level chains
    ("Observation", "subject:Patient.general-practitioner.name=dubois", {"o1"}),
    ("Observation", "subject:Patient.general-practitioner:Practitioner.name=leroy", {"o2"}),
    ("Observation", "subject:Patient.general-practitioner:Organization.name=clinique", {"o2"}),
    ("Observation", "subject:Patient.general-practitioner.name=clinique,martin", {"o1", "o2"}),
    ("Observation", "subject.general-practitioner._id=pr2", {"o2"}),
    ("DiagnosticReport", "result.subject:Patient.general-practitioner.name=dubois", {"dr1"}),
    ("DiagnosticReport", "result.subject:Patient.general-practitioner.name=leroy", set()),
    # _has, single and nested, with OR values; deleted sources never count
    ("Patient", "_has:Observation:patient:code=1234-5", {"p1"}),
    ("Patient", "_has:Observation:patient:code=1234-5,9999-9", {"p1", "p2"}),
    ("Patient", f"_has:Observation:subject:code={LOINC}|9999-9", {"p2"}),
    ("Patient", "_has:Observation:patient:code=5555-5", set()),  # o5 deleted
    ("Patient", "_has:Observation:patient:code:not=1234-5", {"p2"}),
    ("Patient", "_has:Observation:patient:_id=o1,o2", {"p1", "p2"}),
    ("Patient", "_has:Observation:patient:_has:Provenance:target:agent=Practitioner/pr2", {"p2"}),
    ("Patient", "_has:Observation:patient:_has:Provenance:target:agent=Practitioner/pr1", set()),
    ("Practitioner", "_has:Patient:general-practitioner:name=peter", {"pr1"}),
    ("Practitioner", "_has:Patient:general-practitioner:_has:Observation:patient:code=9999-9", {"pr2"}),
    ("Location", "_has:Observation:subject:code=1234-5", {"loc1"}),
    # _has whose criterion is itself a chain, and a chain ending in _has
    ("Patient", "_has:Observation:patient:subject:Patient.general-practitioner.name=leroy", {"p2"}),
    ("Observation", "subject:Patient._has:Observation:patient:code=9999-9", {"o2"}),
    ("Patient", "_has:Observation:patient:code=1234-5&_has:Observation:patient:code=9999-9", set()),
]

# (type, query, text the diagnostics must contain)
ERRORS: list[tuple[str, str, str]] = [
    ("Observation", "subject.nonexistent=x", "subject.nonexistent"),
    ("Observation", "subject:Patientt.name=x", "subject:Patientt.name"),
    ("Observation", "subject:Practitioner.name=x", "subject:Practitioner.name"),
    ("Observation", "code.name=x", "code.name"),
    ("Observation", "subject:Patient.name:foo=x", "subject:Patient.name:foo"),
    ("Observation", "subject:Patient.birthdate=notadate", "subject:Patient.birthdate"),
    (
        "Observation",
        "subject:Patient.general-practitioner.nope=x",
        "subject:Patient.general-practitioner.nope",
    ),
    ("Observation", "subject.=x", "subject."),
    ("Observation", "subject._has:Observation:subject:code=x", "subject._has:Observation:subject:code"),
    ("Observation", "nope.name=x", "nope.name"),
    ("Patient", "_has:Observation:patient=x", "_has:Observation:patient"),
    ("Patient", "_has:Nope:patient:code=x", "_has:Nope:patient:code"),
    ("Patient", "_has:Observation:nope:code=x", "_has:Observation:nope:code"),
    ("Patient", "_has:Observation:code:code=x", "_has:Observation:code:code"),
    ("Patient", "_has:Observation:patient:nope=x", "_has:Observation:patient:nope"),
    ("Patient", "_has:Encounter:practitioner:status=x", "_has:Encounter:practitioner:status"),
    (
        "Observation",
        "subject:Patient" + ".link:Patient" * MAX_DEPTH + ".name=x",
        "subject:Patient" + ".link:Patient" * MAX_DEPTH + ".name",
    ),
    ("Patient", "_has:Patient:link:" * (MAX_DEPTH + 1) + "name=x", "_has:Patient:link:" * (MAX_DEPTH + 1)),
    ("Patient", "_has:Patient:link:" * MAX_DEPTH + "name=x", ""),  # at the limit: accepted
]


def _load(client: TestClient) -> None:
    put_all(client, RESOURCES)
    for ref in DELETED:
        assert client.delete(f"/fhir/{ref}").status_code in (200, 204)


def test_chains_and_has_table(client: TestClient) -> None:
    _load(client)
    mismatches = []
    for rtype, query, expected in SEARCHES:
        got = search_ids(client, f"{rtype}?{query}")
        if got != expected:
            mismatches.append((rtype, query, expected, got))
    assert mismatches == []


def test_chain_with_post_search_and_count(client: TestClient) -> None:
    _load(client)
    r = client.post(
        "/fhir/Observation/_search",
        data={"subject:Patient.name": "peter,petra"},
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    assert {e["resource"]["id"] for e in r.json()["entry"]} == {"o1", "o2"}
    r = client.get("/fhir/Patient?_has:Observation:patient:code=1234-5,9999-9&_summary=count")
    assert r.json()["total"] == 2


def test_chain_errors_are_400_naming_the_parameter(client: TestClient) -> None:
    _load(client)
    wrong = []
    for rtype, query, named in ERRORS:
        r = client.get(f"/fhir/{rtype}?{query}")
        body = r.json()
        diagnostics = " ".join(i.get("diagnostics", "") for i in body.get("issue", []))
        status = 400 if named else 200
        if r.status_code != status or (named and named not in diagnostics):
            wrong.append((rtype, query, r.status_code, diagnostics))
    assert wrong == []


# --- query plans -----------------------------------------------------------------------------

PLANNED: list[tuple[str, str]] = [
    ("Observation", "subject:Patient.name=abdul"),
    ("Observation", "subject.name=abdul"),
    ("Observation", "subject:Patient._id=p1"),
    ("Observation", "subject._id=p1"),
    ("Observation", "subject:Patient.identifier=urn:sys|1"),
    ("Observation", "subject:Patient.birthdate=1974"),
    ("Observation", "subject:Patient.gender:not=male"),
    ("Observation", "subject:Patient.general-practitioner.name=x"),
    ("DiagnosticReport", "result.subject:Patient.general-practitioner:Practitioner.name=x"),
    ("Patient", "_has:Observation:patient:code=1234-5"),
    ("Patient", "_has:Observation:patient:code:not=1234-5"),
    ("Patient", "_has:Encounter:patient:_has:Observation:encounter:code=1234-5"),
    ("Patient", "_has:Observation:patient:subject:Patient.name=x"),
    ("Observation", "subject:Patient._has:Observation:patient:code=1234-5"),
]


def _sqlite_schema() -> tuple[sqlite3.Connection, dict[tuple[str, str], int]]:
    conn = sqlite3.connect(":memory:")
    for migration in MIGRATIONS:
        for statement in migration["sqlite"]:
            conn.execute(statement)
    registry = default_registry()
    pids: dict[tuple[str, str], int] = {}
    for rtype in sorted(registry.resource_types()):
        for code in registry.params_for(rtype):
            pids[(rtype, code)] = len(pids) + 1
    return conn, pids


@pytest.mark.parametrize(("rtype", "query"), PLANNED)
def test_sqlite_plans_read_every_table_through_an_index(rtype: str, query: str) -> None:
    """No table scan anywhere in the plan, even without ANALYZE statistics (the default)."""
    conn, pids = _sqlite_schema()
    parts = compile_criteria(rtype, parse_qsl(query), pids, UTC)
    where = " AND ".join(f"({p.clause})" for p in parts)
    args = [a for p in parts for a in p.args]
    sql = f"SELECT r.rk FROM resource r WHERE r.type = ? AND r.deleted = 0 AND {where}"
    plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", [rtype, *args])]
    assert plan
    assert [step for step in plan if step.startswith("SCAN")] == []
    searches = {step.split()[1]: step for step in plan if step.startswith("SEARCH")}
    links = [alias for alias in searches if alias[0] in "ih" and alias[1:].isdigit()]
    assert links
    for alias in links:  # reference rows are reached from their target or source, never by pid alone
        assert "target_id=?" in searches[alias] or "rk=?" in searches[alias], searches[alias]
    if ":not=" not in query:  # linked resources are read by key or (type, id), not a type scan
        for alias, step in searches.items():
            if alias[0] in "ts" and alias[1:].isdigit():
                assert not step.endswith("(type=?)"), step
