"""The prescription screen of the clinician workspace (both databases): find a drug in the BDPM,
write the dose, see the medication-safety findings against the patient's record, remove or
change a draft, sign with a reason for what is gone past — and bad or stale input changes nothing.

Patient alice (tests/security/smart_support.py, GP drmartin = Practitioner/gp) gets: warfarin
(COUMADINE) as a current treatment, a high-criticality penicillin allergy, age 80, 60 kg and a
serum creatinine of 200 µmol/L (eGFR ≈ 21 mL/min/1.73 m²: metformin contra-indicated below 30).
"""

from __future__ import annotations

import html
import re
from typing import Any

from hygie.settings import Settings
from tests.security.smart_support import Installation, hidden_fields, installation
from tests.support import operator_header
from tests.web.support import login, put_resources, text_by_id
from tests.web.workspace.support import demo_installation

PAGE = "/workspace/patient/alice/prescription"
CIS = "http://data.esante.gouv.fr/ansm/medicament/SpecialitePharmaceutique"
COUMADINE = "63245753"  # COUMADINE 5 mg, comprimé sécable (warfarine)
KARDEGIC = "64755969"  # KARDEGIC 75 mg, poudre pour solution buvable en sachet-dose (aspirine)
GLUCOPHAGE = "67547090"  # GLUCOPHAGE 850 mg, comprimé pelliculé (metformine)


def record(inst: Installation) -> None:
    put_resources(
        inst,
        {
            "resourceType": "Patient",
            "id": "alice",
            "gender": "female",
            "birthDate": "1946-03-02",
            "name": [{"family": "Durand", "given": ["Alice"]}],
            "generalPractitioner": [{"reference": "Practitioner/gp"}],
        },
        {
            "resourceType": "MedicationRequest",
            "id": "warf",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/alice"},
            "medicationCodeableConcept": {
                "coding": [{"system": CIS, "code": COUMADINE}],
                "text": "COUMADINE 5 mg, comprimé sécable",
            },
            "dosageInstruction": [{"text": "1 comprimé le soir"}],
        },
        {
            "resourceType": "AllergyIntolerance",
            "id": "pen",
            "patient": {"reference": "Patient/alice"},
            "criticality": "high",
            "code": {"text": "Pénicillines"},
        },
        {
            "resourceType": "Observation",
            "id": "weight",
            "status": "final",
            "subject": {"reference": "Patient/alice"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "effectiveDateTime": "2026-11-01T09:00:00+01:00",
            "valueQuantity": {"value": 60, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
        },
        {
            "resourceType": "Observation",
            "id": "creat",
            "status": "final",
            "subject": {"reference": "Patient/alice"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "14682-9"}]},
            "effectiveDateTime": "2026-11-01T09:00:00+01:00",
            "valueQuantity": {
                "value": 200,
                "unit": "µmol/L",
                "system": "http://unitsofmeasure.org",
                "code": "umol/L",
            },
        },
    )


def form(page: str, form_id: str) -> dict[str, str]:
    """The hidden fields of the form with ``id`` ``form_id``, or of the first form inside the
    element with that id."""
    at = page.index(f'id="{form_id}"')
    tag = page.rindex("<", 0, at)
    if not page.startswith("<form", tag):
        tag = page.index("<form", at)
    return hidden_fields(page[tag : page.index("</form>", tag)])


def post(inst: Installation, page: str, form_id: str, **fields: str) -> Any:
    return inst.http.post(PAGE, data={**form(page, form_id), **fields}, follow_redirects=False)


def fhir(inst: Installation, path: str) -> dict[str, Any]:
    answer = inst.http.get(f"/fhir/{path}", headers=operator_header(inst.settings))
    assert answer.status_code == 200, answer.text[:300]
    found: dict[str, Any] = answer.json()
    return found


def entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry") or []]


def drafts(inst: Installation) -> list[dict[str, Any]]:
    return entries(fhir(inst, "MedicationRequest?patient=alice&status=draft"))


def add(inst: Installation, cis: str, **dose: str) -> Any:
    page = inst.http.get(f"{PAGE}?cis={cis}")
    assert page.status_code == 200 and 'id="add-form"' in page.text
    return post(inst, page.text, "add-form", **dose)


