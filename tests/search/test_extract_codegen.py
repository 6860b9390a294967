"""Generated extractors against the plans they compile: the same rows, in the same order, always.

Spec: https://hl7.org/fhir/R4/search.html (what is indexed). :func:`hygie.search.extract.extract`
runs each type's generated function (:mod:`hygie.search.extract_codegen`); the plan it is compiled
from runs entry by entry (``_run``: specialised FHIRPath closures, one converter per parameter,
per-parameter error handling), and :func:`extract_reference` by the generic engine
(``test_extract_golden.py`` holds the plan to it). Here the generated code must give the plan's
rows on the whole Synthea corpus and every R4 example without falling back, and on thousands of
mutated resources (malformed values, shared and repeated objects, choice keys, extensions...)
either the same rows or the same exception.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, tzinfo
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hygie.fhir import jsonio
from hygie.fhir.searchparams import Registry, default_registry
from hygie.search.extract import IndexRows, _extractor, _run, extract, extract_reference, plan_for
from hygie.search.extract_codegen import source

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
PARIS = ZoneInfo("Europe/Paris")
TABLES = IndexRows.__slots__


def rows_key(rows: IndexRows) -> str:
    """Every table's rows, in order; repr tells -0.0 from 0.0 and 1 from 1.0."""
    return repr(tuple(getattr(rows, table) for table in TABLES))


def outcome(run: Callable[[], IndexRows]) -> str:
    try:
        return rows_key(run())
    except Exception as exc:  # the plan's own errors must be the generated path's
        return f"raises {type(exc).__name__}"


def plan_outcome(resource: dict[str, Any], tz: tzinfo = PARIS, registry: Registry | None = None) -> str:
    return outcome(lambda: _run(plan_for(resource["resourceType"], registry), resource, tz))


def generated(resource: dict[str, Any], tz: tzinfo = PARIS, registry: Registry | None = None) -> IndexRows:
    """The generated function alone (no fallback to the plan)."""
    function, plan = _extractor(resource["resourceType"], registry)
    rows = IndexRows()
    function(resource, rows, tz, plan.resource_types)
    return rows


def synthea() -> Iterator[dict[str, Any]]:
    for path in sorted((DATA / "synthea-r4").glob("*.json")):
        for entry in jsonio.loads(path.read_bytes())["entry"]:
            yield entry["resource"]


def examples() -> Iterator[dict[str, Any]]:
    """Every R4 example, the resources of example Bundles and contained resources too."""
    for path in sorted((DATA / "fhir-r4-examples").glob("*.json")):
        if path.name == "package.json":
            continue
        stack = [jsonio.loads(path.read_bytes())]
        while stack:
            resource = stack.pop()
            yield resource
            stack += [
                e["resource"] for e in resource.get("entry") or () if isinstance(e.get("resource"), dict)
            ]
            stack += [c for c in resource.get("contained") or () if isinstance(c, dict)]


def test_synthea_corpus_generated_equals_plan() -> None:
    count = rows = 0
    for resource in synthea():
        found = generated(resource)  # never raises on real data: no fallback
        assert rows_key(found) == plan_outcome(resource), resource["id"]
        count += 1
        rows += sum(len(getattr(found, table)) for table in TABLES)
    assert count == 17369
    assert rows > 10 * count


def test_r4_examples_generated_equals_plan_and_reference() -> None:
    count = 0
    for resource in examples():
        if not isinstance(resource.get("resourceType"), str):
            continue
        expected = plan_outcome(resource)
        assert rows_key(generated(resource)) == expected, resource.get("id")
        assert outcome(partial(extract_reference, resource, default_tz=PARIS)) == expected
        count += 1
    assert count > 900


# --- hand-made edge cases ----------------------------------------------------------------------

OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "meta": {"tag": [{"system": "s", "code": "t"}, {"code": "t", "system": "s"}], "source": "http://src#a"},
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "BP"}], "text": "BP"},
    "subject": {
        "reference": "http://x/fhir/Patient/1/_history/2",
        "identifier": {"system": "i", "value": "v"},
    },
    "focus": [{"reference": "#c1"}, {"reference": "urn:uuid:1"}, "Patient/7", {"type": "Patient"}],
    "contained": [{"resourceType": "Patient", "id": "c1"}],
    "effectiveDateTime": "2024-03-31T02:30:00",
    "component": [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {"value": jsonio.Decimal("120.50"), "unit": "mmHg", "code": "mm[Hg]"},
        },
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {"value": jsonio.Decimal("120.50"), "unit": "mmHg", "code": "mm[Hg]"},
        },
        {"code": {"text": "no coding"}, "valueCodeableConcept": {"coding": [{"code": "x"}, {"code": "x"}]}},
        {"code": {"coding": [{"code": "r"}]}, "valueRange": {"low": {"value": 1}}},
        {"code": {"coding": [{"code": "s"}]}, "valueString": "é" * 600},
        {"code": {"coding": [{"code": "p"}]}, "valuePeriod": {"start": "2024"}},
        "not an element",
    ],
    "extension": [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/observation-geneticsGene",
            "valueCodeableConcept": {},
        },
        {"url": "http://hl7.org/fhir/StructureDefinition/observation-geneticsDnaVariant", "valueString": "v"},
    ],
}

EDGE_CASES: list[dict[str, Any]] = [
    OBSERVATION,
    {**OBSERVATION, "valueQuantity": {"value": 5, "unit": "mg", "system": "http://unitsofmeasure.org"}},
    {**OBSERVATION, "value": {"value": 5, "code": "mg"}, "effective": None, "effectiveInstant": "2024"},
    {**OBSERVATION, "valueCodeableConcept": {"text": "only text"}, "valueString": "second choice key"},
    {**OBSERVATION, "valueSampledData": {"origin": {"value": 1}}, "dataAbsentReason": {"coding": []}},
    # two keys of one type (`as Quantity`, `as string`): both, in the type's order
    {
        **OBSERVATION,
        "valueQuantity": {"value": 1},
        "valueAge": {"value": 2},
        "valueCode": "c",
        "valueId": "i",
    },
    {
        "resourceType": "Patient",
        "identifier": [
            {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "1"},
            {"system": "s", "value": "2", "type": {"text": "NIR", "coding": [{"display": "Num"}, "x"]}},
            {"value": 3},
        ],
        "telecom": [{"system": "phone", "value": "+33 1"}, {"system": "email", "value": "a@b", "rank": 1}],
        "name": [{"family": "Dupré", "given": ["Anne", "Anne"]}, {"text": "É"}],
        "address": [{"line": ["1 rue"], "city": "Lyon", "postalCode": "69001"}],
        "birthDate": "1980-02-29",
        "deceasedDateTime": "2020-01-01T00:00:00+14:00",
        "gender": "female",
        "active": False,
        "generalPractitioner": [{"reference": "Practitioner/p"}, {"reference": "Organization/o/_history/1"}],
        "link": [{"other": {"reference": "Patient/2"}}],
    },
    {
        "resourceType": "Encounter",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
            "display": "amb",
        },
        "period": {"start": "2024-10-27T02:30:00", "end": "2024-10-27"},
        "length": {"value": 1.5e-7, "unit": "min"},
        "subject": {"reference": "Group/g"},
        "participant": [{"individual": {"reference": "Practitioner/1"}}, {}],
        "reasonCode": [{"coding": [{"system": "sct", "code": "1"}], "text": "x"}],
    },
    {
        "resourceType": "MedicationRequest",
        "dosageInstruction": [
            {"timing": {"event": ["2024-01-01", "bad"], "repeat": {"boundsPeriod": {"end": "2025"}}}}
        ],
        "authoredOn": "2024-13-01",
        "subject": {"reference": "Patient/1", "type": "Patient"},
        "medicationReference": {"reference": "#m"},
        "contained": [{"resourceType": "Medication", "id": "m"}],
    },
    {
        "resourceType": "ChargeItem",
        "priceOverride": {"value": 12.5, "currency": "EUR"},
        "quantity": {"value": -0.0},
    },
    {
        "resourceType": "RiskAssessment",
        "prediction": [{"probabilityDecimal": 0.25}, {"probabilityRange": {}}],
    },
    {
        "resourceType": "Group",
        "characteristic": [{"code": {"text": "c"}, "valueBoolean": True}, {"valueRange": {}}],
    },
    {
        "resourceType": "MolecularSequence",
        "referenceSeq": {"chromosome": {"coding": [{"code": "1"}]}, "windowStart": 1, "windowEnd": 9},
        "variant": [{"start": 1, "end": 2}, {"start": 3}],
    },
    {
        "resourceType": "DocumentReference",
        "relatesTo": [{"code": "replaces", "target": {"reference": "DocumentReference/1"}}],
    },
    {
        "resourceType": "Bundle",
        "entry": [{"resource": {"resourceType": "Composition", "id": "c"}}],
        "identifier": {},
    },
    {
        "resourceType": "ValueSet",
        "url": "http://x/vs|1.0",
        "useContext": [{"code": {"code": "age"}, "valueRange": {"low": {"value": 1}}}],
    },
]


