"""Empty search values, one rule for every parameter type (documented in docs/search.md).

A criterion with an empty value (``gender=``) asks for nothing: it is ignored, like an empty
``_sort=`` or ``_include=``, and the ``self`` link leaves it out. An empty alternative inside a
list (``gender=male,``) is ambiguous: 400 naming the parameter (strict), dropped with a warning
under ``Prefer: handling=lenient``.
"""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.api.support import put_all, search_ids

EVERYONE = {"a", "b", "c"}


@pytest.fixture
def data(client: TestClient) -> TestClient:
    put_all(
        client,
        [
            {
                "resourceType": "Patient",
                "id": "a",
                "gender": "male",
                "birthDate": "1970-01-01",
                "name": [{"family": "Alpha"}],
            },
            {
                "resourceType": "Patient",
                "id": "b",
                "gender": "female",
                "name": [{"family": "Beta"}],
                "generalPractitioner": [{"reference": "Practitioner/gp"}],
            },
            {"resourceType": "Patient", "id": "c"},
            {"resourceType": "Practitioner", "id": "gp", "name": [{"family": "Martin"}]},
        ],
    )
    return client


@pytest.mark.parametrize(
    "criterion",
    [
        "name=",  # string
        "gender=",  # token
        "birthdate=",  # date
        "general-practitioner=",  # reference
        "general-practitioner.name=",  # chain
        "_has:Observation:subject:code=",  # reverse chain
        "name:missing=",  # modifier with no value
        "_id=",
        "_lastUpdated=",
        "_text=",
    ],
)
def test_empty_value_is_ignored(data: TestClient, criterion: str) -> None:
    assert search_ids(data, f"Patient?{criterion}") == EVERYONE
    assert search_ids(data, f"Patient?{criterion}&gender=female") == {"b"}
    self_link = data.get(f"/fhir/Patient?{criterion}").json()["link"][0]
    assert self_link["relation"] == "self"
    assert criterion not in self_link["url"]


@pytest.mark.parametrize("criterion", ["gender=male,", "gender=,male", "name=alpha,,beta", "_id=a,"])
def test_empty_alternative_is_400_naming_the_parameter(data: TestClient, criterion: str) -> None:
    r = data.get(f"/fhir/Patient?{criterion}")
    assert r.status_code == 400
    name = criterion.split("=", maxsplit=1)[0]
    assert name in r.json()["issue"][0]["diagnostics"]


def test_empty_alternative_is_dropped_when_lenient(data: TestClient) -> None:
    r = data.get("/fhir/Patient?gender=male,&name=beta", headers={"Prefer": "handling=lenient"})
    assert r.status_code == 200
    bundle = r.json()
    assert {e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"} == {"b"}
    assert any(e["search"]["mode"] == "outcome" for e in bundle["entry"])


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("_contained=false", 200),
        ("_containedType=container", 200),
        ("_contained=true", 400),
        ("_contained=both", 400),
        ("_containedType=contained", 400),
        ("_contained=maybe", 400),
    ],
)
def test_contained_search_is_refused_not_ignored(data: TestClient, query: str, status: int) -> None:
    """https://hl7.org/fhir/R4/search.html#contained: searching inside contained resources is not
    supported; only the defaults are accepted (never silently ignored)."""
    r = data.get(f"/fhir/Patient?{query}")
    assert r.status_code == status, r.text
    if status == 400:
        assert query.split("=", maxsplit=1)[0] in r.json()["issue"][0]["diagnostics"]
        lenient = data.get(f"/fhir/Patient?{query}", headers={"Prefer": "handling=lenient"})
        assert lenient.status_code == 200
        assert any(e["search"]["mode"] == "outcome" for e in lenient.json()["entry"])
