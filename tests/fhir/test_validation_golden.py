"""The fast paths of the validator never change a verdict (hygie.fhir.validation).

Spec: https://hl7.org/fhir/R4/validation.html. The validator proves common valid values right
with inline checks and leaves everything else to its general checks
(:mod:`hygie.fhir.validation_plan`). Here the fast tables are compared with the reference tables
(``compile_plans(fast=False)``: general checks only) on Synthea entries, R4 examples and
deterministic mutations of them, issue for issue (code, key, parameters, location, order); and a
table of faulty resources pins the exact issues of the paths the fast checks fall back from.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hygie.fhir import jsonio, primitives
from hygie.fhir.validation import MAX_DEPTH, _validate, validate_resource
from hygie.fhir.validation_plan import REFERENCES, compile_plans, lexicon, plans

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REFERENCE = compile_plans(fast=False)
UUID = "urn:uuid:6d4e1c63-5b7f-4d3c-9a35-0c1f8a3d2b10"

Json = dict[str, Any]
Verdict = list[tuple[str, str, str, tuple[str, ...], str]]


def verdict(resource: object, expected_type: str | None = None, *, fast: bool = True) -> Verdict:
    issues = _validate(resource, expected_type, plans() if fast else REFERENCE)
    return [(i.code, i.key, repr(sorted(i.params.items())), i.expression, i.severity) for i in issues]


def subtrees(
    value: object, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], object]]:
    yield path, value
    if type(value) is dict:
        for key, child in value.items():
            yield from subtrees(child, (*path, key))
    elif type(value) is list:
        for index, child in enumerate(value):
            yield from subtrees(child, (*path, index))


WRONG: dict[type, list[object]] = {
    str: [
        7,
        True,
        ["x"],
        {"a": 1},
        "",
        " x",
        "bad value!",
        "2023-02-30",
        "#nope",
        "Foo/1",
        "Patient?a=1",
        None,
    ],
    bool: ["true", 1, None],
    int: ["1", 1.5, -5, 0, 2**40, None],
    float: ["1.0", float("inf"), None],
}


def _deep_extension(levels: int) -> Json:
    extension: Json = {"url": "http://e", "valueString": "leaf"}
    for _ in range(levels):
        extension = {"url": "http://e", "extension": [extension]}
    return extension


def mutate(resource: Json, rng: random.Random) -> Json:
    """One deterministic fault (or none) somewhere in a copy of ``resource``."""
    result = copy.deepcopy(resource)
    path, value = rng.choice(list(subtrees(result)))
    parent: Any = result
    for step in path[:-1]:
        parent = parent[step]
    here: Any = parent[path[-1]] if path else result
    fault = rng.randrange(9)
    if fault == 0 and path:
        del parent[path[-1]]  # drop an element (required ones included)
    elif fault == 1 and path and type(value) in WRONG:
        parent[path[-1]] = rng.choice(WRONG[type(value)])  # wrong JSON type or lexical form
    elif fault == 2 and type(value) is dict:
        here[rng.choice(["foo", "_foo", "_status", "valueFoo", "resourceType"])] = 1  # unknown
    elif fault == 3 and path and type(value) is str:
        parent[path[-1]] = rng.choice(["bogus", "final ", "http://loinc.org"])  # bad code
    elif fault == 4 and path and type(value) is not list:
        parent[path[-1]] = [value, value]  # a single value repeated
    elif fault == 5 and path and type(value) is list:
        parent[path[-1]] = value[0] if rng.random() < 0.7 else []  # an array unwrapped or emptied
    elif fault == 6 and type(value) is dict:
        here["extension"] = [_deep_extension(rng.choice([2, MAX_DEPTH]))]
    elif fault == 7 and path:
        parent[path[-1]] = rng.choice([{}, [], None, {"id": "only"}, [None], [{}]])
    elif fault == 8 and type(value) is dict and "reference" in value:
        here["reference"] = rng.choice(["bad ref", "Foo/1", "#", "#a", "Patient?x=1", "urn:oid:9.9"])
    return result


def _synthea_sample() -> list[Json]:
    bundles = sorted((DATA / "synthea-r4").glob("*.json"))[::16]  # 4 patients, a few hundred entries
    return [jsonio.loads(path.read_bytes()) for path in bundles]


def _examples_sample() -> list[Json]:
    paths = sorted(p for p in (DATA / "fhir-r4-examples").glob("*.json") if p.name != "package.json")
    return [jsonio.loads(path.read_bytes()) for path in paths[::7]]


def test_fast_tables_agree_with_the_reference_on_real_resources_and_their_mutations() -> None:
    rng = random.Random(20_240_601)
    cases: list[tuple[object, str | None]] = []
    for bundle in _synthea_sample():
        cases.append((bundle, "Bundle"))
        for index, entry in enumerate(bundle["entry"]):
            cases.append((entry["resource"], entry["resource"]["resourceType"]))
            if index % 3 == 0:
                cases.extend((mutate(entry["resource"], rng), None) for _ in range(3))
        faulty = copy.deepcopy(bundle)
        faulty["entry"][1]["resource"] = mutate(faulty["entry"][1]["resource"], rng)
        cases.append((faulty, "Bundle"))
    for example in _examples_sample():
        cases.append((example, None))
        cases.extend((mutate(example, rng), None) for _ in range(4))
    differences = []
    with_issues = 0
    for resource, expected_type in cases:
        reference = verdict(resource, expected_type, fast=False)
        with_issues += bool(reference)
        if verdict(resource, expected_type) != reference:
            differences.append((resource, reference))
    assert len(cases) > 1_500
    assert with_issues > 400  # the mutations do reach the error paths
    assert differences == []


def test_verdicts_do_not_depend_on_what_the_caches_hold() -> None:
    resources = [entry["resource"] for entry in _synthea_sample()[0]["entry"][:60]]
    first = [verdict(r) for r in resources]
    warm = [verdict(r) for r in resources]
    for type_code in ("code", "uri", "dateTime", "id"):
        lexicon(type_code).clear()
    REFERENCES.clear()
    cold = [verdict(r) for r in resources]
    assert first == warm == cold


def test_lexicon_keeps_only_short_valid_strings_and_stays_bounded() -> None:
    codes = primitives.Lexicon("code")
    assert codes.learn("abc") and "abc" in codes
    assert not codes.learn("a  b") and "a  b" not in codes
    assert codes.learn("x" * 300) and "x" * 300 not in codes  # valid, too long to keep
    for n in range(primitives.Lexicon.SIZE + 10):
        codes.learn(f"c{n}")
    assert 0 < len(codes) <= primitives.Lexicon.SIZE


def observation(**fields: Any) -> Json:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, **fields}


def coding(**fields: Any) -> Json:
    return {"coding": [{"system": "http://loinc.org", "code": "8302-2", **fields}]}


def nested_identifier(levels: int) -> Json:
    identifier: Json = {"value": "x"}
    for _ in range(levels):
        identifier = {"system": "http://x", "assigner": {"identifier": identifier}}
    return identifier


# (id, resource, exact issues as (code, expression)): faults inside the types the fast checks
# handle, so that each fallback to the general checks is pinned.
EXACT: list[tuple[str, object, list[tuple[str, str]]]] = [
    ("valid-flat-types", observation(category=[coding(display="Body height")]), []),
    (
        "coding-code-spaces",
        observation(category=[coding(code="a  b")]),
        [
            ("value", "Observation.category[0].coding[0].code"),
        ],
    ),
    (
        "coding-system-number",
        observation(code=coding(system=3)),
        [
            ("structure", "Observation.code.coding[0].system"),
        ],
    ),
    (
        "coding-unknown-key",
        observation(code=coding(foo=1)),
        [("structure", "Observation.code.coding[0].foo")],
    ),
    ("coding-empty", observation(code={"coding": [{}]}), [("structure", "Observation.code.coding[0]")]),
    (
        "coding-id-only",
        observation(code={"coding": [{"id": "a"}]}),
        [("structure", "Observation.code.coding[0]")],
    ),
    (
        "coding-as-object",
        observation(code={"coding": {"code": "a"}}),
        [("structure", "Observation.code.coding")],
    ),
    ("coding-empty-array", observation(code={"coding": []}), [("structure", "Observation.code.coding")]),
    ("coding-null-item", observation(code={"coding": [None]}), [("structure", "Observation.code.coding[0]")]),
    (
        "coding-boolean-string",
        observation(code=coding(userSelected="true")),
        [
            ("structure", "Observation.code.coding[0].userSelected"),
        ],
    ),
    ("text-empty", observation(code={"text": ""}), [("value", "Observation.code.text")]),
    (
        "reference-bad",
        observation(subject={"reference": "bad ref"}),
        [("value", "Observation.subject.reference")],
    ),
    (
        "reference-unknown-type",
        observation(subject={"reference": "Foo/1"}),
        [("value", "Observation.subject.reference")],
    ),
    (
        "reference-conditional-outside-transaction",
        observation(subject={"reference": "Patient?a=b"}),
        [
            ("value", "Observation.subject.reference"),
        ],
    ),
    ("reference-urn", observation(subject={"reference": UUID}), []),
    ("reference-local-unknown", observation(subject={"reference": "#p"}), []),
    (
        "contained-referenced-from-flat-type",
        observation(contained=[{"resourceType": "Patient", "id": "p"}], subject={"reference": "#p"}),
        [],
    ),
    (
        "contained-unreferenced",
        observation(contained=[{"resourceType": "Patient", "id": "p"}]),
        [
            ("invariant", "Observation.contained[0]"),
        ],
    ),
    (
        "contained-referenced-by-canonical",
        observation(contained=[{"resourceType": "Patient", "id": "p"}], meta={"profile": ["#p"]}),
        [],
    ),
    (
        "period-bad-day",
        observation(effectivePeriod={"start": "2023-02-29"}),
        [
            ("value", "Observation.effective.ofType(Period).start"),
        ],
    ),
    ("period-leap-day", observation(effectivePeriod={"start": "2024-02-29T10:00:00Z"}), []),
    ("date-hour-24", observation(issued="2024-01-01T24:00:00Z"), [("value", "Observation.issued")]),
    (
        "quantity-decimal-text",
        jsonio.loads(
            b'{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50}}'
        ),
        [],
    ),
    (
        "quantity-string",
        observation(valueQuantity={"value": "1"}),
        [
            ("structure", "Observation.value.ofType(Quantity).value"),
        ],
    ),
    (
        "quantity-bad-comparator",
        observation(valueQuantity={"value": 1, "comparator": "=="}),
        [
            ("code-invalid", "Observation.value.ofType(Quantity).comparator"),
        ],
    ),
    (
        "integer-out-of-range",
        observation(valueInteger=2**31),
        [("value", "Observation.value.ofType(integer)")],
    ),
    (
        "meta-profile-space",
        observation(meta={"profile": ["a b"]}),
        [("value", "Observation.meta.profile[0]")],
    ),
    (
        "meta-profile-null",
        observation(meta={"profile": [None]}),
        [("structure", "Observation.meta.profile[0]")],
    ),
    (
        "meta-tag-bad",
        observation(meta={"tag": [{"system": ""}]}),
        [("value", "Observation.meta.tag[0].system")],
    ),
    (
        "identifier-nested-too-deep",
        {"resourceType": "Patient", "identifier": [nested_identifier(40)]},
        [
            (
                "too-costly",
                "Patient.identifier[0]" + ".assigner.identifier" * (MAX_DEPTH // 2 - 1) + ".assigner",
            ),
        ],
    ),
    ("identifier-nested-at-limit", {"resourceType": "Patient", "identifier": [nested_identifier(31)]}, []),
    (
        "extension-value-and-children",
        {
            "resourceType": "Patient",
            "extension": [
                {"url": "http://e", "valueString": "a", "extension": [{"url": "http://f", "valueCode": "b"}]}
            ],
        },
        [("invariant", "Patient.extension[0]")],
    ),
    (
        "primitive-extension-misaligned",
        {"resourceType": "Patient", "name": [{"given": ["a", "b"], "_given": [None]}]},
        [("structure", "Patient.name[0].given")],
    ),
    (
        "primitive-extension-null-value",
        {
            "resourceType": "Patient",
            "name": [
                {
                    "given": ["a", None],
                    "_given": [None, {"extension": [{"url": "http://e", "valueCode": "x"}]}],
                }
            ],
        },
        [],
    ),
    (
        "choice-twice",
        observation(valueString="a", valueBoolean=True),
        [("structure", "Observation.value.ofType(boolean)")],
    ),
    ("required-binding-code", observation(status="done"), [("code-invalid", "Observation.status")]),
    (
        "required-missing",
        {"resourceType": "Observation", "code": {"text": "x"}},
        [
            ("required", "Observation.status"),
        ],
    ),
    (
        "required-via-extension-only",
        {
            "resourceType": "Observation",
            "_status": {
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                        "valueCode": "unknown",
                    }
                ]
            },
            "code": {"text": "x"},
        },
        [],
    ),
    (
        "narrative-event-attribute",
        {
            "resourceType": "Patient",
            "text": {
                "status": "generated",
                "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p title="on x"\nonclick = "a">x</p></div>',
            },
        },
        [("invariant", "Patient.text.div")],
    ),
    (
        "narrative-on-in-text",
        {
            "resourceType": "Patient",
            "text": {
                "status": "generated",
                "div": '<div xmlns="http://www.w3.org/1999/xhtml">once onx= <b>y</b> a onclick=</div>',
            },
        },
        [],
    ),
    (
        "base64-padding",
        {"resourceType": "Binary", "contentType": "text/plain", "data": "aGVsbG8==="},
        [
            ("value", "Binary.data"),
        ],
    ),
    ("base64-whitespace", {"resourceType": "Binary", "contentType": "text/plain", "data": "aGVs\n bG8="}, []),
]


@pytest.mark.parametrize(("resource", "expected"), [c[1:] for c in EXACT], ids=[c[0] for c in EXACT])
def test_exact_issues(resource: object, expected: list[tuple[str, str]]) -> None:
    for _ in range(2):  # cold, then warm caches
        issues = validate_resource(resource)
        assert [(i.code, i.expression[0]) for i in issues] == expected
    assert verdict(resource, fast=False) == verdict(resource)