@pytest.mark.parametrize("resource", EDGE_CASES, ids=lambda r: str(r["resourceType"]))
@pytest.mark.parametrize("tz", [UTC, PARIS], ids=["utc", "paris"])
def test_edge_cases_generated_equals_plan(resource: dict[str, Any], tz: tzinfo) -> None:
    expected = plan_outcome(resource, tz)
    assert outcome(lambda: extract(resource, default_tz=tz)) == expected
    assert rows_key(generated(resource, tz)) == expected  # and the generated code ran to the end


def test_edge_case_rows() -> None:
    """A few of the rows above, spelled out: repeated values once, composites per component."""
    rows = extract(OBSERVATION, default_tz=PARIS)
    tags = [row for row in rows.token if row[0] == "_tag"]
    assert tags == [("_tag", "s", "t")]
    assert ("subject", "Patient", "1", "http://x/fhir/Patient/1/_history/2") in rows.reference
    assert ("subject:identifier", "i", "v") in rows.token
    assert [row for row in rows.reference if row[0] == "patient"] == [
        ("patient", "Patient", "1", "http://x/fhir/Patient/1/_history/2")
    ]
    quantities = [row for row in rows.composite if row[0] == "component-code-value-quantity"]
    assert quantities == [  # two identical components: one row
        ("component-code-value-quantity", "http://loinc.org", "8480-6", None, None, None, None)
        + ("", "mm[Hg]", None, 120.5, 120.495, 120.505)
        + (None,) * 6,
        ("component-code-value-quantity", "http://loinc.org", "8480-6", None, None, None, None)
        + ("", "mmHg", None, 120.5, 120.495, 120.505)
        + (None,) * 6,
    ]
    # 02:30 does not exist in Paris that night (clocks go from 02:00 to 03:00): taken as UTC+1
    low = int(datetime(2024, 3, 31, 1, 30, tzinfo=UTC).timestamp() * 1000)
    assert [row for row in rows.date if row[0] == "date"] == [("date", low, low + 1000)]


def test_malformed_data_falls_back_to_the_plan() -> None:
    """Where the generated code raises, extract() gives the plan's rows: the other parameters."""
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": "#p"},
        "contained": 5,  # resolve() iterates it: TypeError
        "code": {"coding": [{"system": {"not": "hashable"}, "code": "x"}]},
    }
    with pytest.raises(TypeError):
        generated(resource)
    rows = extract(resource)
    assert rows_key(rows) == plan_outcome(resource, UTC)
    assert ("status", None, "final") in rows.token


def test_custom_parameters_run_their_compiled_expression() -> None:
    registry = default_registry().with_custom(
        [
            {
                "code": "nickname",
                "type": "string",
                "base": ["Patient"],
                "expression": "Patient.name.where(use='nickname').given",
            }
        ]
    )
    patient = {"resourceType": "Patient", "name": [{"use": "nickname", "given": ["Béa"]}, {"given": ["B"]}]}
    assert ("nickname", "bea", "Béa") in generated(patient, registry=registry).string
    assert rows_key(extract(patient, registry, default_tz=PARIS)) == plan_outcome(patient, PARIS, registry)


def test_every_type_has_a_readable_extractor() -> None:
    registry = default_registry()
    for rtype in sorted(registry.resource_types()):
        text, _ = source(plan_for(rtype), rtype)
        assert text.startswith(f"def extract_{rtype}(r, rows, tz, types):")
        assert "# _tag (token): Resource.meta.tag" in text
        empty = {"resourceType": rtype}
        assert rows_key(generated(empty)) == plan_outcome(empty)  # Patient: deceased false


# --- mutated resources ---------------------------------------------------------------------------

