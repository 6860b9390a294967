"""Repeated date criteria: tested on one row when the parameter is single-valued, never wrongly.

R4 search.html: repeated parameters are ANDed per resource. For a parameter with at most one value
per resource (Observation.date = Observation.effective) the same row must satisfy both, which the
server exploits; for a multi-valued one (Goal.target-date) two different values may satisfy them.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from hygie.search.cardinality import single_valued

H = {"content-type": "application/fhir+json"}


def ids(client: TestClient, query: str) -> set[str]:
    """Matches of ``query``; the lenient path (which never merges criteria) must agree."""
    found = []
    for headers in ({}, {"prefer": "handling=lenient"}):
        r = client.get(f"/fhir/{query}", headers=headers)
        assert r.status_code == 200, r.text
        found.append(
            {e["resource"]["id"] for e in r.json().get("entry", []) if e["search"]["mode"] == "match"}
        )
    assert found[0] == found[1]
    return found[0]


def put(client: TestClient, resource: dict[str, Any]) -> None:
    r = client.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=H)
    assert r.status_code in (200, 201), r.text


def test_windows(client: TestClient) -> None:
    for oid, when in (
        ("o1", "2024-01-10T10:00:00Z"),
        ("o2", "2024-02-10T10:00:00Z"),
        ("o3", "2023-12-31T23:00:00Z"),
    ):
        put(
            client,
            {
                "resourceType": "Observation",
                "id": oid,
                "status": "final",
                "code": {"text": "x"},
                "effectiveDateTime": when,
            },
        )
    put(
        client,
        {
            "resourceType": "Observation",
            "id": "o4",
            "status": "final",
            "code": {"text": "x"},
            "effectivePeriod": {"start": "2023-12-20", "end": "2024-01-05"},
        },
    )
    # o4's period reaches past 2024-01-01: "the range above the value intersects the target" (ge)
    assert ids(client, "Observation?date=ge2024-01-01T00:00:00Z&date=lt2024-02-01T00:00:00Z") == {"o1", "o4"}
    assert ids(client, "Observation?date=ge2024-01-01T00:00:00Z&date=lt2024-03-01T00:00:00Z") == {
        "o1",
        "o2",
        "o4",
    }
    # o3 (2023-12-31T23:00Z) is already 2024-01-01 in the server's zone (Europe/Paris)
    assert ids(client, "Observation?date=sa2023-12-31&date=eb2024-02-01") == {"o1", "o3"}
    assert ids(client, "Observation?date=gt2023-12-15&date=lt2024-01-31T00:00:00Z") == {"o1", "o3", "o4"}
    assert ids(
        client, "Observation?date=ge2024-01-01T00:00:00Z,ge2023-12-31T00:00:00Z&date=le2023-12-31T23:59:59Z"
    ) == {"o3", "o4"}
    # Goal.target-date is multi-valued: two different targets may satisfy the two criteria
    put(
        client,
        {
            "resourceType": "Goal",
            "id": "g1",
            "lifecycleStatus": "active",
            "description": {"text": "x"},
            "subject": {"reference": "Patient/p"},
            "target": [{"dueDate": "2018-06-01"}, {"dueDate": "2021-06-01"}],
        },
    )
    assert ids(client, "Goal?target-date=ge2020-01-01&target-date=lt2019-01-01") == {"g1"}
    assert client.get("/fhir/Observation?date=ge2024&date=ltsoon").status_code == 400


@pytest.mark.parametrize(
    ("rtype", "expression", "single"),
    [
        ("Observation", "Observation.effective", True),
        ("Encounter", "Encounter.period", True),
        ("Patient", "Patient.birthDate", True),
        ("Goal", "Goal.target.due", False),
        ("Patient", "Patient.name", False),
        ("Condition", "Condition.onset.as(dateTime) | Condition.onset.as(Period)", False),
        ("Observation", "Patient.birthDate", False),
        ("Observation", None, False),
    ],
)
def test_single_valued(rtype: str, expression: str | None, single: bool) -> None:
    assert single_valued(rtype, expression) is single


@pytest.mark.parametrize(
    "url",
    [
        "/fhir/Observation?date=2020-01-01T00:00:00%2B25:00",
        "/fhir/Observation?date=ge2020-01-01T00:00:00%2B14:30",  # FHIR offsets stop at 14:00
        "/fhir/Observation?_lastUpdated=gt2020-01-01T00:00:00-00:99",
        "/fhir/_history?_since=2020-01-01T00:00:00%2B25:00",
        "/fhir/Patient/_history?_since=2020-01-01T00:00:00%2B24:00",
    ],
)
def test_a_utc_offset_outside_fhir_is_a_400(client: TestClient, url: str) -> None:
    """https://hl7.org/fhir/R4/datatypes.html#dateTime: ``(0[0-9]|1[0-3]):[0-5][0-9]|14:00``."""
    answer = client.get(url)
    assert answer.status_code == 400, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"
