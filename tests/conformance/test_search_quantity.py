"""Quantity search parameters over HTTP — https://hl7.org/fhir/R4/search.html#quantity

``[prefix][number]|[system]|[code]``: the number follows the number rules (implicit precision,
prefixes); ``[number]`` alone matches any unit; ``[number]|[system]|[code]`` matches the coded
unit; ``[number]||[code]`` matches when either ``Quantity.code`` or the human ``Quantity.unit`` is
that code. Observation ``value-quantity`` and ``component-value-quantity`` are used.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.support import Fhir, cases

UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"


def observation(oid: str, **value: object) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        **value,
    }


def ucum(value: float, code: str) -> dict[str, object]:
    return {"value": value, "unit": code, "system": UCUM, "code": code}


RESOURCES: list[dict[str, Any]] = [
    observation("qty-a", valueQuantity=ucum(5.4, "mg")),
    observation("qty-b", valueQuantity=ucum(5.449, "mg")),
    observation("qty-c", valueQuantity=ucum(5.45, "mg")),
    observation("qty-d", valueQuantity={"value": 5.4, "unit": "milligram"}),
    observation("qty-e", valueQuantity={"value": 5.4, "unit": "mg"}),
    observation("qty-f", valueQuantity=ucum(5.4, "mmol/L")),
    observation("qty-g", valueQuantity=ucum(100, "mg")),
    observation("qty-h", valueQuantity=ucum(100.4, "mg")),
    observation("qty-i", valueQuantity={"value": 5.4, "unit": "mg", "system": SNOMED, "code": "258684004"}),
    observation(
        "qty-j",
        component=[
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "valueQuantity": ucum(120, "mm[Hg]"),
            }
        ],
    ),
    observation("qty-k", valueString="trace"),
]

WITH_VALUE = {r["id"] for r in RESOURCES if "valueQuantity" in r}

CASES: list[tuple[str, set[str]]] = [
    ("Observation?value-quantity=5.4", {"qty-a", "qty-b", "qty-d", "qty-e", "qty-f", "qty-i"}),
    (f"Observation?value-quantity=5.4|{UCUM}|mg", {"qty-a", "qty-b"}),
    ("Observation?value-quantity=5.4||mg", {"qty-a", "qty-b", "qty-e", "qty-i"}),
    (f"Observation?value-quantity=5.4|{SNOMED}|258684004", {"qty-i"}),
    (f"Observation?value-quantity=5.4|{UCUM}|mmol/L", {"qty-f"}),
    (f"Observation?value-quantity=5.45|{UCUM}|mg", {"qty-b", "qty-c"}),
    (f"Observation?value-quantity=5.449|{UCUM}|mg", {"qty-b"}),
    ("Observation?value-quantity=100||mg", {"qty-g", "qty-h"}),
    ("Observation?value-quantity=1e2||mg", {"qty-g", "qty-h"}),
    (f"Observation?value-quantity=100|{UCUM}|mmol/L", set()),
    # Prefixes.
    (f"Observation?value-quantity=gt5.45|{UCUM}|mg", {"qty-g", "qty-h"}),
    (f"Observation?value-quantity=ge5.45|{UCUM}|mg", {"qty-c", "qty-g", "qty-h"}),
    (f"Observation?value-quantity=le5.449|{UCUM}|mg", {"qty-a", "qty-b"}),
    (f"Observation?value-quantity=lt5.449|{UCUM}|mg", {"qty-a"}),
    (f"Observation?value-quantity=ne5.4|{UCUM}|mg", {"qty-c", "qty-g", "qty-h"}),
    (f"Observation?value-quantity=sa5.45|{UCUM}|mg", {"qty-g", "qty-h"}),
    (f"Observation?value-quantity=eb100|{UCUM}|mg", {"qty-a", "qty-b", "qty-c"}),
    ("Observation?value-quantity=gt50", {"qty-g", "qty-h"}),
    # OR, AND, :missing, components.
    (f"Observation?value-quantity=5.4|{UCUM}|mmol/L,100||mg", {"qty-f", "qty-g", "qty-h"}),
    (
        "Observation?value-quantity=gt5.0||mg&value-quantity=lt6.0",
        {"qty-a", "qty-b", "qty-c", "qty-e", "qty-i"},
    ),
    ("Observation?value-quantity:missing=true", {"qty-j", "qty-k"}),
    ("Observation?value-quantity:missing=false", WITH_VALUE),
    ("Observation?component-value-quantity=120", {"qty-j"}),
    (f"Observation?component-value-quantity=gt119.5|{UCUM}|mm[Hg]", {"qty-j"}),
    ("Observation?component-value-quantity=5.4", set()),
]


@pytest.mark.parametrize(("query", "expected"), cases(CASES))
def test_quantity_search(fhir: Fhir, query: str, expected: set[str]) -> None:
    assert fhir.ids(query) == expected
