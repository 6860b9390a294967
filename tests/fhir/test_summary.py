"""``_summary`` / ``_elements`` subsets and the SUBSETTED tag (hygie.fhir.summary).

Spec: https://hl7.org/fhir/R4/search.html#summary, https://hl7.org/fhir/R4/search.html#elements,
https://hl7.org/fhir/R4/elementdefinition-definitions.html#ElementDefinition.isSummary. Data: the
official R4 examples in ../shared/data/fhir-r4-examples (CC0).
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest

from hygie.fhir import definitions
from hygie.fhir.summary import (
    SUBSETTED_CODE,
    SUBSETTED_SYSTEM,
    elements,
    is_subsetted,
    mark_subsetted,
    summarize,
    text_summary,
)
from hygie.fhir.validation import validate_resource

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fhir-r4-examples"
MISSING = object()
Json = dict[str, Any]


@cache
def _load(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def example(name: str) -> Json:
    """A fresh copy of an official example."""
    data: Json = orjson.loads(_load(name))
    return data


def get(obj: Any, path: str) -> Any:
    """``name[0].family`` -> the value, or MISSING."""
    for part in path.split("."):
        key, _, index = part.partition("[")
        if not isinstance(obj, dict) or key not in obj:
            return MISSING
        obj = obj[key]
        if index:
            position = int(index[:-1])
            if not isinstance(obj, list) or position >= len(obj):
                return MISSING
            obj = obj[position]
    return obj


# (example file, paths kept by _summary=true, paths dropped by it)
SUMMARY_CASES: list[tuple[str, list[str], list[str]]] = [
    (
        "Patient-example.json",
        [
            "resourceType",
            "id",
            "identifier[0].system",
            "identifier[0].period.start",
            "identifier[0].assigner.display",
            "active",
            "name[0].family",
            "name[0].given",
            "name[0].use",
            "telecom[1].value",
            "gender",
            "birthDate",
            "deceasedBoolean",  # deceased[x]: a summary choice element
            "address[0].city",
            "managingOrganization.reference",
        ],
        ["text", "contact", "_birthDate"],  # contact is not summary; _birthDate only holds an extension
    ),
    (
        "Patient-infant-twin-1.json",
        ["name[0].family", "birthDate", "identifier[0].type.coding[0].code"],
        ["extension", "_birthDate", "multipleBirthInteger", "contact"],
    ),
    (
        "Observation-example.json",
        [
            "status",
            "code.coding[0].code",
            "subject.reference",
            "encounter",
            "effectiveDateTime",
            "valueQuantity.value",
            "valueQuantity.unit",
            "valueQuantity.code",
        ],
        ["text", "category"],
    ),
    (
        "Observation-blood-pressure.json",
        [
            "meta",
            "identifier[0].value",
            "basedOn",
            "performer",
            "component[0].code.coding[0].code",
            "component[0].valueQuantity.value",
            "component[1].valueQuantity.value",
        ],
        ["interpretation", "bodySite", "component[0].interpretation", "category", "text"],
    ),
    (
        "Observation-1minute-apgar-score.json",
        [
            "valueQuantity.code",
            "component[0].code.text",
            "component[0].valueCodeableConcept.coding[0].code",
        ],
        [
            "contained",  # contained resources are not summary
            "category",
            "component[0].valueCodeableConcept.coding[0].extension",  # Element.extension is not summary
        ],
    ),
    (
        "Media-example.json",
        ["content.contentType", "content.creation", "height", "frames", "operator"],
        ["content.data", "content.id", "text"],  # Attachment.data: the one datatype element left out
    ),
    (
        "Basic-referral.json",
        [
            "modifierExtension[0].url",
            "modifierExtension[0].valueCodeableConcept.coding[0].code",  # modifier extensions stay whole
            "modifierExtension[2].valueCode",
            "code.coding[0].code",
            "created",
        ],
        ["extension", "text"],
    ),
    (
        "DocumentReference-example.json",
        ["masterIdentifier.value", "content[0].attachment.url", "content[0].format.code", "relatesTo"],
        ["contained", "authenticator", "custodian", "text"],
    ),
    (
        "Bundle-bundle-example.json",
        [
            "type",
            "total",
            "link[0].url",
            "entry[0].fullUrl",
            "entry[0].search.mode",
            "entry[0].search.score",
            "entry[0].resource.status",
            "entry[0].resource.intent",
            "entry[0].resource.medicationReference.reference",
            "entry[1].resource.id",
        ],
        ["entry[0].resource.text", "entry[1].resource.text"],
    ),
]


@pytest.mark.parametrize(("name", "kept", "dropped"), SUMMARY_CASES, ids=[c[0] for c in SUMMARY_CASES])
def test_summarize_keeps_summary_elements(name: str, kept: list[str], dropped: list[str]) -> None:
    source = example(name)
    summary = summarize(source)
    for path in kept:
        assert get(source, path) is not MISSING, f"bad case: {path} not in {name}"
        assert get(summary, path) == get(source, path), path
    for path in dropped:
        assert get(source, path) is not MISSING, f"bad case: {path} not in {name}"
        assert get(summary, path) is MISSING, path
    assert next(iter(summary)) == "resourceType"


@pytest.mark.parametrize(("name", "kept", "dropped"), SUMMARY_CASES, ids=[c[0] for c in SUMMARY_CASES])
def test_summarize_is_pure_and_idempotent(name: str, kept: list[str], dropped: list[str]) -> None:
    source = example(name)
    snapshot = copy.deepcopy(source)
    summary = summarize(source)
    assert source == snapshot
    assert summarize(summary) == summary
    assert summary != source  # every case drops something


def test_summary_nested_resources_are_summarised_and_tagged() -> None:
    bundle = summarize(example("Bundle-bundle-example.json"))
    for entry in bundle["entry"]:
        assert is_subsetted(entry["resource"])
        assert "text" not in entry["resource"]
    assert not is_subsetted(bundle)  # the caller tags the top-level resource


def test_summary_drops_extension_only_primitive_entries() -> None:
    patient = {
        "resourceType": "Patient",
        "name": [
            {"given": ["Ann", None], "_given": [None, {"extension": [{"url": "x", "valueString": "y"}]}]}
        ],
        "_gender": {"extension": [{"url": "x", "valueString": "y"}]},
    }
    assert summarize(patient) == {"resourceType": "Patient", "name": [{"given": ["Ann"]}]}


def test_summary_of_malformed_or_unknown_input() -> None:
    assert summarize({"resourceType": "Patient", "id": "1", "name": "Ann", "gender": "female"}) == {
        "resourceType": "Patient",
        "id": "1",
        "gender": "female",
    }
    assert summarize({"resourceType": "Unknown", "id": "1", "secret": 2}) == {
        "resourceType": "Unknown",
        "id": "1",
    }
    assert summarize({"resourceType": "Patient", "contact": [{"gender": "male"}]}) == {
        "resourceType": "Patient"
    }


def test_every_example_summary_is_still_valid() -> None:
    """Subsets keep what the validator requires: mandatory top-level elements, whole extensions."""
    files = sorted(p.name for p in EXAMPLES.glob("*.json") if p.name != "package.json")
    checked = 0
    for name in files:
        source = example(name)
        if validate_resource(source):
            continue  # genuinely invalid example (see test_examples_valid)
        for subset in (summarize(source), elements(source, ["id"]), text_summary(source)):
            assert validate_resource(mark_subsetted(subset)) == [], name
        checked += 1
    assert checked > 700


# --- definitions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "key", "summary"),
    [
        ("Patient", "name", True),
        ("Patient", "contact", False),
        ("Patient", "text", False),
        ("Patient", "contained", False),
        ("Patient", "extension", False),
        ("Patient", "modifierExtension", True),  # root modifier: the isSummary rule, not the R4 flag
        ("Patient", "deceasedBoolean", True),
        ("Patient", "multipleBirthInteger", False),
        ("Patient", "id", True),
        ("Patient", "meta", True),
        ("Patient", "implicitRules", True),
        ("Patient", "language", False),
        ("Observation", "valueQuantity", True),
        ("Observation", "valueString", True),
        ("Observation", "interpretation", False),
        ("AuditEvent", "agent", True),  # root and min 1: the isSummary rule
        ("HumanName", "family", True),
        ("HumanName", "given", True),
        ("HumanName", "id", False),
        ("HumanName", "extension", False),
        ("Attachment", "data", False),
        ("Attachment", "url", True),
        ("Quantity", "comparator", True),
    ],
)
def test_element_summary_flags(type_name: str, key: str, summary: bool) -> None:
    node = definitions.type_node(type_name)
    assert node is not None
    assert node.elements[key].summary is summary
    assert (key in node.summary) is summary


def test_nested_flags() -> None:
    patient = definitions.resource_node("Patient")
    assert patient is not None
    communication = patient.elements["communication"].node
    assert communication is not None
    assert not communication.elements["language"].summary  # min 1 but not at the root
    assert communication.elements["modifierExtension"].summary  # BackboneElement.modifierExtension
    assert patient.elements["implicitRules"].modifier and not patient.elements["name"].modifier


# --- _elements -----------------------------------------------------------------------------------

# (example file, requested names, keys of the result)
ELEMENTS_CASES: list[tuple[str, list[str], list[str]]] = [
    # status and code are 1..1: returned even when not requested
    ("Observation-example.json", ["value"], ["resourceType", "id", "status", "code", "valueQuantity"]),
    (
        "Observation-example.json",
        ["valueQuantity"],
        ["resourceType", "id", "status", "code", "valueQuantity"],
    ),
    ("Observation-example.json", ["value[x]"], ["resourceType", "id", "status", "code", "valueQuantity"]),
    ("Observation-example.json", ["valueString"], ["resourceType", "id", "status", "code"]),
    (
        "Observation-example.json",
        ["subject", " text "],
        ["resourceType", "id", "text", "status", "code", "subject"],
    ),
    (
        "Observation-blood-pressure.json",
        ["component"],
        ["resourceType", "id", "meta", "status", "code", "component"],
    ),
    ("Patient-example.json", ["birthDate"], ["resourceType", "id", "birthDate", "_birthDate"]),
    ("Patient-example.json", ["name", "gender"], ["resourceType", "id", "name", "gender"]),
    ("Patient-example.json", ["deceased"], ["resourceType", "id", "deceasedBoolean"]),
    ("Patient-example.json", ["name.given", "unknown", "Patient"], ["resourceType", "id"]),
    ("Patient-example.json", [], ["resourceType", "id"]),
    ("Bundle-bundle-example.json", ["total"], ["resourceType", "id", "meta", "type", "total"]),
    ("Basic-referral.json", ["created"], ["resourceType", "id", "code", "created"]),
]


@pytest.mark.parametrize(("name", "names", "keys"), ELEMENTS_CASES)
def test_elements(name: str, names: list[str], keys: list[str]) -> None:
    source = example(name)
    snapshot = copy.deepcopy(source)
    subset = elements(source, names)
    assert list(subset) == keys  # the resource's own order
    assert all(subset[k] == source[k] for k in keys)
    assert source == snapshot


def test_elements_of_unknown_type() -> None:
    resource = {"resourceType": "Unknown", "id": "1", "a": 1, "_a": {}, "b": 2}
    assert elements(resource, ["a"]) == {"resourceType": "Unknown", "id": "1", "a": 1, "_a": {}}


# --- _summary=text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("Observation-example.json", ["resourceType", "id", "text", "status", "code"]),
        ("Patient-example.json", ["resourceType", "id", "text"]),
        ("Bundle-bundle-example.json", ["resourceType", "id", "meta", "type"]),
        ("AuditEvent-example.json", ["resourceType", "id", "text", "type", "recorded", "agent", "source"]),
    ],
)
def test_text_summary(name: str, keys: list[str]) -> None:
    source = example(name)
    snapshot = copy.deepcopy(source)
    assert list(text_summary(source)) == keys
    assert source == snapshot


# --- SUBSETTED -----------------------------------------------------------------------------------


def _subsetted_tags(resource: Json) -> list[Json]:
    return [
        t
        for t in resource["meta"]["tag"]
        if (t.get("system"), t.get("code")) == (SUBSETTED_SYSTEM, SUBSETTED_CODE)
    ]


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "Patient", "id": "p", "active": True},
        {"resourceType": "Patient", "active": True},
        {"resourceType": "Patient", "id": "p"},
        {"resourceType": "Patient", "id": "p", "meta": {"versionId": "2"}, "gender": "male"},
        {
            "resourceType": "Patient",
            "meta": {"tag": [{"system": "http://example.org", "code": "x"}]},
            "id": "p",
        },
        {
            "resourceType": "Patient",
            "id": "p",
            "meta": {"tag": [{"system": SUBSETTED_SYSTEM, "code": "SUBSETTED"}]},
        },
    ],
)
def test_mark_subsetted(resource: Json) -> None:
    snapshot = copy.deepcopy(resource)
    marked = mark_subsetted(resource)
    assert resource == snapshot  # input untouched, its meta and tag list included
    assert len(_subsetted_tags(marked)) == 1
    assert is_subsetted(marked)
    assert mark_subsetted(marked) == marked  # idempotent
    other_tags = [t for t in (resource.get("meta") or {}).get("tag", []) if t not in _subsetted_tags(marked)]
    assert all(t in marked["meta"]["tag"] for t in other_tags)
    assert {k: v for k, v in marked.items() if k != "meta"} == {
        k: v for k, v in resource.items() if k != "meta"
    }
    assert marked["meta"].get("versionId") == (resource.get("meta") or {}).get("versionId")
    keys = list(marked)
    if "meta" in resource:  # meta stays where it was
        assert keys == list(resource)
    else:  # meta goes right after resourceType and id
        assert keys[: keys.index("meta")] == [k for k in ("resourceType", "id") if k in resource]


def test_is_subsetted() -> None:
    assert not is_subsetted({"resourceType": "Patient"})
    assert not is_subsetted({"resourceType": "Patient", "meta": {"tag": [{"code": SUBSETTED_CODE}]}})
    assert not is_subsetted({"resourceType": "Patient", "meta": {"tag": "SUBSETTED"}})
    assert is_subsetted(mark_subsetted(summarize(example("Patient-example.json"))))
