"""The official R4 examples and the Synthea bundles pass the validator (hygie.fhir.validation).

Spec: https://hl7.org/fhir/R4/validation.html. Data: ../shared/data/fhir-r4-examples (the
``hl7.fhir.r4.examples`` package, CC0) and ../shared/data/synthea-r4 (Synthea transaction bundles).
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from hygie.fhir.validation import validate_resource

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
EXAMPLES = DATA / "fhir-r4-examples"
SYNTHEA = DATA / "synthea-r4"

# The package manifest of the examples package: not a resource.
NOT_RESOURCES = frozenset({"package.json"})

# Examples that are genuinely invalid R4: file -> (issue key, expression it must report, reason).
EXCLUDED: dict[str, tuple[str, str, str]] = {
    "Questionnaire-qs1.json": (
        "validation.missing_required",
        "Questionnaire.item[0].item[0].linkId",
        "Questionnaire.item.linkId is 1..1 in R4, but the nested 'display' items of this generated "
        "questionnaire have no linkId (32 items)",
    ),
}


def _example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*.json") if p.name not in NOT_RESOURCES)


def test_examples_folder_is_complete() -> None:
    assert len(_example_files()) == 717
    assert set(EXCLUDED) <= {p.name for p in _example_files()}


def test_every_example_is_valid() -> None:
    failures: dict[str, list[tuple[str, tuple[str, ...], str]]] = {}
    for path in _example_files():
        if path.name in EXCLUDED:
            continue
        issues = validate_resource(orjson.loads(path.read_bytes()))
        if issues:
            failures[path.name] = [(i.code, i.expression, i.key) for i in issues[:5]]
    assert failures == {}


@pytest.mark.parametrize("name", sorted(EXCLUDED))
def test_excluded_example_reports_the_documented_issue(name: str) -> None:
    key, expression, _reason = EXCLUDED[name]
    issues = validate_resource(orjson.loads((EXAMPLES / name).read_bytes()))
    assert (key, expression) in {(i.key, i.expression[0]) for i in issues}
    assert {i.key for i in issues} == {key}, "the exclusion must not hide other problems"


def test_every_synthea_entry_is_valid() -> None:
    bundles = sorted(SYNTHEA.glob("*.json"))
    assert len(bundles) == 49
    entries = 0
    failures: dict[str, list[tuple[str, tuple[str, ...], str]]] = {}
    for path in bundles:
        bundle = orjson.loads(path.read_bytes())
        for index, entry in enumerate(bundle["entry"]):
            resource = entry["resource"]
            issues = validate_resource(resource, expected_type=resource["resourceType"])
            entries += 1
            if issues:
                failures[f"{path.name}#{index}"] = [(i.code, i.expression, i.key) for i in issues[:5]]
        # The whole transaction bundle too (its own structure, conditional references allowed).
        issues = validate_resource(bundle, expected_type="Bundle")
        if issues:
            failures[path.name] = [(i.code, i.expression, i.key) for i in issues[:5]]
    assert entries > 17_000
    assert failures == {}
