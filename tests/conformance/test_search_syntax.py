"""Combining values and escaping — https://hl7.org/fhir/R4/search.html#combining, #escaping

A comma separates values that are ORed; a repeated parameter is ANDed (each repetition on its
own, possibly matched by different elements of an array); ``\\,`` ``\\|`` ``\\$`` and ``\\\\``
stand for the literal characters inside a value. The same criteria posted form-encoded to
``[type]/_search`` give the same results (http.html#search).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.support import Fhir, cases

IDS = "http://example.org/ids"

RESOURCES: list[dict[str, Any]] = [
    {
        "resourceType": "Organization",
        "id": "syn-o1",
        "name": "Dupont, Fils et Cie",
    },
    {"resourceType": "Organization", "id": "syn-o2", "name": "Dupont"},
    {"resourceType": "Organization", "id": "syn-o3", "name": "Fils de Martin", "alias": ["Dupont Frères"]},
    {"resourceType": "Organization", "id": "syn-o4", "name": "Prix A$B | promo"},
    {"resourceType": "Patient", "id": "syn-p1", "identifier": [{"system": IDS, "value": "A|1"}]},
    {"resourceType": "Patient", "id": "syn-p2", "identifier": [{"system": IDS, "value": "B,2"}]},
    {"resourceType": "Patient", "id": "syn-p3", "identifier": [{"system": IDS, "value": "C\\3"}]},
    {"resourceType": "Patient", "id": "syn-p4", "identifier": [{"system": IDS, "value": "B"}]},
    {"resourceType": "Patient", "id": "syn-p5", "identifier": [{"system": IDS, "value": "2"}]},
]

CASES: list[tuple[str, set[str]]] = [
    # Comma = OR, repetition = AND (name covers Organization.name and alias).
    ("Organization?name=dupont", {"syn-o1", "syn-o2", "syn-o3"}),
    ("Organization?name=dupont,fils", {"syn-o1", "syn-o2", "syn-o3"}),
    ("Organization?name=dupont&name=fils", {"syn-o3"}),
    ("Organization?name=fils&name=dupont\\, fils", set()),
    ("Organization?name=dupont&name=dupont\\, fils", {"syn-o1"}),
    ("Organization?name=dupont, fils", {"syn-o1", "syn-o2", "syn-o3"}),  # unescaped: an OR
    ("Organization?name=prix,fils", {"syn-o3", "syn-o4"}),
    # Escaped comma, dollar and bar inside a string value.
    ("Organization?name=dupont\\, fils", {"syn-o1"}),
    ("Organization?name=dupont\\,fils", set()),
    ("Organization?name=prix a\\$b", {"syn-o4"}),
    ("Organization?name=prix a\\$b \\| promo", {"syn-o4"}),
    ("Organization?name:exact=Dupont\\, Fils et Cie", {"syn-o1"}),
    # Escapes inside a token value: the bar no longer splits system and code.
    (f"Patient?identifier={IDS}|A\\|1", {"syn-p1"}),
    ("Patient?identifier=A\\|1", {"syn-p1"}),
    ("Patient?identifier=B\\,2", {"syn-p2"}),
    ("Patient?identifier=B,2", {"syn-p4", "syn-p5"}),
    (f"Patient?identifier={IDS}|B\\,2,{IDS}|B", {"syn-p2", "syn-p4"}),
    ("Patient?identifier=C\\\\3", {"syn-p3"}),
]


@pytest.mark.parametrize(("query", "expected"), cases(CASES))
def test_combining_and_escaping(fhir: Fhir, query: str, expected: set[str]) -> None:
    assert fhir.ids(query) == expected


@pytest.mark.parametrize(("query", "expected"), cases(CASES))
def test_post_search_gives_the_same_results(fhir: Fhir, query: str, expected: set[str]) -> None:
    response = fhir.post_search(query)
    assert response.status_code == 200, response.text
    assert {e["resource"]["id"] for e in response.json().get("entry", [])} == expected
