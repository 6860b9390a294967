"""Number search parameters over HTTP — https://hl7.org/fhir/R4/search.html#number

"The precision of a number is significant": ``5.4`` means [5.35, 5.45), ``100`` means
[99.5, 100.5) and ``1e2`` (one significant figure) a wider range around 100. Prefixes follow
search.html#prefix. Stored values are compared as the exact values they are ("lt100: values that
are less than exactly 100"), and none sits on a bound of a searched range; the ``sa``/``eb`` cases
keep every stored value outside the search value's range, where "starts after" / "ends before"
cannot be read two ways.

ChargeItem ``factor-override`` (ChargeItem.factorOverride, one decimal) and RiskAssessment
``probability`` (several predictions: an array) are the number parameters used.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.support import Fhir, cases

FACTORS = {
    "num-x": 5.349,
    "num-b": 5.351,
    "num-a": 5.4,
    "num-c": 5.449,
    "num-d": 5.45,
    "num-i": 99.4,
    "num-h": 99.6,
    "num-e": 100,
    "num-f": 100.4,
    "num-g": 100.6,
    "num-k": 104,
    "num-j": 150,
}


def charge_item(cid: str, factor: float | None) -> dict[str, object]:
    resource: dict[str, object] = {
        "resourceType": "ChargeItem",
        "id": cid,
        "status": "billable",
        "code": {"text": "consultation"},
        "subject": {"reference": "Patient/num-pat"},
    }
    if factor is not None:
        resource["factorOverride"] = factor
    return resource


def risk(rid: str, *probabilities: float) -> dict[str, object]:
    return {
        "resourceType": "RiskAssessment",
        "id": rid,
        "status": "final",
        "subject": {"reference": "Patient/num-pat"},
        "prediction": [{"probabilityDecimal": p} for p in probabilities],
    }


RESOURCES: list[dict[str, Any]] = [
    {"resourceType": "Patient", "id": "num-pat"},
    *(charge_item(cid, factor) for cid, factor in FACTORS.items()),
    charge_item("num-none", None),
    risk("num-r1", 0.2, 0.9),
    risk("num-r2", 0.5),
]

FIVES = {"num-x", "num-b", "num-a", "num-c", "num-d"}
WITH_FACTOR = set(FACTORS)

CASES: list[tuple[str, set[str]]] = [
    # Implicit precision of the search value.
    ("ChargeItem?factor-override=5.4", {"num-b", "num-a", "num-c"}),
    ("ChargeItem?factor-override=eq5.4", {"num-b", "num-a", "num-c"}),
    ("ChargeItem?factor-override=5.449", {"num-c"}),
    ("ChargeItem?factor-override=5.45", {"num-c", "num-d"}),
    ("ChargeItem?factor-override=100", {"num-h", "num-e", "num-f"}),
    ("ChargeItem?factor-override=1e2", {"num-i", "num-h", "num-e", "num-f", "num-g", "num-k"}),
    ("ChargeItem?factor-override=150", {"num-j"}),
    ("ChargeItem?factor-override=6", set()),
    # Prefixes.
    ("ChargeItem?factor-override=ne100", WITH_FACTOR - {"num-h", "num-e", "num-f"}),
    ("ChargeItem?factor-override=ne5.4", WITH_FACTOR - {"num-b", "num-a", "num-c"}),
    ("ChargeItem?factor-override=gt100.5", {"num-g", "num-k", "num-j"}),
    ("ChargeItem?factor-override=lt100.5", FIVES | {"num-i", "num-h", "num-e", "num-f"}),
    ("ChargeItem?factor-override=ge104", {"num-k", "num-j"}),
    ("ChargeItem?factor-override=le5.351", {"num-x", "num-b"}),
    ("ChargeItem?factor-override=lt5.351", {"num-x"}),
    ("ChargeItem?factor-override=gt5.449", {"num-d", *(WITH_FACTOR - FIVES)}),
    ("ChargeItem?factor-override=sa100.5", {"num-g", "num-k", "num-j"}),
    ("ChargeItem?factor-override=eb5.36", {"num-x", "num-b"}),
    ("ChargeItem?factor-override=sa5.46", WITH_FACTOR - FIVES),
    ("ChargeItem?factor-override=gt149", {"num-j"}),
    # OR, AND, :missing
    ("ChargeItem?factor-override=5.4,100", {"num-b", "num-a", "num-c", "num-h", "num-e", "num-f"}),
    ("ChargeItem?factor-override=gt5.0&factor-override=lt6.0", FIVES),
    ("ChargeItem?factor-override:missing=true", {"num-none"}),
    ("ChargeItem?factor-override:missing=false", WITH_FACTOR),
    # Arrays: any prediction; each AND-ed criterion may match a different one.
    ("RiskAssessment?probability=0.9", {"num-r1"}),
    ("RiskAssessment?probability=0.2", {"num-r1"}),
    ("RiskAssessment?probability=0.5", {"num-r2"}),
    ("RiskAssessment?probability=gt0.85", {"num-r1"}),
    ("RiskAssessment?probability=lt0.25", {"num-r1"}),
    ("RiskAssessment?probability=gt0.85&probability=lt0.25", {"num-r1"}),
    ("RiskAssessment?probability=gt0.45&probability=lt0.55", {"num-r1", "num-r2"}),
    ("RiskAssessment?probability=gt0.45,lt0.1", {"num-r1", "num-r2"}),
    ("RiskAssessment?probability=gt0.85&probability=0.5", set()),
]

# ap: "approximately the same" (10% recommended; the tolerance is the server's choice).
APPROXIMATE = [
    ("ChargeItem?factor-override=ap100", {"num-h", "num-e", "num-f", "num-g"}, FIVES | {"num-j", "num-none"}),
    ("ChargeItem?factor-override=ap5.4", {"num-b", "num-a", "num-c"}, {"num-e", "num-j", "num-none"}),
]


@pytest.mark.parametrize(("query", "expected"), cases(CASES))
def test_number_search(fhir: Fhir, query: str, expected: set[str]) -> None:
    assert fhir.ids(query) == expected


@pytest.mark.parametrize(("query", "included", "excluded"), APPROXIMATE, ids=[c[0] for c in APPROXIMATE])
def test_number_approximately(fhir: Fhir, query: str, included: set[str], excluded: set[str]) -> None:
    found = fhir.ids(query)
    assert included <= found
    assert not excluded & found
