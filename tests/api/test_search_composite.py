"""Composite search parameters on both backends, and their index rows.

Spec: https://hl7.org/fhir/R4/search.html#composite — ``code$value`` matches both components on
the **same** element: a blood pressure panel (systolic 150, diastolic 90) matches
``component-code-value-quantity=8480-6$gt140`` but not ``8462-4$gt140``, which a join of the code
rows and value rows of the whole resource would wrongly match.

The data set is loaded once per backend and a table of searches run against it, each mismatch
reported with its query.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from starlette.testclient import TestClient

from hygie.fhir.searchparams import default_registry
from hygie.search.composite import COLUMNS, component_types
from hygie.search.extract import extract, extract_reference
from hygie.search.query import compile_criteria
from hygie.storage.migrations import MIGRATIONS
from tests.api.support import put_all, search_ids

H = {"content-type": "application/fhir+json"}
LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _bp(oid: str, subject: str, systolic: float, diastolic: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": _concept(LOINC, "85354-9"),
        "subject": {"reference": subject},
        "component": [
            {"code": _concept(LOINC, "8480-6"), "valueQuantity": _quantity(systolic, "mm[Hg]")},
            {"code": _concept(LOINC, "8462-4"), "valueQuantity": _quantity(diastolic, "mm[Hg]")},
        ],
    }


def _obs(oid: str, code: dict[str, Any], **value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final", "code": code, **value}


GLUCOSE = _concept(LOINC, "15074-8")
SMOKING = _concept(LOINC, "72166-2")
RESOURCES: list[dict[str, Any]] = [
    {"resourceType": "Patient", "id": "p1"},
    {"resourceType": "Patient", "id": "p2"},
    _bp("bp1", "Patient/p1", 150, 90),
    _bp("bp2", "Patient/p2", 120, 95),
    _obs("g1", GLUCOSE, valueQuantity=_quantity(5.4, "mmol/L")),
    _obs("g2", GLUCOSE, valueQuantity=_quantity(5.44, "mmol/L")),
    _obs("g3", GLUCOSE, valueQuantity=_quantity(5.5, "mmol/L")),
    _obs("g4", GLUCOSE, valueQuantity={"value": 7, "unit": "mmol/l"}),  # no system / code: unit only
    _obs("s1", SMOKING, valueCodeableConcept=_concept(SCT, "449868002")),
    _obs("s2", SMOKING, valueCodeableConcept=_concept(SCT, "8517006")),
    # code and value swapped relative to s1: only a same-element pairing tells them apart
    _obs("s3", _concept(SCT, "449868002"), valueCodeableConcept=SMOKING),
    _obs("d1", _concept(LOINC, "21112-8"), valueDateTime="2024-03-15T10:00:00Z"),
    _obs("t1", _concept(LOINC, "94500-6"), valueString="Détecté, positif"),
    _obs("t2", {"coding": [{"system": "urn:odd", "code": "a$b"}]}, valueString="x"),
    {
        "resourceType": "Observation",
        "id": "c1",  # the same codes and values as s1/s2, but inside components
        "status": "final",
        "code": _concept(LOINC, "panel"),
        "component": [
            {"code": SMOKING, "valueCodeableConcept": _concept(SCT, "8517006")},
            {"code": _concept(LOINC, "other"), "valueCodeableConcept": _concept(SCT, "449868002")},
        ],
    },
    {
        "resourceType": "Group",
        "id": "gr1",
        "type": "person",
        "actual": True,
        "characteristic": [
            {
                "code": {"text": "x", "coding": [{"code": "gender"}]},
                "valueCodeableConcept": {"coding": [{"code": "female"}]},
                "exclude": False,
            },
            {"code": {"coding": [{"code": "smoker"}]}, "valueBoolean": True, "exclude": False},
        ],
    },
    {
        "resourceType": "MolecularSequence",
        "id": "ms1",
        "type": "dna",
        "coordinateSystem": 0,
        "referenceSeq": {"chromosome": _concept(SCT, "chr1"), "windowStart": 100, "windowEnd": 200},
        "variant": [{"start": 120, "end": 121}, {"start": 180, "end": 190}],
    },
    {
        "resourceType": "DocumentReference",
        "id": "doc2",
        "status": "current",
        "content": [{"attachment": {"url": "http://example.org/doc2"}}],
        "relatesTo": [{"code": "replaces", "target": {"reference": "DocumentReference/doc1"}}],
    },
]

# (type, query, ids expected)
SEARCHES: list[tuple[str, str, set[str]]] = [
    # blood pressure panels: component code and value on the same component
    ("Observation", f"component-code-value-quantity={LOINC}|8480-6$gt140", {"bp1"}),
    ("Observation", f"component-code-value-quantity={LOINC}|8462-4$gt140", set()),  # cross-join: bp1
    ("Observation", "component-code-value-quantity=8480-6$lt130", {"bp2"}),  # cross-join: bp1, bp2
    ("Observation", "component-code-value-quantity=8462-4$ge95", {"bp2"}),
    ("Observation", "component-code-value-quantity=8480-6$150", {"bp1"}),
    ("Observation", f"component-code-value-quantity=8480-6$150|{UCUM}|mm[Hg]", {"bp1"}),
    ("Observation", f"component-code-value-quantity=8480-6$150|{UCUM}|mmol/L", set()),
    ("Observation", "component-code-value-quantity=8480-6$gt140,8462-4$gt92", {"bp1", "bp2"}),  # OR
    (  # AND: both conditions on bp1, each within its own component
        "Observation",
        "component-code-value-quantity=8480-6$gt140&component-code-value-quantity=8462-4$lt95",
        {"bp1"},
    ),
    ("Observation", "component-code-value-quantity=85354-9$gt0", set()),  # the panel's code
    ("Observation", "code-value-quantity=85354-9$gt0", set()),  # panels have no value
    ("Observation", "combo-code-value-quantity=8480-6$gt140", {"bp1"}),
    ("Observation", "combo-code-value-quantity=8462-4$gt140", set()),
    ("Observation", "combo-code-value-quantity=15074-8$gt6,8462-4$95", {"g4", "bp2"}),
    # code-value-quantity: prefixes and precision ranges on the value
    ("Observation", "code-value-quantity=15074-8$5.4", {"g1", "g2"}),  # [5.35, 5.45)
    ("Observation", "code-value-quantity=15074-8$5.40", {"g1"}),  # [5.395, 5.405)
    ("Observation", "code-value-quantity=15074-8$eq5.5", {"g3"}),
    ("Observation", "code-value-quantity=15074-8$ne5.4", {"g3", "g4"}),
    ("Observation", "code-value-quantity=15074-8$gt5.4", {"g2", "g3", "g4"}),
    ("Observation", "code-value-quantity=15074-8$lt5.44", {"g1"}),
    ("Observation", "code-value-quantity=15074-8$le5.44", {"g1", "g2"}),
    ("Observation", "code-value-quantity=15074-8$ge5.5", {"g3", "g4"}),
    ("Observation", "code-value-quantity=15074-8$sa6", {"g4"}),
    ("Observation", "code-value-quantity=15074-8$eb5.41", {"g1"}),
    ("Observation", "code-value-quantity=15074-8$ap7.5", {"g4"}),
    ("Observation", "code-value-quantity=15074-8$5e0", {"g1", "g2"}),  # [4.5, 5.5)
    ("Observation", f"code-value-quantity={LOINC}|15074-8$5.4|{UCUM}|mmol/L", {"g1", "g2"}),
    ("Observation", "code-value-quantity=15074-8$7||mmol/l", {"g4"}),  # by unit text
    ("Observation", f"code-value-quantity=15074-8$7|{UCUM}|mmol/L", set()),
    ("Observation", "code-value-quantity=|15074-8$gt0", set()),  # |code: codes without a system
    ("Observation", "code-value-quantity=8480-6$gt0", set()),  # component codes are not `code`
    # code-value-concept and friends: token$token
    ("Observation", f"code-value-concept={LOINC}|72166-2${SCT}|8517006", {"s2"}),
    ("Observation", "code-value-concept=72166-2$449868002", {"s1"}),  # not s3 (swapped)
    ("Observation", f"code-value-concept=72166-2${SCT}|", {"s1", "s2"}),
    ("Observation", "code-value-concept=449868002$72166-2", {"s3"}),
    ("Observation", "component-code-value-concept=72166-2$8517006", {"c1"}),
    ("Observation", "component-code-value-concept=72166-2$449868002", set()),  # other component
    ("Observation", "combo-code-value-concept=72166-2$8517006", {"s2", "c1"}),
    # token$date, token$string, escapes
    ("Observation", "code-value-date=21112-8$2024-03", {"d1"}),
    ("Observation", "code-value-date=21112-8$gt2024-03-16", set()),
    ("Observation", "code-value-date=21112-8$lt2024-03-16", {"d1"}),
    ("Observation", "code-value-date=21112-8$2024-03-15T10:00:00Z", {"d1"}),
    ("Observation", "code-value-string=94500-6$detecte", {"t1"}),  # folded starts-with
    ("Observation", "code-value-string=94500-6$positif", set()),
    ("Observation", "code-value-string=94500-6$Détecté\\, pos", {"t1"}),  # \, in a value
    ("Observation", "code-value-string=a\\$b$x", {"t2"}),  # \$ in a code
    ("Observation", "code-value-string=urn:odd|a\\$b$X", {"t2"}),
    # :missing
    ("Observation", "component-code-value-quantity:missing=false", {"bp1", "bp2"}),
    ("Observation", "code-value-concept:missing=false", {"s1", "s2", "s3"}),
    # chains and _has reach composites
    ("Patient", "_has:Observation:subject:component-code-value-quantity=8480-6$gt140", {"p1"}),
    ("Patient", "_has:Observation:subject:component-code-value-quantity=8462-4$gt140", set()),
    # other resource types: token$token on a Group, token$number$number, reference$token
    ("Group", "characteristic-value=gender$female", {"gr1"}),
    ("Group", "characteristic-value=smoker$true", {"gr1"}),
    ("Group", "characteristic-value=gender$true", set()),
    ("MolecularSequence", f"chromosome-variant-coordinate={SCT}|chr1$ge180$le190", {"ms1"}),
    ("MolecularSequence", "chromosome-variant-coordinate=chr1$ge130$le170", set()),  # across variants
    ("MolecularSequence", "chromosome-window-coordinate=chr1$100$200", {"ms1"}),
    ("MolecularSequence", "chromosome-window-coordinate=chr2$100$200", set()),
    ("DocumentReference", "relationship=DocumentReference/doc1$replaces", {"doc2"}),
    ("DocumentReference", "relationship=doc1$transforms", set()),
]

# (type, query, text the diagnostics must contain)
ERRORS: list[tuple[str, str, str]] = [
    ("Observation", "component-code-value-quantity=8480-6", "component-code-value-quantity"),
    ("Observation", "component-code-value-quantity=8480-6$gt140$1", "component-code-value-quantity"),
    ("Observation", "component-code-value-quantity=$140", "component-code-value-quantity"),
    ("Observation", "component-code-value-quantity=8480-6$", "component-code-value-quantity"),
    ("Observation", "component-code-value-quantity=8480-6$high", "component-code-value-quantity"),
    ("Observation", "component-code-value-quantity=8480-6$1|a", "component-code-value-quantity"),
    ("Observation", "component-code-value-quantity:exact=8480-6$1", "component-code-value-quantity:exact"),
    ("Observation", "component-code-value-quantity:not=8480-6$1", "component-code-value-quantity:not"),
    ("Observation", "code-value-concept:missing=maybe", "code-value-concept:missing"),
    ("Observation", "code-value-date=21112-8$2024-13", "code-value-date"),
    ("Observation", "code-value-quantity=8480-6$1,x", "code-value-quantity"),
    ("Observation", "subject:Patient.code-value-quantity=1$1", "subject:Patient.code-value-quantity"),
    ("Observation", "_sort=code-value-quantity", "code-value-quantity"),
]


def _load(client: TestClient) -> None:
    put_all(client, RESOURCES)


def test_composite_search_table(client: TestClient) -> None:
    _load(client)
    mismatches = []
    for rtype, query, expected in SEARCHES:
        got = search_ids(client, f"{rtype}?{query}")
        if got != expected:
            mismatches.append((rtype, query, expected, got))
    assert mismatches == []


def test_composite_errors_are_400_naming_the_parameter(client: TestClient) -> None:
    _load(client)
    wrong = []
    for rtype, query, named in ERRORS:
        r = client.get(f"/fhir/{rtype}", params=tuple(parse_qsl(query)))
        diagnostics = " ".join(i.get("diagnostics", "") for i in r.json().get("issue", []))
        if r.status_code != 400 or named not in diagnostics:
            wrong.append((rtype, query, r.status_code, diagnostics))
    assert wrong == []


def test_composite_rows_follow_updates_and_deletes(client: TestClient) -> None:
    _load(client)
    query = "component-code-value-quantity=8480-6$gt140"
    assert search_ids(client, f"Observation?{query}") == {"bp1"}
    assert (
        client.put("/fhir/Observation/bp1", json=_bp("bp1", "Patient/p1", 130, 90), headers=H).status_code
        == 200
    )
    assert (
        client.put("/fhir/Observation/bp2", json=_bp("bp2", "Patient/p2", 160, 95), headers=H).status_code
        == 200
    )
    assert search_ids(client, f"Observation?{query}") == {"bp2"}
    assert client.delete("/fhir/Observation/bp2").status_code in (200, 204)
    assert search_ids(client, f"Observation?{query}") == set()
    r = client.post(
        "/fhir/Observation/_search",
        data={"component-code-value-quantity": "8480-6$lt140"},
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    assert [e["resource"]["id"] for e in r.json()["entry"]] == ["bp1"]


def _sample_value(ptype: str) -> str:
    return {
        "token": "http://example.org|x",
        "quantity": "ge5",
        "number": "5",
        "date": "ge2024-01-01",
        "string": "x",
        "reference": "Patient/1",
        "uri": "http://example.org",
    }[ptype]


def _r4_composites() -> list[tuple[str, str, str]]:
    """(type, code, sample value) of every R4 composite parameter."""
    registry = default_registry()
    out = []
    for rtype in sorted(registry.resource_types()):
        for code, param in sorted(registry.params_for(rtype).items()):
            if param.type == "composite":
                shape = component_types(param, registry)
                assert shape is not None, (rtype, code)
                out.append((rtype, code, "$".join(_sample_value(t) for _, t, _ in shape)))
    return out


def test_every_r4_composite_is_searchable(client: TestClient) -> None:
    composites = _r4_composites()
    assert len(composites) > 60
    failed = []
    for rtype, code, value in composites:
        r = client.get(f"/fhir/{rtype}?{code}={quote(value)}")
        if r.status_code != 200 or r.json().get("entry"):
            failed.append((rtype, code, value, r.status_code))
    assert failed == []


# --- index rows (no database) ----------------------------------------------------------------


def test_rows_pair_components_of_the_same_element() -> None:
    rows = extract(_bp("x", "Patient/p1", 150, 90))
    component = [r for r in rows.composite if r[0] == "component-code-value-quantity"]
    assert all(len(r) == 1 + len(COLUMNS) for r in component)
    pairs = {(r[2], r[10]) for r in component}  # (c1_code, c2_value)
    assert pairs == {("8480-6", 150.0), ("8462-4", 90.0)}
    assert {(r[2], r[10]) for r in rows.composite if r[0] == "combo-code-value-quantity"} == pairs
    assert [r for r in rows.composite if r[0] == "code-value-quantity"] == []  # no Observation.value


def test_rows_of_three_components_and_resource_relative_expressions() -> None:
    sequence = next(r for r in RESOURCES if r["resourceType"] == "MolecularSequence")
    rows = extract(sequence)
    variant = sorted((r[2], r[10], r[16]) for r in rows.composite if r[0] == "chromosome-variant-coordinate")
    assert variant == [("chr1", 120.0, 121.0), ("chr1", 180.0, 190.0)]
    assert extract_reference(sequence).composite == rows.composite


def test_r4_erratum_relationship_components_are_paired_as_in_r5() -> None:
    doc = next(r for r in RESOURCES if r["resourceType"] == "DocumentReference")
    [row] = extract(doc).composite
    assert row[:4] == ("relationship", "DocumentReference", "doc1", "DocumentReference/doc1")
    assert row[7:9] == ("", "replaces")


def test_sqlite_plan_uses_the_composite_index() -> None:
    conn = sqlite3.connect(":memory:")
    for migration in MIGRATIONS:
        for statement in migration["sqlite"]:
            conn.execute(statement)
    registry = default_registry()
    pids = {
        (t, c): i
        for i, (t, c) in enumerate((t, c) for t in registry.resource_types() for c in registry.params_for(t))
    }
    parts = compile_criteria(
        "Observation", [("component-code-value-quantity", f"{LOINC}|8480-6$gt140")], pids, UTC
    )
    sql = f"SELECT r.rk FROM resource r WHERE r.type = ? AND {parts[0].clause}"
    plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ["Observation", *parts[0].args])]
    assert any(
        "idx_composite USING INDEX idx_composite_s (pid=? AND c1_code=? AND c1_system=? AND c2_value>?)"
        in step
        for step in plan
    ), plan


@pytest.mark.parametrize("value", ["8480-6$gt140", "8480-6$gt140,8462-4$lt80"])
def test_composite_criteria_compile_to_one_subquery(value: str) -> None:
    pids = {("Observation", "component-code-value-quantity"): 7}
    [sql] = compile_criteria("Observation", [("component-code-value-quantity", value)], pids, UTC)
    assert sql.clause.count("idx_composite") == 1
    assert sql.args[0] == 7
