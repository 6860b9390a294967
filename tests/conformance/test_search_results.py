"""Managing returned resources — https://hl7.org/fhir/R4/search.html#count, #summary, #elements

``_count`` limits the matches per page and the Bundle links ``next`` / ``previous`` / ``self``
let a client walk every match exactly once (http.html#paging); ``total`` counts every match, not
the page; ``_summary=count`` returns the count only; ``_summary=true`` / ``data`` / ``text`` and
``_elements`` trim the returned resources (the mandatory elements, ``id`` and ``meta`` stay).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.support import Fhir

NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Patient</div>'}


def patient(index: int, gender: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"res-{index}",
        "text": NARRATIVE,
        "name": [{"family": f"Famille{index}"}],
        "gender": gender,
        "birthDate": f"19{70 + index}-01-01",
        "maritalStatus": {"text": "célibataire"},
    }


RESOURCES: list[dict[str, Any]] = [patient(i, "female" if i % 2 else "male") for i in range(1, 8)]
ALL = {r["id"] for r in RESOURCES}
FEMALE = {"res-1", "res-3", "res-5", "res-7"}


def _links(bundle: dict[str, Any]) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in bundle.get("link", [])}


def _page_ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


@pytest.mark.parametrize(("count", "sizes"), [(3, [3, 3, 1]), (7, [7]), (1, [1] * 7), (2, [2, 2, 2, 1])])
def test_paging_walks_every_match_once(fhir: Fhir, count: int, sizes: list[int]) -> None:
    bundle = fhir.bundle(f"Patient?_count={count}")
    seen: list[str] = []
    pages: list[int] = []
    while True:
        assert bundle["total"] == len(ALL), "total counts every match, not the page"
        assert "self" in _links(bundle)
        page = _page_ids(bundle)
        seen.extend(page)
        pages.append(len(page))
        next_url = _links(bundle).get("next")
        if next_url is None:
            break
        response = fhir.http.get(next_url)
        assert response.status_code == 200, response.text
        bundle = response.json()
        assert "previous" in _links(bundle)
    assert pages == sizes
    assert sorted(seen) == sorted(ALL)


def test_previous_link_returns_the_earlier_page(fhir: Fhir) -> None:
    first = fhir.bundle("Patient?_count=3")
    second = fhir.http.get(_links(first)["next"]).json()
    back = fhir.http.get(_links(second)["previous"]).json()
    assert _page_ids(back) == _page_ids(first)
    assert not set(_page_ids(first)) & set(_page_ids(second))


def test_paging_keeps_the_criteria(fhir: Fhir) -> None:
    bundle = fhir.bundle("Patient?gender=female&_count=3")
    assert bundle["total"] == len(FEMALE)
    second = fhir.http.get(_links(bundle)["next"]).json()
    assert "next" not in _links(second)
    assert set(_page_ids(bundle)) | set(_page_ids(second)) == FEMALE


@pytest.mark.parametrize(
    ("query", "total"), [("Patient?_summary=count", 7), ("Patient?gender=female&_summary=count", 4)]
)
def test_summary_count(fhir: Fhir, query: str, total: int) -> None:
    bundle = fhir.bundle(query)
    assert bundle["total"] == total
    assert not bundle.get("entry")


@pytest.mark.parametrize("query", ["Patient?_total=accurate&_count=2", "Patient?gender=male&_total=accurate"])
def test_total_accurate(fhir: Fhir, query: str) -> None:
    expected = len(ALL) if "gender" not in query else len(ALL - FEMALE)
    assert fhir.bundle(query)["total"] == expected


def test_count_over_the_cap_still_answers(fhir: Fhir) -> None:
    assert len(_page_ids(fhir.bundle("Patient?_count=100000"))) == len(ALL)


def _resources(fhir: Fhir, query: str) -> list[dict[str, Any]]:
    bundle = fhir.bundle(query)
    resources = [e["resource"] for e in bundle["entry"]]
    assert {r["id"] for r in resources} == ALL
    return resources


def test_elements_keeps_only_the_listed_elements(fhir: Fhir) -> None:
    for resource in _resources(fhir, "Patient?_elements=name,gender"):
        assert resource["resourceType"] == "Patient"
        assert set(resource) - {"resourceType", "id", "meta", "implicitRules"} == {"name", "gender"}


def test_summary_true_drops_non_summary_elements(fhir: Fhir) -> None:
    for resource in _resources(fhir, "Patient?_summary=true"):
        assert {"name", "gender", "birthDate"} <= set(resource)
        assert "text" not in resource
        assert "maritalStatus" not in resource  # not a summary element of Patient


def test_summary_data_drops_the_narrative_only(fhir: Fhir) -> None:
    for resource in _resources(fhir, "Patient?_summary=data"):
        assert "text" not in resource
        assert {"name", "gender", "birthDate", "maritalStatus"} <= set(resource)


def test_summary_text_keeps_the_narrative(fhir: Fhir) -> None:
    for resource in _resources(fhir, "Patient?_summary=text"):
        assert resource["text"]["div"] == NARRATIVE["div"]
        assert "maritalStatus" not in resource
        assert "birthDate" not in resource
