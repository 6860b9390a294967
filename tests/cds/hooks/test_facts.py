"""FHIR resources → the engine's inputs (hygie/cds/facts.py), tables of cases.

MedicationRequest https://hl7.org/fhir/R4/medicationrequest.html, Medication
https://hl7.org/fhir/R4/medication.html, Observation / Condition / AllergyIntolerance of R4.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from hygie.cds import facts
from hygie.cds.model import ATC, CIP13, CIS, SUBSTANCE, UCD, DrugCode

TODAY = date(2025, 6, 1)


def _concept(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    concept: dict[str, Any] = {"coding": [coding]}
    if text:
        concept["text"] = text
    return concept


@pytest.mark.parametrize("system", [CIS, CIP13, UCD, SUBSTANCE, ATC])
def test_every_french_system_is_read_from_medication_codeable_concept(system: str) -> None:
    request = {
        "resourceType": "MedicationRequest",
        "id": "1",
        "status": "active",
        "medicationCodeableConcept": _concept(system, "123", "X", text="Brand 10 mg"),
    }
    item = facts.drug_item(request, {}, draft=False)
    assert item.ref == "MedicationRequest/1"
    assert item.codes == (DrugCode(system, "123", "X"),)
    assert item.text == "Brand 10 mg"
    assert item.draft is False


def test_contained_medication_with_ingredients_of_a_combination() -> None:
    request = {
        "resourceType": "MedicationRequest",
        "id": "d1",
        "status": "draft",
        "contained": [
            {
                "resourceType": "Medication",
                "id": "m",
                "code": _concept(CIS, "60234100", text="Combination"),
                "ingredient": [
                    {"itemCodeableConcept": _concept(SUBSTANCE, "1111")},
                    {"itemCodeableConcept": _concept(SUBSTANCE, "2222")},
                ],
            }
        ],
        "medicationReference": {"reference": "#m"},
    }
    item = facts.drug_item(request, {}, draft=True)
    assert [c.code for c in item.codes] == ["60234100", "1111", "2222"]
    assert item.text == "Combination" and item.draft


@pytest.mark.parametrize(
    "reference", ["Medication/7", "http://x/fhir/Medication/7", "Medication/7/_history/2", "urn:uuid:abc"]
)
def test_referenced_medication_found_in_bundles(reference: str) -> None:
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"fullUrl": "urn:uuid:abc", "resource": {"resourceType": "Medication", "id": "7",
                                                      "code": _concept(CIP13, "3400930000001")}},
        ],
    }  # fmt: skip
    index = facts.medication_index([bundle])
    request = {
        "resourceType": "MedicationRequest",
        "id": "1",
        "medicationReference": {"reference": reference},
    }
    assert facts.drug_item(request, index, draft=False).codes == (DrugCode(CIP13, "3400930000001"),)


def test_unresolved_reference_keeps_its_display() -> None:
    request = {
        "resourceType": "MedicationStatement",
        "id": "s",
        "medicationReference": {"reference": "Medication/404", "display": "Kardegic"},
    }
    item = facts.drug_item(request, {}, draft=False)
    assert item.codes == () and item.text == "Kardegic" and item.ref == "MedicationStatement/s"


def _dosage(
    value: float, unit: str, frequency: int | None = None, period: float = 1, period_unit: str = "d"
) -> dict[str, Any]:
    repeat: dict[str, Any] = {"period": period, "periodUnit": period_unit}
    if frequency is not None:
        repeat["frequency"] = frequency
    return {"timing": {"repeat": repeat},
            "doseAndRate": [{"doseQuantity": {"value": value, "unit": unit, "code": unit}}]}  # fmt: skip


@pytest.mark.parametrize(
    ("dosages", "expected"),
    [
        ([_dosage(500, "mg", 3)], 1500.0),
        ([_dosage(1, "g", 2)], 2000.0),
        ([_dosage(250, "ug", 1)], 0.25),
        ([_dosage(10, "mg", 1, 8, "h")], 30.0),
        ([_dosage(15, "mg", 1, 1, "wk")], round(15 / 7, 6)),
        ([_dosage(500, "mg", 1), _dosage(1000, "mg", 1)], 1500.0),
        ([_dosage(2, "{tbl}", 3)], None),
        ([{"text": "un comprimé le matin"}], None),
        ([], None),
    ],
)
def test_daily_dose_in_mg(dosages: list[dict[str, Any]], expected: float | None) -> None:
    request = {"resourceType": "MedicationRequest", "dosageInstruction": dosages}
    assert facts.daily_dose_mg(request) == expected


def test_current_items_keep_active_and_on_hold_only() -> None:
    concept = _concept(CIS, "1")
    resources = [
        {
            "resourceType": "MedicationRequest",
            "id": status,
            "status": status,
            "medicationCodeableConcept": concept,
        }
        for status in ("active", "on-hold", "draft", "completed", "stopped", "cancelled", "entered-in-error")
    ] + [
        {"resourceType": "MedicationStatement", "id": s, "status": s, "medicationCodeableConcept": concept}
        for s in ("active", "intended", "completed", "not-taken")
    ]
    refs = [i.ref for i in facts.current_items(resources, {})]
    assert refs == [
        "MedicationRequest/active",
        "MedicationRequest/on-hold",
        "MedicationStatement/active",
        "MedicationStatement/intended",
    ]


def test_a_statement_of_a_current_order_is_the_same_treatment() -> None:
    """A MedicationStatement ``basedOn`` a current MedicationRequest records the taking of that
    order (https://hl7.org/fhir/R4/medicationstatement.html): one drug, not a duplicate; a
    statement based on an order that is not current (or not among the resources) still counts."""
    concept = _concept(CIS, "1")
    order = {
        "resourceType": "MedicationRequest",
        "id": "rx",
        "status": "active",
        "medicationCodeableConcept": concept,
    }
    old = {
        "resourceType": "MedicationRequest",
        "id": "old",
        "status": "stopped",
        "medicationCodeableConcept": concept,
    }
    resources = [order, old] + [
        {
            "resourceType": "MedicationStatement",
            "id": sid,
            "status": "active",
            "medicationCodeableConcept": concept,
            "basedOn": [{"reference": based}],
        }
        for sid, based in (
            ("taken", "MedicationRequest/rx"),
            ("after", "MedicationRequest/old"),
            ("x", "MedicationRequest/gone"),
        )
    ]
    refs = [i.ref for i in facts.current_items(resources, {})]
    assert refs == ["MedicationRequest/rx", "MedicationStatement/after", "MedicationStatement/x"]


@pytest.mark.parametrize(
    ("birth", "expected"),
    [("1950-06-01", 75.0), ("1950", 74.92), ("2025-07-01", None), ("bad", None), (None, None)],
)
def test_age(birth: str | None, expected: float | None) -> None:
    patient: dict[str, Any] = {"resourceType": "Patient"}
    if birth is not None:
        patient["birthDate"] = birth
    assert facts.age_years(patient, TODAY) == expected


def _obs(
    code: str, when: str, value: float | None = None, unit: str | None = None, **extra: Any
) -> dict[str, Any]:
    obs: dict[str, Any] = {"resourceType": "Observation", "status": "final", "effectiveDateTime": when}
    obs.update(code=_concept(facts.LOINC, code), **extra)
    if value is not None:
        obs["valueQuantity"] = {"value": value, **({"code": unit, "unit": unit} if unit else {})}
    return obs


@pytest.mark.parametrize(
    ("observations", "expected"),
    [
        ([_obs("2160-0", "2025-01-01", 1.2, "mg/dL")], 106.1),
        ([_obs("14682-9", "2025-01-01", 150, "umol/L")], 150.0),
        ([_obs("14682-9", "2025-01-01", 150, "µmol/L")], 150.0),
        ([_obs("2160-0", "2025-01-01", 12, "mg/L")], 106.1),
        ([_obs("14682-9", "2025-01-01", 0.2, "mmol/L")], 200.0),
        ([_obs("2160-0", "2025-01-01", 1.0)], 88.42),  # no unit: the LOINC code's own (mg/dL)
        ([_obs("2160-0", "2024-01-01", 1.0, "mg/dL"), _obs("14682-9", "2025-03-01", 300, "umol/L")], 300.0),
        (
            [
                _obs("14682-9", "2025-05-01", 90, "umol/L", status="entered-in-error"),
                _obs("14682-9", "2025-01-01", 300, "umol/L"),
            ],
            300.0,
        ),
        ([_obs("2160-0", "2025-01-01", 1.0, "g/L")], None),
        ([], None),
    ],
)
def test_latest_creatinine_in_umol_per_litre(
    observations: list[dict[str, Any]], expected: float | None
) -> None:
    assert facts.patient_facts(None, observations, TODAY).creatinine_umol_l == expected


def test_weight_sex_and_age_from_the_record() -> None:
    patient = {"resourceType": "Patient", "gender": "female", "birthDate": "1980-06-01"}
    observations = [_obs("29463-7", "2025-01-01", 61500, "g"), _obs("29463-7", "2024-01-01", 70, "kg")]
    found = facts.patient_facts(patient, observations, TODAY)
    assert (found.sex, found.weight_kg, found.age_years) == ("female", 61.5, 45.0)
    assert facts.patient_facts({"resourceType": "Patient", "gender": "other"}, [], TODAY).sex is None


def _condition(system: str, code: str, clinical: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "code": _concept(system, code),
        "clinicalStatus": _concept("http://terminology.hl7.org/CodeSystem/condition-clinical", clinical),
    }


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        (
            [{**_obs("82810-3", "2025-01-01"), "valueCodeableConcept": _concept(facts.SNOMED, "77386006")}],
            True,
        ),
        (
            [{**_obs("82810-3", "2025-01-01"), "valueCodeableConcept": _concept(facts.LOINC, "LA26683-5")}],
            False,
        ),
        ([_condition(facts.SNOMED, "77386006")], True),
        ([_condition("http://hl7.org/fhir/sid/icd-10", "Z34.0")], True),
        ([_condition(facts.SNOMED, "77386006", "resolved")], None),
        ([], None),
    ],
)
def test_pregnancy(resources: list[dict[str, Any]], expected: bool | None) -> None:
    assert facts.patient_facts(None, resources, TODAY).pregnant is expected


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ([{**_obs("63895-7", "2025-01-01"), "valueCodeableConcept": _concept(facts.LOINC, "LA33-6")}], True),
        ([{**_obs("63895-7", "2025-01-01"), "valueBoolean": False}], False),
        ([_condition(facts.SNOMED, "413712001")], True),
        ([], None),
    ],
)
def test_breastfeeding(resources: list[dict[str, Any]], expected: bool | None) -> None:
    assert facts.patient_facts(None, resources, TODAY).breastfeeding is expected


def test_allergies_active_ones_with_reaction_substances() -> None:
    status = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
    allergies: list[dict[str, Any]] = [
        {"resourceType": "AllergyIntolerance", "code": _concept(ATC, "J01CA04", text="Amoxicilline"),
         "reaction": [{"substance": _concept(SUBSTANCE, "5555")}]},
        {"resourceType": "AllergyIntolerance", "code": _concept(ATC, "N02BE01"),
         "clinicalStatus": _concept(status, "resolved")},
        {"resourceType": "AllergyIntolerance", "code": {"text": "pénicilline"}},
    ]  # fmt: skip
    found = facts.patient_facts(None, allergies, TODAY).allergies
    assert [(tuple(c.code for c in a.codes), a.text) for a in found] == [
        (("J01CA04", "5555"), "Amoxicilline"),
        ((), "pénicilline"),
    ]