CODING = {"system": "http://loinc.org", "code": "1", "display": "One"}
REPLACEMENTS: list[Any] = [
    None, "", "x", "#c1", "Patient/1", "urn:uuid:2", "http://x/fhir/Patient/3/_history/4", "2024",
    "2024-02-30", "2024-03-05T10:20", "2024-03-05T10:20:30.1234+05:30", "2024-03-05T10:20:30+24:00",
    0, -0.0, 1, 1.0, 7.25, jsonio.Decimal("1.50"), jsonio.Decimal("12345678901234567890.5"), True, False,
    [], {}, [None], ["a", "a"], [1, 1.0], {"url": "u", "valueString": "s"}, {"url": "u"},
    {"coding": [CODING, CODING], "text": "One"}, {"coding": None, "code": "c"}, {"coding": {"code": "c"}},
    {"text": "t"}, CODING, {"system": "phone", "value": "1"}, {"value": "v", "type": {"coding": [{}]}},
    {"value": 5, "unit": "mg", "code": "mg"}, {"value": "5", "currency": "EUR"}, {"low": {"value": 1}},
    {"low": {"value": 1}, "high": {"value": "2"}}, {"start": "2024", "end": "2023"}, {"end": "bad"},
    {"event": ["2024-01-01"], "repeat": {"boundsPeriod": {"start": "2020"}}}, {"reference": "#c1"},
    {"reference": 5, "identifier": {"value": "i"}}, {"resourceType": "Patient", "id": "inline"},
    {"family": "F", "given": ["G", 3]}, {"line": ["L"], "city": "C"}, {"system": {"a": 1}, "code": "x"},
]  # fmt: skip
NEW_KEYS = [
    "valueQuantity",
    "valueAge",
    "valueCode", "valueRange", "valueCodeableConcept", "valueString", "valueDateTime", "valuePeriod",
    "value", "effectivePeriod", "effective", "extension", "contained", "coding", "text", "display",
    "url", "reference", "identifier", "component", "code", "subject", "meta", "type", "rank",
]  # fmt: skip


def _containers(value: Any, out: list[Any]) -> list[Any]:
    """Every dict and list inside ``value`` (``value`` first)."""
    if isinstance(value, dict | list):
        out.append(value)
        for child in value.values() if isinstance(value, dict) else value:
            _containers(child, out)
    return out


def mutate(resource: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy of ``resource`` with a few random changes (never its resourceType)."""
    mutated = copy.deepcopy(resource)
    for _ in range(rng.randint(1, 4)):
        containers = _containers(mutated, [])
        target = rng.choice(containers)
        replacement = copy.deepcopy(rng.choice(REPLACEMENTS))
        move = rng.random()
        if isinstance(target, list):
            if not target:
                target.append(replacement)
            elif move < 0.3:  # the same object twice: unions and composites see it twice
                target.append(rng.choice(target))
            else:
                target[rng.randrange(len(target))] = replacement
        elif move < 0.2:  # an object shared by two elements (one holding no other: no cycle)
            leaves = [
                c
                for c in containers
                if isinstance(c, dict) and c is not target and not _containers(c, [])[1:]
            ]
            target[rng.choice(NEW_KEYS)] = rng.choice(leaves) if leaves else replacement
        else:
            keys = [k for k in target if k != "resourceType"]
            key = rng.choice(NEW_KEYS) if move < 0.5 or not keys else rng.choice(keys)
            target[key] = replacement
    return mutated


def corpus_sample() -> list[dict[str, Any]]:
    sample = [r for i, r in enumerate(synthea()) if i % 40 == 0]
    sample += [r for i, r in enumerate(examples()) if i % 3 == 0 and isinstance(r.get("resourceType"), str)]
    return sample + EDGE_CASES


@pytest.mark.parametrize("seed", range(4))
def test_mutated_resources_generated_equals_plan(seed: int) -> None:
    rng = random.Random(20250101 + seed)
    checked = ran_to_end = 0
    for resource in corpus_sample():
        for _ in range(3):
            mutated = mutate(resource, rng)
            tz = rng.choice([UTC, PARIS])
            expected = plan_outcome(mutated, tz)
            assert outcome(partial(extract, mutated, default_tz=tz)) == expected, mutated
            found = outcome(partial(generated, mutated, tz))
            if not found.startswith("raises"):
                assert found == expected, mutated
                ran_to_end += 1
            checked += 1
    assert checked > 1000
    assert ran_to_end > 0.8 * checked  # the generated code handles nearly all of them itself
