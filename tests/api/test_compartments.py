"""Compartment search and ``Patient/$everything`` on both backends.

Specs: https://hl7.org/fhir/R4/search.html#compartment,
https://hl7.org/fhir/R4/compartmentdefinition-patient.html,
https://hl7.org/fhir/R4/patient-operation-everything.html
"""

from __future__ import annotations

import time
from typing import Any

from starlette.testclient import TestClient

from tests.api.support import put_all

H = {"content-type": "application/fhir+json"}


def get(client: TestClient, url: str) -> dict[str, Any]:
    r = client.get(url)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def ids(bundle: dict[str, Any], mode: str = "match") -> set[str]:
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    }


def link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((lk["url"] for lk in bundle["link"] if lk["relation"] == relation), None)


def obs(rid: str, code: str, subject: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": subject},
        **extra,
    }


def patient(rid: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": rid, **extra}


def small_world(client: TestClient) -> None:
    """p1, p2; o1/o2 about p1, o3 about p2, o4 about p2 but performed by p1; e1 an encounter of p1."""
    put_all(
        client,
        [
            patient("p1"),
            patient("p2"),
            patient("p3", link=[{"other": {"reference": "Patient/p1"}, "type": "seealso"}]),
            {"resourceType": "Practitioner", "id": "pr1"},
            {"resourceType": "Organization", "id": "org1"},
            {
                "resourceType": "Encounter",
                "id": "e1",
                "status": "finished",
                "class": {"code": "AMB"},
                "subject": {"reference": "Patient/p1"},
            },
            obs("o1", "8867-4", "Patient/p1", encounter={"reference": "Encounter/e1"}),
            obs("o2", "8310-5", "Patient/p1"),
            obs("o3", "8867-4", "Patient/p2"),
            obs("o4", "8867-4", "Patient/p2", performer=[{"reference": "Patient/p1"}]),
            obs("o5", "8867-4", "Patient/p2", performer=[{"reference": "Practitioner/pr1"}]),
        ],
    )


# --- compartment search --------------------------------------------------------------------------


def test_compartment_search_with_criteria_and_or_across_params(client: TestClient) -> None:
    small_world(client)
    # Observation is in the Patient compartment through subject OR performer.
    assert ids(get(client, "/fhir/Patient/p1/Observation")) == {
        "Observation/o1",
        "Observation/o2",
        "Observation/o4",
    }
    assert ids(get(client, "/fhir/Patient/p1/Observation?code=8867-4")) == {
        "Observation/o1",
        "Observation/o4",
    }
    assert ids(get(client, "/fhir/Patient/p2/Observation?code=8867-4")) == {
        "Observation/o3",
        "Observation/o4",
        "Observation/o5",
    }
    bundle = get(client, "/fhir/Patient/p1/Observation?code=8310-5")
    assert ids(bundle) == {"Observation/o2"}
    assert bundle["total"] == 1
    assert link(bundle, "self") == "http://testserver/fhir/Patient/p1/Observation?code=8310-5"
    assert get(client, "/fhir/Patient/p1/Observation?_summary=count")["total"] == 3
    assert ids(get(client, "/fhir/Patient/nobody/Observation")) == set()


def test_compartment_search_excludes_deleted_members(client: TestClient) -> None:
    small_world(client)
    assert client.delete("/fhir/Observation/o1").status_code in (200, 204)
    assert ids(get(client, "/fhir/Patient/p1/Observation")) == {"Observation/o2", "Observation/o4"}
    # o4 no longer names p1 as performer: it leaves p1's compartment.
    put_all(client, [obs("o4", "8867-4", "Patient/p2")])
    assert ids(get(client, "/fhir/Patient/p1/Observation")) == {"Observation/o2"}


def test_compartment_search_paging_include_and_post(client: TestClient) -> None:
    small_world(client)
    first = get(client, "/fhir/Patient/p1/Observation?_count=2&_sort=_id&_include=Observation:encounter")
    assert first["total"] == 3
    assert ids(first) == {"Observation/o1", "Observation/o2"}
    assert ids(first, "include") == {"Encounter/e1"}
    nxt = link(first, "next")
    assert nxt is not None and nxt.startswith("http://testserver/fhir/Patient/p1/Observation?")
    assert ids(get(client, nxt)) == {"Observation/o4"}
    r = client.post(
        "/fhir/Patient/p1/Observation/_search",
        content="code=8867-4",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text
    assert ids(r.json()) == {"Observation/o1", "Observation/o4"}


def test_compartment_resource_itself_and_other_compartments(client: TestClient) -> None:
    small_world(client)
    # The patient itself, and p3 whose link points at p1 (Patient compartment: link).
    assert ids(get(client, "/fhir/Patient/p1/Patient")) == {"Patient/p1", "Patient/p3"}
    assert ids(get(client, "/fhir/Patient/p2/Patient")) == {"Patient/p2"}
    assert ids(get(client, "/fhir/Encounter/e1/Observation")) == {"Observation/o1"}
    assert ids(get(client, "/fhir/Practitioner/pr1/Observation")) == {"Observation/o5"}
    assert ids(get(client, "/fhir/Practitioner/pr1/Practitioner")) == {"Practitioner/pr1"}


def test_compartment_errors(client: TestClient) -> None:
    small_world(client)
    r = client.get("/fhir/Patient/p1/Organization")  # never in a Patient compartment
    assert r.status_code == 400
    assert r.json()["resourceType"] == "OperationOutcome"
    assert client.get("/fhir/Observation/o1/Patient").status_code == 404  # not a compartment
    assert client.get("/fhir/Patient/p1/Nope").status_code == 404
    assert client.get("/fhir/Patient/p1/Observation?nope=1").status_code == 400
    assert (
        client.post("/fhir/Patient/p1/Observation", json=obs("x", "1", "Patient/p1"), headers=H).status_code
        == 405
    )
    assert client.get("/fhir/Patient/p1/*?_sort=_id").status_code == 400


def test_compartment_all_types(client: TestClient) -> None:
    small_world(client)
    everything = {
        "Patient/p1",
        "Patient/p3",
        "Encounter/e1",
        "Observation/o1",
        "Observation/o2",
        "Observation/o4",
    }
    bundle = get(client, "/fhir/Patient/p1/*")
    assert ids(bundle) == everything
    assert bundle["total"] == 6
    assert ids(get(client, "/fhir/Patient/p1/*?_type=Observation,Encounter")) == everything - {
        "Patient/p1",
        "Patient/p3",
    }
    assert ids(get(client, "/fhir/Patient/p1/*?_id=o2,e1,o3")) == {"Observation/o2", "Encounter/e1"}
    seen: list[str] = []
    url: str | None = "/fhir/Patient/p1/*?_count=4"
    while url is not None:
        page = get(client, url)
        seen.extend(f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in page.get("entry", []))
        url = link(page, "next")
    assert sorted(seen) == sorted(everything)
    assert client.get("/fhir/Patient/p1/*?_type=Nope").status_code == 400


# --- $everything ---------------------------------------------------------------------------------


def record(client: TestClient) -> set[str]:
    """Patient p1 with ~30 resources of its own, supporting resources, and p2's unrelated ones."""
    resources: list[dict[str, Any]] = [
        patient("p1", generalPractitioner=[{"reference": "Practitioner/gp"}]),
        patient("p2"),
        {"resourceType": "Practitioner", "id": "gp"},
        {"resourceType": "Practitioner", "id": "unrelated"},
        {"resourceType": "Organization", "id": "hosp"},
        {"resourceType": "Organization", "id": "other-org"},
        {"resourceType": "Medication", "id": "med"},
    ]
    for i in range(12):
        resources.append(obs(f"o{i}", "8867-4", "Patient/p1", performer=[{"reference": "Practitioner/gp"}]))
    for i in range(8):
        resources.append(
            {
                "resourceType": "Encounter",
                "id": f"e{i}",
                "status": "finished",
                "class": {"code": "AMB"},
                "subject": {"reference": "Patient/p1"},
                "serviceProvider": {"reference": "Organization/hosp"},
            }
        )
    for i in range(6):
        resources.append(
            {
                "resourceType": "MedicationRequest",
                "id": f"mr{i}",
                "status": "active",
                "intent": "order",
                "subject": {"reference": "Patient/p1"},
                "medicationReference": {"reference": "Medication/med"},
            }
        )
    for i in range(4):
        resources.append(
            {
                "resourceType": "Condition",
                "id": f"c{i}",
                "subject": {"reference": "Patient/p1"},
                "code": {"text": "x"},
            }
        )
    resources += [obs("other1", "8867-4", "Patient/p2"), obs("other2", "8310-5", "Patient/p2")]
    put_all(client, resources)
    excluded = {
        "Patient/p2",
        "Practitioner/unrelated",
        "Organization/other-org",
        "Observation/other1",
        "Observation/other2",
    }
    return {f"{r['resourceType']}/{r['id']}" for r in resources} - excluded


def walk(client: TestClient, url: str) -> tuple[list[str], list[int]]:
    """Follow ``next`` links; every entry seen, in order, and the ``total`` of each page."""
    seen: list[str] = []
    totals: list[int] = []
    next_url: str | None = url
    while next_url is not None:
        page = get(client, next_url)
        assert page["type"] == "searchset"
        totals.append(page["total"])
        seen.extend(f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in page.get("entry", []))
        next_url = link(page, "next")
        assert len(totals) < 50
    return seen, totals


def test_everything_pages_without_duplicates(client: TestClient) -> None:
    expected = record(client)
    assert len(expected) == 34
    seen, totals = walk(client, "/fhir/Patient/p1/$everything?_count=4")
    assert len(seen) == len(set(seen))  # Medication/med is referenced 6 times, returned once
    assert set(seen) == expected
    assert totals == [34] * 9
    whole = get(client, "/fhir/Patient/p1/$everything")
    assert ids(whole) == expected
    assert whole["total"] == 34


def test_everything_type_and_since(client: TestClient) -> None:
    expected = record(client)
    seen, _ = walk(client, "/fhir/Patient/p1/$everything?_type=Observation,Medication&_count=5")
    assert set(seen) == {x for x in expected if x.startswith(("Observation/", "Medication/"))}
    assert len(seen) == 13
    seen, _ = walk(client, "/fhir/Patient/p1/$everything?_type=Patient&_type=Organization")
    assert set(seen) == {"Patient/p1", "Organization/hosp"}
    time.sleep(0.01)
    put_all(client, [obs("late", "8867-4", "Patient/p1")])
    late = client.get("/fhir/Observation/late").json()["meta"]["lastUpdated"]
    put_all(client, [obs("o3", "8867-4", "Patient/p1", note=[{"text": "amended"}])])
    r = client.get("/fhir/Patient/p1/$everything", params={"_since": late, "_count": "1"})
    seen, totals = walk(client, str(r.url))
    assert sorted(seen) == ["Observation/late", "Observation/o3"]
    assert totals == [2, 2]


def test_everything_post_and_errors(client: TestClient) -> None:
    expected = record(client)
    params = {
        "resourceType": "Parameters",
        "parameter": [{"name": "_type", "valueCode": "Condition"}, {"name": "_count", "valueInteger": 3}],
    }
    r = client.post("/fhir/Patient/p1/$everything", json=params, headers=H)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 4 and len(page["entry"]) == 3
    seen, _ = walk(client, link(page, "next") or "")
    assert len(seen) == 1
    assert {e["resource"]["id"] for e in page["entry"]} | {seen[0].split("/")[1]} == {
        x.split("/")[1] for x in expected if x.startswith("Condition/")
    }
    assert client.get("/fhir/Patient/nobody/$everything").status_code == 404
    assert client.delete("/fhir/Patient/p2").status_code in (200, 204)
    assert client.get("/fhir/Patient/p2/$everything").status_code == 410
    assert client.get("/fhir/Patient/$everything").status_code == 400
    assert client.get("/fhir/Patient/p1/$everything?start=2020").status_code == 400
    assert client.get("/fhir/Patient/p1/$everything?code=1").status_code == 400
    assert client.get("/fhir/Patient/p1/$everything?_since=yesterday").status_code == 400
    assert client.get("/fhir/Patient/p1/$everything?_cursor=x").status_code == 400
    assert client.post("/fhir/Patient/p1/$everything", json=patient("p1"), headers=H).status_code == 400


def test_capabilities_declare_everything_and_compartments(client: TestClient) -> None:
    statement = get(client, "/fhir/metadata")
    rest = statement["rest"][0]
    assert "http://hl7.org/fhir/CompartmentDefinition/relatedPerson" in rest["compartment"]
    patient_ops = next(r for r in rest["resource"] if r["type"] == "Patient")["operation"]
    assert {
        "name": "everything",
        "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
    } in (patient_ops)