def test_find_add_check_and_sign_with_a_reason(settings: Settings) -> None:
    with installation(settings) as inst:
        record(inst)
        login(inst, "drmartin", lang="en")
        empty = inst.http.get(PAGE)
        assert empty.status_code == 200, empty.text[:500]
        assert 'href="/workspace/patient/alice/prescription" aria-current="page"' in empty.text  # the tab
        assert "No drug yet" in text_by_id(empty.text, "draft-list")
        assert "COUMADINE 5 mg" in text_by_id(empty.text, "current-list")
        assert 'id="sign-form"' not in empty.text

        found = inst.http.get(PAGE, params={"q": "kardegic 75"})
        results = text_by_id(found.text, "drug-results")
        assert "KARDEGIC 75 mg" in results and "acide acetylsalicylique" in results and "B01AC06" in results
        link = re.search(r'href="([^"]*cis=' + KARDEGIC + r'[^"]*)"', found.text)
        assert link is not None
        chosen = inst.http.get(html.unescape(link.group(1)))
        assert 'id="add-form"' in chosen.text and f'name="cis" value="{KARDEGIC}"' in chosen.text

        added = post(inst, chosen.text, "add-form", amount="75", unit="mg", per_day="1", days="30",
                     text="le midi")  # fmt: skip
        assert added.status_code == 303 and "done=added" in added.headers["location"]
        (draft,) = drafts(inst)
        assert draft["requester"] == {"reference": "Practitioner/gp"} and draft["intent"] == "order"
        assert {
            "system": CIS,
            "code": KARDEGIC,
            "display": draft["medicationCodeableConcept"]["text"],
        } in draft["medicationCodeableConcept"]["coding"]
        dosage = draft["dosageInstruction"][0]
        assert dosage["doseAndRate"][0]["doseQuantity"]["code"] == "mg"
        assert dosage["timing"]["repeat"] == {"frequency": 1, "period": 1, "periodUnit": "d"}
        assert dosage["patientInstruction"] == "le midi" and "pendant 30 jours" in dosage["text"]
        assert draft["dispenseRequest"]["expectedSupplyDuration"]["value"] == 30

        page = inst.http.get(PAGE)
        assert "KARDEGIC 75 mg" in text_by_id(page.text, "draft-list")
        cards = re.findall(
            r'<article class="card ws-finding ws-finding--(\w+)" id="finding-(\w+)"', page.text
        )
        assert ("warning", cards[0][1]) == cards[0]  # warfarin + aspirin: not recommended (AD)
        first = text_by_id(page.text, f"finding-{cards[0][1]}-title")
        assert "Combination not recommended" in first and "ACIDE ACETYLSALICYLIQUE" in first
        assert "Thésaurus des interactions médicamenteuses, edition septembre 2023" in text_by_id(
            page.text, f"finding-{cards[0][1]}-source"
        )
        assert 'lang="fr"' in page.text  # the source's French words are marked as such

        refused = post(inst, page.text, "sign-form")  # no reason for the AD finding
        assert refused.status_code == 400
        assert f'id="reason-{cards[0][1]}-error"' in refused.text
        assert drafts(inst) and not entries(fhir(inst, "DetectedIssue?patient=alice"))

        reasons = {f"reason-{key}": "monitoring-planned" for kind, key in cards if kind != "info"}
        signed = post(inst, page.text, "sign-form", **reasons)
        assert signed.status_code == 303, signed.text[:500]
        assert "done=signed" in signed.headers["location"]
        assert drafts(inst) == []
        active = fhir(inst, f"MedicationRequest/{draft['id']}")
        assert active["status"] == "active" and active["meta"]["versionId"] != draft["meta"]["versionId"]
        issues = entries(fhir(inst, "DetectedIssue?patient=alice&_count=50"))
        assert len(issues) == len(cards)
        gone_past = [i for i in issues if i.get("mitigation")]
        assert len(gone_past) == len(reasons)
        for issue in gone_past:
            assert issue["status"] == "final" and issue["author"] == {"reference": "Practitioner/gp"}
            action = issue["mitigation"][0]["action"]
            assert action["coding"][0]["code"] == "monitoring-planned"
            assert action["text"] == "Surveillance clinique et biologique prévue"
            assert {"reference": f"MedicationRequest/{draft['id']}"} in [
                {"reference": i.get("reference")} for i in issue["implicated"]
            ]
        after = inst.http.get(signed.headers["location"])
        assert "The prescription is signed" in text_by_id(after.text, "rx-done")
        assert "KARDEGIC 75 mg" in text_by_id(after.text, "current-list")
        number = active["groupIdentifier"]["value"]
        assert active["groupIdentifier"]["system"] == "https://hygie.health/fhir/sid/prescription"
        link = re.search(r'id="print-link" href="([^"]+)"|href="([^"]+)" id="print-link"', after.text)
        assert link is not None and link.group(2) == f"{PAGE}/{number}"
        printed = inst.http.get(f"{PAGE}/{number}")
        assert printed.status_code == 200
        assert "Martin" in text_by_id(printed.text, "prescriber")
        assert text_by_id(printed.text, "print-patient").startswith("Alice Durand — Female — 80 years old")
        assert "weight: 60 kg" in text_by_id(printed.text, "print-patient")
        lines = text_by_id(printed.text, "print-lines")
        assert "KARDEGIC 75 mg" in lines and "75 mg 1 fois par jour, pendant 30 jours, le midi" in lines
        assert "Prescriber's signature" in html.unescape(printed.text)
        for other in ("0123456789abcdef", "not-a-number", number.upper()):
            assert inst.http.get(f"{PAGE}/{other}").status_code == 404

        # renewing it: new drafts with the same drug and dosage, pointing at the signed order
        assert f'id="signed-{number}"' in after.text and "KARDEGIC 75 mg" in text_by_id(
            after.text, "history-list"
        )
        renewed = post(inst, after.text, f"renew-{number}")
        assert renewed.status_code == 303 and "done=renewed" in renewed.headers["location"]
        (again,) = drafts(inst)
        assert again["priorPrescription"] == {"reference": f"MedicationRequest/{draft['id']}"}
        assert again["dosageInstruction"] == active["dosageInstruction"] and again["id"] != draft["id"]
        assert again["medicationCodeableConcept"] == active["medicationCodeableConcept"]
        unknown = post(inst, after.text, f"renew-{number}", number="0123456789abcdef")
        assert unknown.status_code == 409 and len(drafts(inst)) == 1


