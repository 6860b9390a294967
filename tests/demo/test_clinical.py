"""Clinical consistency of the demo population: treatments fit conditions, devices fit patients,
newborns have mothers, and the deteriorating patients alert rules must find are there."""

from __future__ import annotations

from typing import Any

from hygie.demo.common import ATC, CIS, ICD10, data
from hygie.demo.population import SCENARIOS, deteriorating
from tests.demo.support import SIZE, by_patient, codes, of_type, resources

CGM = "99504-3"
HBA1C = "4548-4"
DIABETES = {"E10.9", "E11.9"}


def _loinc(observation: dict[str, Any]) -> set[str]:
    return {code for system, code in codes(observation) if system == "http://loinc.org"}


def _diabetics(size: int = SIZE) -> set[str]:
    return {
        who
        for who, conditions in by_patient("Condition", size).items()
        if any((ICD10, code) in codes(c) for c in conditions for code in DIABETES)
    }


def test_diabetic_patients_have_antidiabetics_hba1c_and_a_cgm() -> None:
    diabetics = _diabetics(120)
    requests = by_patient("MedicationRequest", 120)
    observations = by_patient("Observation", 120)
    assert len(diabetics) >= 4
    for who in diabetics:
        atc = {code for r in requests[who] for s, code in codes(r, "medicationCodeableConcept") if s == ATC}
        assert any(code.startswith("A10") for code in atc), who
        loinc = set().union(*(_loinc(o) for o in observations[who]))
        assert HBA1C in loinc and CGM in loinc, who


def test_cgm_streams_only_for_diabetics_every_five_minutes() -> None:
    diabetics = _diabetics(120)
    streams = [o for o in of_type("Observation", 120) if CGM in _loinc(o)]
    assert streams
    for stream in streams:
        assert stream["subject"]["reference"] in diabetics
        sampled = stream["valueSampledData"]
        assert sampled["period"] == 5 * 60_000
        assert sampled["origin"]["code"] == "mg/dL"
        assert stream["device"]["reference"].startswith("Device/")
    full_days = [s for s in streams if len(s["valueSampledData"]["data"].split()) == 288]
    assert full_days


def test_medications_are_bdpm_specialities_with_their_atc() -> None:
    shipped = {d["cis"]: d for d in data("drugs")["drugs"]}
    prescriptions = of_type("MedicationRequest") + of_type("MedicationStatement")
    assert prescriptions
    for item in prescriptions:
        found = dict(codes(item, "medicationCodeableConcept"))
        assert found[CIS] in shipped
        assert found[ATC] == shipped[found[CIS]]["atc"]


def test_newborns_have_a_mother_in_the_population() -> None:
    patients = {f"Patient/{p['id']}": p for p in of_type("Patient")}
    mothers = of_type("RelatedPerson")
    assert mothers
    for related in mothers:
        baby = patients[related["patient"]["reference"]]
        assert related["relationship"][0]["coding"][0]["code"] == "MTH"
        (mother,) = [
            p
            for p in patients.values()
            if any(
                link["other"]["reference"] == f"RelatedPerson/{related['id']}" for link in p.get("link", [])
            )
        ]
        assert mother["gender"] == "female"
        assert mother["name"][0]["family"] == baby["name"][0]["family"] == related["name"][0]["family"]
        assert baby["birthDate"] > mother["birthDate"]
        assert baby["generalPractitioner"] == mother["generalPractitioner"]


def test_pregnancies_and_births_are_recorded() -> None:
    icd = {code for c in of_type("Condition") for s, code in codes(c) if s == ICD10}
    assert {"Z33", "O80", "Z38.0"} <= icd


def test_the_deteriorating_patients_exist_and_deteriorate() -> None:
    listed = deteriorating(SIZE)
    assert sorted(d.kind for d in listed) == sorted(SCENARIOS.values())
    observations = by_patient("Observation")
    kinds = {f"Patient/{d.patient}": d.kind for d in listed}
    for who, kind in kinds.items():
        mine = observations[who]
        if kind in ("sepsis", "respiratory"):
            series = sorted(
                (o["effectiveDateTime"], o["valueQuantity"]["value"])
                for o in mine
                if "9279-1" in _loinc(o) and "effectiveDateTime" in o
            )
            spo2 = sorted(
                (o["effectiveDateTime"], o["valueQuantity"]["value"])
                for o in mine
                if "59408-5" in _loinc(o) and "effectiveDateTime" in o
            )
            assert series[-1][1] >= series[0][1] + 8, (who, series)  # respiratory rate climbs
            assert spo2[-1][1] <= spo2[0][1] - 4, (who, spo2)  # saturation falls
        else:
            glucose = [
                int(v) for o in mine if CGM in _loinc(o) for v in o["valueSampledData"]["data"].split()
            ]
            if kind == "hypoglycaemia":
                assert min(glucose) < 54, who
            else:
                assert sum(v > 250 for v in glucose) > 200, who


def test_inpatients_have_a_care_team_with_their_ward() -> None:
    teams = [t for t in of_type("CareTeam") if "subject" in t]
    stays = [e for e in of_type("Encounter") if e["status"] == "in-progress"]
    assert len(teams) == len(stays) >= 2
    for team in teams:
        members = {p["member"]["reference"] for p in team["participant"]}
        assert any(m.startswith("Organization/demo-org-") for m in members)


def test_vaccinations_follow_the_french_schedule_for_children() -> None:
    children = [p for p in of_type("Patient", 60) if p["birthDate"] >= "2022-01-01"]
    shots = by_patient("Immunization", 60)
    assert children
    schedule = {v["atc"] for v in data("vaccines")["schedule"]}
    for child in children:
        given = {code for i in shots.get(f"Patient/{child['id']}", []) for _, code in codes(i, "vaccineCode")}
        assert given <= schedule


def test_lab_results_use_french_units_and_reference_ranges() -> None:
    labs = [
        o
        for o in resources()
        if o["resourceType"] == "Observation"
        and o["category"][0]["coding"][0]["code"] == "laboratory"
        and "valueQuantity" in o
    ]
    units = {o["valueQuantity"]["code"] for o in labs}
    assert {"g/L", "umol/L"} & units
    assert all("referenceRange" in o for o in labs)
