"""Search errors over HTTP — https://hl7.org/fhir/R4/search.html#errors

"Servers SHALL return an error for parameters they do not recognise or support" when processing is
strict; Hygie is strict by default (docs/search.md: unknown parameters, modifiers and bad values
answer 400 naming the parameter). Each case must give a 400 OperationOutcome with an error issue
whose text or expression names the offending parameter — never a 200 that silently ignores it,
never a 500.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.conformance.support import Fhir

RESOURCES: list[dict[str, Any]] = [
    {"resourceType": "Patient", "id": "err-p1", "name": [{"family": "Dupont"}]}
]

CASES: list[tuple[str, str]] = [
    ("Patient?foo=bar", "foo"),
    ("Patient?name=dupont&colour=blue", "colour"),
    ("Patient?subject=Patient/1", "subject"),
    ("Patient?name:foo=x", "name"),
    ("Patient?gender:exact=female", "gender"),
    ("Patient?birthdate:contains=1980", "birthdate"),
    ("Patient?name:below=x", "name"),
    ("Patient?birthdate=notadate", "birthdate"),
    ("Patient?birthdate=xx1980", "birthdate"),
    ("Patient?birthdate=1980-13-01", "birthdate"),
    ("Patient?birthdate=2024-02-30", "birthdate"),
    ("Observation?value-quantity=abc", "value-quantity"),
    ("Observation?value-quantity=gtabc|http://unitsofmeasure.org|mg", "value-quantity"),
    ("RiskAssessment?probability=five", "probability"),
    ("Patient?name:missing=maybe", "name"),
    ("Patient?_count=abc", "_count"),
    ("Patient?_count=-1", "_count"),
    ("Patient?_sort=colour", "_sort"),
    ("Patient?_include=Patient:colour", "_include"),
    ("Observation?subject:Patient.colour=x", "colour"),
    # a type modifier must name a resource type the parameter may point to
    ("Observation?subject:Foo=1", "subject:Foo"),
    ("Observation?subject:Practitioner=1", "subject:Practitioner"),
]


def _issue_text(body: bytes) -> str:
    outcome = orjson.loads(body)
    assert outcome["resourceType"] == "OperationOutcome"
    errors = [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]
    assert errors, outcome
    return orjson.dumps(errors).decode()


@pytest.mark.parametrize(("query", "name"), [pytest.param(q, n, id=q) for q, n in CASES])
def test_bad_search_is_a_400_naming_the_parameter(fhir: Fhir, query: str, name: str) -> None:
    response = fhir.get(query, headers={"Accept-Language": "en"})
    assert response.status_code == 400, response.text
    assert name in _issue_text(response.content)


@pytest.mark.parametrize(("query", "name"), [pytest.param(q, n, id=q) for q, n in CASES[:4]])
def test_bad_post_search_is_a_400_naming_the_parameter(fhir: Fhir, query: str, name: str) -> None:
    response = fhir.post_search(query)
    assert response.status_code == 400, response.text
    assert name in _issue_text(response.content)


def test_strict_handling_requested_explicitly(fhir: Fhir) -> None:
    response = fhir.get("Patient?foo=bar", headers={"Prefer": "handling=strict"})
    assert response.status_code == 400
    assert "foo" in _issue_text(response.content)


def test_a_valid_search_on_the_same_data_succeeds(fhir: Fhir) -> None:
    assert fhir.ids("Patient?name=dupont") == {"err-p1"}