def test_allergy_and_kidney_findings_remove_and_change_the_dose(settings: Settings) -> None:
    with installation(settings) as inst:
        record(inst)
        login(inst, "drmartin")
        found = inst.http.get(PAGE, params={"q": "amoxicilline 500"})
        amoxicillin = re.search(r"cis=(\d{8})", found.text)
        assert amoxicillin is not None
        assert add(inst, amoxicillin.group(1), amount="1", unit="g", per_day="3").status_code == 303
        assert add(inst, GLUCOPHAGE, amount="850", unit="mg", per_day="2").status_code == 303
        page = inst.http.get(PAGE)
        titles = [
            text_by_id(page.text, f"finding-{key}-title")
            for key in re.findall(r'id="finding-(\w+)-title"', page.text)
        ]
        assert any("Allergie" in t and "pénicillines" in t for t in titles), titles
        assert any("Fonction rénale" in t and "METFORMINE" in t for t in titles), titles
        assert re.search(r"DFG \(CKD-EPI 2021\) : 2\d,\d mL/min/1,73 m² ; clairance", page.text)
        by_name = {d["medicationCodeableConcept"]["text"]: d for d in drafts(inst)}
        metformin = next(d for name, d in by_name.items() if "GLUCOPHAGE" in name)
        amoxi = next(d for name, d in by_name.items() if "GLUCOPHAGE" not in name)
        assert f'form="remove-{amoxi["id"]}"' in page.text  # the allergy card offers to remove it

        changed = post(
            inst, page.text, f"edit-{metformin['id']}", amount="500", unit="mg", per_day="1", days=""
        )
        assert changed.status_code == 303 and "done=changed" in changed.headers["location"]
        now = fhir(inst, f"MedicationRequest/{metformin['id']}")
        assert now["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 500
        assert now["status"] == "draft"

        page = inst.http.get(PAGE)
        removed = post(inst, page.text, f"remove-{amoxi['id']}")
        assert removed.status_code == 303 and "done=removed" in removed.headers["location"]
        assert [d["id"] for d in drafts(inst)] == [metformin["id"]]
        again = post(inst, page.text, f"remove-{amoxi['id']}")  # the same button, once more
        assert again.status_code == 409 and "plus dans votre ordonnance en cours" in html.unescape(again.text)


def test_bad_and_stale_input_changes_nothing(settings: Settings) -> None:
    with installation(settings) as inst:
        record(inst)
        login(inst, "drmartin", lang="en")
        chosen = inst.http.get(f"{PAGE}?cis={KARDEGIC}")
        for fields, message in (
            ({"amount": "abc"}, "Give a dose between 0 and 100,000"),
            ({"amount": "0"}, "Give a dose between 0 and 100,000"),
            ({"amount": "", "text": ""}, "Give a dose or write the dosage"),
            ({"amount": "75", "unit": "pint"}, "Choose a unit"),
            ({"amount": "75", "per_day": "9"}, "Choose a number of intakes"),
            ({"amount": "75", "days": "999"}, "Give a duration of 1 to 365 days"),
            ({"amount": "75", "text": "x" * 501}, "must not exceed 500 characters"),
            ({"amount": "75", "cis": "99999999"}, "This drug is not among the marketed drugs"),
            ({"amount": "75", "cis": "<script>"}, "This drug is not among the marketed drugs"),
        ):
            answer = post(inst, chosen.text, "add-form", **fields)
            assert answer.status_code == 400, fields
            assert message in html.unescape(answer.text), fields
        assert drafts(inst) == []
        assert (
            inst.http.post(PAGE, data={**form(chosen.text, "add-form"), "action": "fly"}).status_code == 400
        )
        no_csrf = {k: v for k, v in form(chosen.text, "add-form").items() if k != "csrf"}
        assert inst.http.post(PAGE, data={**no_csrf, "amount": "75"}).status_code == 403
        assert drafts(inst) == []

        assert add(inst, KARDEGIC, amount="75").status_code == 303
        shown = inst.http.get(PAGE)
        assert add(inst, GLUCOPHAGE, amount="850", per_day="2").status_code == 303  # in another tab
        reasons = dict.fromkeys(re.findall(r'name="(reason-\w+)"', shown.text), "benefit-outweighs-risk")
        stale = post(inst, shown.text, "sign-form", **reasons)
        assert stale.status_code == 409 and "changed since it was shown" in stale.text
        assert all(d["status"] == "draft" for d in drafts(inst)) and len(drafts(inst)) == 2
        assert entries(fhir(inst, "DetectedIssue?patient=alice")) == []
        bogus = post(inst, shown.text, "sign-form", version="x@1")
        assert bogus.status_code == 409
        other = inst.http.post(
            PAGE, data={**form(shown.text, "sign-form"), "action": "remove", "draft": "warf"}
        )
        assert other.status_code == 409  # an active order is not a draft to remove here
        assert fhir(inst, "MedicationRequest/warf")["status"] == "active"
        assert inst.http.get("/workspace/patient/bob/prescription").status_code == 404  # not his patient


def test_only_prescribing_professions_write_prescriptions(settings: Settings) -> None:
    """On the demo data, the GP (TRE-G15 profession 10, physician) gets the forms; the ward nurse
    (60) sees the treatments and their checks, and her POSTs are refused with nothing written."""
    with demo_installation(settings) as inst:
        login(inst, "doc")
        gp = inst.http.get("/workspace/patient/demo-p00007/prescription")
        assert (
            gp.status_code == 200
            and 'id="drug-search"' in gp.text
            and 'id="rx-not-prescriber"' not in gp.text
        )
        inst.http.cookies.clear()
        login(inst, "nurse", lang="en")
        path = "/workspace/patient/demo-p00003/prescription"
        nurse = inst.http.get(f"{path}?cis={KARDEGIC}")
        assert nurse.status_code == 200
        assert "Your profession does not prescribe medicines here" in text_by_id(
            nurse.text, "rx-not-prescriber"
        )
        assert 'id="drug-search"' not in nurse.text and 'id="add-form"' not in nurse.text
        assert "<form" not in nurse.text.split('id="tab-title"')[1]  # no form in the tab
        token = re.search(r'name="csrf" value="([^"]+)"', nurse.text)
        assert token is not None
        refused = inst.http.post(
            path, data={"csrf": token.group(1), "action": "add", "cis": KARDEGIC, "amount": "75"}
        )
        assert refused.status_code == 403
        found = fhir(inst, "MedicationRequest?patient=demo-p00003&status=draft")
        assert entries(found) == []
