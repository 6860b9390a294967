"""``_sort``, ``_include`` and ``_revinclude`` on both backends.

Spec: https://hl7.org/fhir/R4/search.html#sort and https://hl7.org/fhir/R4/search.html#include
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from starlette.testclient import TestClient

from hygie.api.context import open_storage
from hygie.search.include import Include, parse_includes, resolve
from hygie.settings import Settings

H = {"content-type": "application/fhir+json"}


def put(client: TestClient, resource: dict[str, Any]) -> None:
    r = client.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=H)
    assert r.status_code in (200, 201), r.text


def get(client: TestClient, url: str) -> dict[str, Any]:
    r = client.get(url)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    ]


def link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((lk["url"] for lk in bundle["link"] if lk["relation"] == relation), None)


def linked(rid: str, other: str) -> dict[str, Any]:
    """A Patient whose ``link`` (search parameter ``link``) points at Patient ``other``."""
    return {
        "resourceType": "Patient",
        "id": rid,
        "link": [{"other": {"reference": f"Patient/{other}"}, "type": "seealso"}],
    }


# --- _sort ---------------------------------------------------------------------------------------


def patients(client: TestClient) -> None:
    """p4 has no name, p3 no birth date; p5 has two family names (Bravo, Yankee)."""
    rows = [
        ("p1", [{"family": "Zoë"}], "1990", "female"),
        ("p2", [{"family": "adam"}], "1970-05-01", "male"),
        ("p3", [{"family": "Émile"}], None, "male"),
        ("p4", None, "1985", "unknown"),
        ("p5", [{"family": "Bravo"}, {"family": "Yankee"}], "1990-06", "female"),
    ]
    for rid, names, birth, gender in rows:
        body: dict[str, Any] = {"resourceType": "Patient", "id": rid, "gender": gender}
        if names:
            body["name"] = names
        if birth:
            body["birthDate"] = birth
        put(client, body)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("family", ["p2", "p5", "p3", "p1", "p4"]),  # folded: adam bravo emile zoe, none last
        ("-family", ["p1", "p5", "p3", "p2", "p4"]),  # highest of p5 is yankee
        ("birthdate", ["p2", "p4", "p1", "p5", "p3"]),  # by start of range
        ("-birthdate", ["p1", "p5", "p4", "p2", "p3"]),  # by end: 1990 ends after 1990-06
        ("gender,-family", ["p1", "p5", "p3", "p2", "p4"]),  # token then string, multi-key
        ("-gender,family", ["p4", "p2", "p3", "p5", "p1"]),
        ("_id", ["p1", "p2", "p3", "p4", "p5"]),
        ("-_id", ["p5", "p4", "p3", "p2", "p1"]),
        ("-family,_id", ["p1", "p5", "p3", "p2", "p4"]),
    ],
)
def test_sort_patients(client: TestClient, sort: str, expected: list[str]) -> None:
    patients(client)
    bundle = get(client, f"/fhir/Patient?_sort={sort}")
    assert ids(bundle) == [f"Patient/{i}" for i in expected]
    assert bundle["total"] == 5


def test_sort_number_quantity_and_reference(client: TestClient) -> None:
    for rid, probability in (("r1", 0.5), ("r2", 0.05), ("r3", None), ("r4", 0.9)):
        body: dict[str, Any] = {
            "resourceType": "RiskAssessment",
            "id": rid,
            "status": "final",
            "subject": {"reference": f"Patient/s{5 - int(rid[1])}"},
        }
        if probability is not None:
            body["prediction"] = [{"probabilityDecimal": probability}]
        put(client, body)
    assert ids(get(client, "/fhir/RiskAssessment?_sort=probability")) == [
        "RiskAssessment/r2",
        "RiskAssessment/r1",
        "RiskAssessment/r4",
        "RiskAssessment/r3",
    ]
    assert ids(get(client, "/fhir/RiskAssessment?_sort=-probability"))[:3] == [
        "RiskAssessment/r4",
        "RiskAssessment/r1",
        "RiskAssessment/r2",
    ]
    by_subject = ids(get(client, "/fhir/RiskAssessment?_sort=subject"))
    assert by_subject == ["RiskAssessment/r4", "RiskAssessment/r3", "RiskAssessment/r2", "RiskAssessment/r1"]
    for rid, value in (("o1", 120), ("o2", 80.5), ("o3", 100)):
        put(
            client,
            {
                "resourceType": "Observation",
                "id": rid,
                "status": "final",
                "code": {"text": "x"},
                "valueQuantity": {"value": value, "unit": "mm[Hg]"},
            },
        )
    assert ids(get(client, "/fhir/Observation?_sort=-value-quantity")) == [
        "Observation/o1",
        "Observation/o3",
        "Observation/o2",
    ]


def test_sort_last_updated(client: TestClient) -> None:
    for rid in ("a", "b", "c"):
        put(client, {"resourceType": "Patient", "id": rid})
        time.sleep(0.003)
    put(client, {"resourceType": "Patient", "id": "a", "active": True})  # a is now the latest
    assert ids(get(client, "/fhir/Patient?_sort=_lastUpdated")) == ["Patient/b", "Patient/c", "Patient/a"]
    assert ids(get(client, "/fhir/Patient?_sort=-_lastUpdated")) == ["Patient/a", "Patient/c", "Patient/b"]


def test_sort_is_stable_across_pages(client: TestClient) -> None:
    for i in range(7):
        put(client, {"resourceType": "Patient", "id": f"x{i}", "gender": "other" if i % 2 else "male"})
    full = ids(get(client, "/fhir/Patient?_sort=-gender&_count=50"))
    url: str | None = "/fhir/Patient?_sort=-gender&_count=2"
    paged: list[str] = []
    while url is not None:
        bundle = get(client, url)
        assert bundle["total"] == 7
        paged += ids(bundle)
        url = link(bundle, "next")
        if url is not None:
            assert ("_sort", "-gender") in parse_qsl(urlsplit(url).query)
            url = "/fhir" + url.split("/fhir", 1)[1]
    assert paged == full
    assert len(set(paged)) == 7
    assert full[:3] == ["Patient/x1", "Patient/x3", "Patient/x5"]  # other > male, then by insertion


@pytest.mark.parametrize(
    "sort",
    ["nonsense", "-", "family:exact", "name,,birthdate", "code-value-quantity", "_text", "-_content"],
)
def test_sort_unknown_or_unsortable_is_400(client: TestClient, sort: str) -> None:
    r = client.get(f"/fhir/Patient?_sort={sort}")
    assert r.status_code == 400
    assert client.get(f"/fhir/Observation?_sort={sort}").status_code == 400
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert "_sort" in body["issue"][0]["diagnostics"]


# --- _include / _revinclude ----------------------------------------------------------------------


def clinic(client: TestClient) -> None:
    """Organization o1 ← Patient pa (GP pr1) ← Encounter e1 ← Observation ob1; pb links to pa."""
    put(client, {"resourceType": "Organization", "id": "o1", "name": "CHU"})
    put(client, {"resourceType": "Practitioner", "id": "pr1"})
    put(
        client,
        {
            "resourceType": "Patient",
            "id": "pa",
            "managingOrganization": {"reference": "Organization/o1"},
            "generalPractitioner": [{"reference": "Practitioner/pr1"}],
        },
    )
    put(client, linked("pb", "pa"))
    put(client, {"resourceType": "Patient", "id": "gone"})
    put(
        client,
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/pa"},
        },
    )
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    put(
        client,
        {
            **obs,
            "id": "ob1",
            "subject": {"reference": "Patient/pa"},
            "encounter": {"reference": "Encounter/e1"},
        },
    )
    put(client, {**obs, "id": "ob2", "subject": {"reference": "Patient/pa"}})
    put(client, {**obs, "id": "ob3", "subject": {"reference": "Patient/gone"}})
    put(client, {**obs, "id": "ob4", "subject": {"reference": "Patient/pa"}})
    assert client.delete("/fhir/Patient/gone").status_code in (200, 204)
    assert client.delete("/fhir/Observation/ob4").status_code in (200, 204)


@pytest.mark.parametrize(
    ("query", "matches", "included"),
    [
        ("Observation?_id=ob1&_include=Observation:subject", ["Observation/ob1"], ["Patient/pa"]),
        ("Observation?_id=ob1&_include=Observation:subject:Patient", ["Observation/ob1"], ["Patient/pa"]),
        ("Observation?_id=ob1&_include=Observation:subject:Group", ["Observation/ob1"], []),
        ("Observation?_id=ob1&_include=*", ["Observation/ob1"], ["Patient/pa", "Encounter/e1"]),
        ("Observation?_id=ob1&_include=Observation:*", ["Observation/ob1"], ["Patient/pa", "Encounter/e1"]),
        # iterate chain Observation → Encounter → Patient → Organization (and :recurse synonym)
        (
            "Observation?_id=ob1&_include=Observation:encounter&_include:iterate=Encounter:subject"
            "&_include:recurse=Patient:organization",
            ["Observation/ob1"],
            ["Encounter/e1", "Patient/pa", "Organization/o1"],
        ),
        (
            "Observation?_id=ob1&_include:iterate=*",
            ["Observation/ob1"],
            ["Patient/pa", "Encounter/e1", "Organization/o1", "Practitioner/pr1"],
        ),
        # without :iterate the second hop is not followed from included resources
        (
            "Observation?_id=ob1&_include=Observation:encounter&_include=Observation:subject",
            ["Observation/ob1"],
            ["Patient/pa", "Encounter/e1"],
        ),
        # two matches pointing at the same patient: included once
        (
            "Observation?_id=ob1,ob2&_include=Observation:subject",
            ["Observation/ob1", "Observation/ob2"],
            ["Patient/pa"],
        ),
        # a match that is also a target stays a match only
        ("Patient?_id=pa,pb&_include=Patient:link", ["Patient/pa", "Patient/pb"], []),
        # deleted target: not included
        ("Observation?_id=ob3&_include=Observation:subject", ["Observation/ob3"], []),
        # revinclude (deleted ob4 left out)
        (
            "Patient?_id=pa&_revinclude=Observation:subject",
            ["Patient/pa"],
            ["Observation/ob1", "Observation/ob2"],
        ),
        (
            "Patient?_id=pa&_revinclude=Observation:subject:Patient",
            ["Patient/pa"],
            ["Observation/ob1", "Observation/ob2"],
        ),
        (
            "Patient?_id=pa&_revinclude=*",
            ["Patient/pa"],
            ["Patient/pb", "Encounter/e1", "Observation/ob1", "Observation/ob2"],
        ),
        ("Patient?_id=pa&_revinclude=Encounter:*", ["Patient/pa"], ["Encounter/e1"]),
        ("Organization?_revinclude=*", ["Organization/o1"], ["Patient/pa"]),
        # revinclude then iterate forward: the encounters of the observations of pa
        (
            "Patient?_id=pa&_revinclude=Observation:subject&_include:iterate=Observation:encounter",
            ["Patient/pa"],
            ["Observation/ob1", "Observation/ob2", "Encounter/e1"],
        ),
        # iterate revinclude: observations of the encounters of the organization's patients
        (
            "Organization?_revinclude=Patient:organization&_revinclude:iterate=Encounter:subject"
            "&_revinclude:iterate=Observation:encounter",
            ["Organization/o1"],
            ["Patient/pa", "Encounter/e1", "Observation/ob1"],
        ),
        (
            "Patient?_id=pa&_include=Patient:general-practitioner:Practitioner&_include=Patient:organization",
            ["Patient/pa"],
            ["Organization/o1", "Practitioner/pr1"],
        ),
    ],
)
def test_include_revinclude(client: TestClient, query: str, matches: list[str], included: list[str]) -> None:
    clinic(client)
    bundle = get(client, f"/fhir/{query}")
    assert ids(bundle) == matches
    assert sorted(ids(bundle, "include")) == sorted(included)
    assert bundle["total"] == len(matches)
    every = [e["fullUrl"] for e in bundle.get("entry", [])]
    assert len(every) == len(set(every))
    assert not ids(bundle, "outcome")


def test_include_not_counted_in_count_and_links_keep_it(client: TestClient) -> None:
    clinic(client)
    bundle = get(
        client,
        "/fhir/Observation?subject=Patient/pa&_count=1&_sort=-_id"
        "&_include=Observation:subject&_revinclude=Provenance:target",
    )
    assert bundle["total"] == 2
    assert ids(bundle) == ["Observation/ob2"]
    assert ids(bundle, "include") == ["Patient/pa"]
    for relation in ("self", "next"):
        url = link(bundle, relation)
        assert url is not None
        params = parse_qsl(urlsplit(url).query)
        assert ("_include", "Observation:subject") in params
        assert ("_revinclude", "Provenance:target") in params
        assert ("_sort", "-_id") in params
    nxt = link(bundle, "next")
    assert nxt is not None
    page2 = get(client, "/fhir" + nxt.split("/fhir", 1)[1])
    assert ids(page2) == ["Observation/ob1"]
    assert ids(page2, "include") == ["Patient/pa"]
    assert link(page2, "previous") is not None
    assert "_include" in str(link(page2, "previous"))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("_include", "Observation"),
        ("_include", "Observation:"),
        ("_include", "Nope:subject"),
        ("_include", "Observation:nope"),
        ("_include", "Observation:code"),  # a token parameter
        ("_include", "Observation:subject:Nope"),
        ("_include", "Observation:subject:Encounter"),  # not a target of subject
        ("_include", "Encounter:subject"),  # not an Observation parameter, no :iterate
        ("_include", "Observation:subject,Observation:encounter"),
        ("_include", "Observation:*:Patient"),
        ("_include:nope", "Observation:subject"),
        ("_include", "Observation:subject:Patient:x"),
        ("_revinclude", "Observation:nope"),
        ("_revinclude:bad", "*"),
    ],
)
def test_bad_include_is_400(client: TestClient, name: str, value: str) -> None:
    r = client.get("/fhir/Observation", params={name: value})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert name in body["issue"][0]["diagnostics"]


def test_bad_revinclude_target_is_400(client: TestClient) -> None:
    r = client.get("/fhir/Patient", params={"_revinclude": "Observation:subject:Group"})
    assert r.status_code == 400
    assert "_revinclude" in r.json()["issue"][0]["diagnostics"]
    r = client.get("/fhir/Patient", params={"_revinclude": "Observation:specimen"})
    assert r.status_code == 400


def test_include_cap_and_depth(client: TestClient, database_url: str) -> None:
    """The cap cuts the included list (the Bundle then warns); :iterate stops after its levels."""
    clinic(client)
    put(client, linked("pc", "pb"))
    put(client, linked("pd", "pc"))
    put(client, linked("pe", "pd"))
    put(client, linked("pf", "pe"))
    db, pids = open_storage(Settings(database_url=database_url))
    try:

        def run(query: list[tuple[str, str]], limit: int) -> tuple[list[str], bool]:
            def work(session: Any) -> tuple[list[str], bool]:
                row = session.one("SELECT rk FROM resource WHERE type = 'Patient' AND id = 'pa'")
                specs: list[Include] = parse_includes("Patient", query, pids)
                found = resolve([(row[0], "Patient", "pa")], specs, pids, session.all, limit)
                names = {rk: f"{t}/{i}" for rk, t, i in session.all("SELECT rk, type, id FROM resource")}
                return [names[rk] for rk in found.rks], found.truncated

            return db.run_sync(work, write=False)

        full, truncated = run([("_revinclude", "*")], 1000)
        assert sorted(full) == ["Encounter/e1", "Observation/ob1", "Observation/ob2", "Patient/pb"]
        assert not truncated
        capped, truncated = run([("_revinclude", "*")], 2)
        assert len(capped) == 2
        assert set(capped) <= set(full)
        assert truncated
        # pb → pa, pc → pb, …: level 0 + 3 iterate levels reach pe, not pf
        chain, truncated = run([("_revinclude:iterate", "Patient:link")], 1000)
        assert chain == ["Patient/pb", "Patient/pc", "Patient/pd", "Patient/pe"]
        assert not truncated
    finally:
        db.close()
