"""The prescription screen's pure parts (hygie/web/workspace/prescribing.py): the dose form and its
limits, the draft order and its dosage, the finding cards and the signature Bundle."""

from __future__ import annotations

import pytest

from hygie.cds.catalogue import Product
from hygie.cds.facts import daily_dose_mg
from hygie.cds.findings import Finding
from hygie.cds.model import CIS, DrugItem
from hygie.web.workspace import prescribing as rx

PRODUCT = Product("64755969", "KARDEGIC 75 mg", (("ACIDE ACETYLSALICYLIQUE", 75.0),), "B01AC06")


@pytest.mark.parametrize(
    ("dose", "errors"),
    [
        (rx.Dose(amount="75"), []),
        (rx.Dose(amount="0,5", unit="g", per_day="3"), []),
        (rx.Dose(amount="100000"), []),  # the upper bound is allowed
        (rx.Dose(amount="100000,0001"), ["ws_rx_error_amount"]),
        (rx.Dose(amount="0"), ["ws_rx_error_amount"]),
        (rx.Dose(amount="-1"), ["ws_rx_error_amount"]),
        (rx.Dose(amount="1e3"), ["ws_rx_error_amount"]),
        (rx.Dose(amount="nan"), ["ws_rx_error_amount"]),
        (rx.Dose(amount="1.23456"), ["ws_rx_error_amount"]),  # at most 4 decimals
        (rx.Dose(amount="75", unit="pint"), ["ws_rx_error_unit"]),
        (rx.Dose(amount="75", per_day="0"), ["ws_rx_error_per_day"]),
        (rx.Dose(amount="75", per_day="6"), []),
        (rx.Dose(amount="75", per_day="7"), ["ws_rx_error_per_day"]),
        (rx.Dose(), ["ws_rx_error_empty"]),
        (rx.Dose(text="1 sachet le midi"), []),  # words only: allowed
        (rx.Dose(amount="75", days="1"), []),
        (rx.Dose(amount="75", days="365"), []),
        (rx.Dose(amount="75", days="366"), ["ws_rx_error_days"]),
        (rx.Dose(amount="75", days="0"), ["ws_rx_error_days"]),
        (rx.Dose(amount="75", days="7j"), ["ws_rx_error_days"]),
        (rx.Dose(amount="75", text="x" * 500), []),
        (rx.Dose(amount="75", text="x" * 501), ["ws_rx_error_text"]),
    ],
)
def test_dose_limits(dose: rx.Dose, errors: list[str]) -> None:
    assert rx.dose_errors(dose) == errors


@pytest.mark.parametrize(
    ("dose", "text", "mg_per_day"),
    [
        (rx.Dose(amount="75"), "75 mg 1 fois par jour", 75.0),
        (
            rx.Dose(amount="0,5", unit="g", per_day="3", days="7"),
            "0,5 g 3 fois par jour, pendant 7 jours",
            1500.0,
        ),
        (rx.Dose(amount="100", unit="ug", per_day="2"), "100 µg 2 fois par jour", 0.2),
        (
            rx.Dose(amount="1", unit="unit", per_day="2", text="au repas"),
            "1 unité(s) 2 fois par jour, au repas",
            None,
        ),
        (rx.Dose(text="selon INR"), "selon INR", None),
    ],
)
def test_the_draft_order_and_its_daily_dose(dose: rx.Dose, text: str, mg_per_day: float | None) -> None:
    order = rx.draft_order(
        PRODUCT, dose, patient="p1", requester="Practitioner/gp", now="2026-11-23T08:00:00+00:00"
    )
    assert order["status"] == "draft" and order["intent"] == "order"
    assert order["medicationCodeableConcept"]["coding"][0] == {
        "system": CIS,
        "code": "64755969",
        "display": "KARDEGIC 75 mg",
    }
    assert order["dosageInstruction"][0]["text"] == text
    assert daily_dose_mg(order) == mg_per_day  # what the maximum-dose rules read
    assert ("dispenseRequest" in order) == bool(dose.days)
    assert rx.dose_of(order) == dose  # the "change the dose" form shows what was written


def test_changing_the_dose_replaces_dosage_and_duration() -> None:
    order = rx.draft_order(
        PRODUCT, rx.Dose(amount="75", days="30"), patient="p1", requester="Practitioner/gp", now="t"
    )
    changed = rx.with_dose(order, rx.Dose(amount="160"))
    assert "dispenseRequest" not in changed and rx.dose_of(changed) == rx.Dose(amount="160")
    assert changed["medicationCodeableConcept"] == order["medicationCodeableConcept"]


def finding(level: str, items: tuple[str, ...]) -> Finding:
    return Finding(
        "interaction", level, items, ("A", "B"), "méca", "conduite", "ANSM — Thésaurus", "septembre 2023",
        detail={"egfr": 21.4, "notes": ["internal"], "threshold": 30},
    )  # fmt: skip


def test_cards_need_a_reason_for_critical_and_warning_only_and_keep_a_stable_key() -> None:
    items = {
        "MedicationRequest/d1": DrugItem("MedicationRequest/d1", (), "KARDEGIC", draft=True),
        "MedicationRequest/w": DrugItem("MedicationRequest/w", (), "COUMADINE"),
    }
    found = [
        finding(level, ("MedicationRequest/w", "MedicationRequest/d1"))
        for level in ("CI", "AD", "PE", "APEC")
    ]
    key = rx.finding_key(found[0])
    shown = rx.cards(found, items, {key: "monitoring-planned", rx.finding_key(found[1]): "made-up"}, "fr")
    assert [c.indicator for c in shown] == ["critical", "warning", "info", "info"]
    assert [c.needs_reason for c in shown] == [True, True, False, False]
    assert shown[0].reason == "monitoring-planned" and shown[1].reason == ""  # unknown reasons dropped
    assert rx.missing_reasons(shown) == [shown[1]]
    assert shown[0].drafts == (("d1", "KARDEGIC"),) and shown[0].others == ("COUMADINE",)
    assert shown[0].figures == (("egfr", "21,4"), ("threshold", "30"))  # internal notes are not shown
    assert rx.finding_key(finding("CI", ("MedicationRequest/w", "MedicationRequest/d1"))) == key
    assert rx.finding_key(finding("CI", ("MedicationRequest/w", "MedicationRequest/d2"))) != key


def test_the_signature_bundle() -> None:
    items = {"MedicationRequest/d1": DrugItem("MedicationRequest/d1", (), "KARDEGIC", draft=True)}
    order = rx.draft_order(PRODUCT, rx.Dose(amount="75"), patient="p1", requester="Practitioner/gp", now="t0")
    draft = {**order, "id": "d1", "meta": {"versionId": "3"}}
    shown = rx.cards([finding("AD", ("MedicationRequest/d1",))], items, {}, "fr")
    shown = [
        rx.Card(**{**{f: getattr(shown[0], f) for f in rx.Card.__slots__}, "reason": "already-tolerated"})
    ]
    bundle = rx.signature_bundle(
        {"MedicationRequest/d1": draft}, shown, items, patient="p1", author="Practitioner/gp", now="t1",
        reason_text={"already-tolerated": "Déjà toléré"},
        group="0123456789abcdef",
    )  # fmt: skip
    assert bundle["type"] == "transaction"
    signed, issue = (e["resource"] for e in bundle["entry"])
    assert bundle["entry"][0]["request"] == {
        "method": "PUT",
        "url": "MedicationRequest/d1",
        "ifMatch": 'W/"3"',
    }
    assert signed["status"] == "active" and signed["authoredOn"] == "t1" and "meta" not in signed
    assert signed["groupIdentifier"] == {"system": rx.GROUP_SYSTEM, "value": "0123456789abcdef"}
    assert issue["resourceType"] == "DetectedIssue" and issue["status"] == "final"
    assert issue["implicated"] == [{"reference": "MedicationRequest/d1", "display": "KARDEGIC"}]
    assert issue["mitigation"][0]["action"]["text"] == "Déjà toléré"
    assert issue["author"] == {"reference": "Practitioner/gp"}


G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"


def role(code: str, system: str = G15, active: bool = True) -> dict[str, object]:
    return {
        "resourceType": "PractitionerRole",
        "active": active,
        "code": [{"coding": [{"system": system, "code": code}]}],
    }


@pytest.mark.parametrize(
    ("roles", "codes", "may"),
    [
        ([], set(), True),  # no recorded profession: the access policy alone decides
        ([role("10")], {"10"}, True),  # physician
        ([role("40")], {"40"}, True),  # dentist
        ([role("50")], {"50"}, True),  # midwife
        ([role("60")], {"60"}, False),  # nurse
        ([role("21")], {"21"}, False),  # pharmacist
        ([role("60"), role("10")], {"10", "60"}, True),  # one of the roles prescribes
        ([role("10", active=False), role("60")], {"60"}, False),  # an inactive role does not count
        ([role("10", system="urn:oid:1.2.250.1.71.1.2.7")], {"10"}, True),  # TRE-G15 by its OID
        ([role("10", system="http://example.org/other")], set(), True),  # another system: unknown
    ],
)
def test_who_may_prescribe(roles: list[dict[str, object]], codes: set[str], may: bool) -> None:
    assert rx.professions(roles) == codes
    assert rx.may_prescribe(codes) is may


def order(oid: str, number: str | None, authored: str, status: str = "active") -> dict[str, object]:
    found: dict[str, object] = {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": authored,
        "medicationCodeableConcept": {"text": oid},
        "dosageInstruction": [{"text": "1 par jour"}],
    }
    if number is not None:
        found["groupIdentifier"] = {"system": rx.GROUP_SYSTEM, "value": number}
    return found


def test_earlier_prescriptions_grouped_latest_first_and_renewed() -> None:
    a, b = "a" * 16, "b" * 16
    orders = [
        order("o1", a, "2026-11-01T08:00:00+00:00"),
        order("o2", a, "2026-11-01T08:00:00+00:00", status="completed"),
        order("o3", b, "2026-11-20T08:00:00+00:00"),
        order("o4", b, "2026-11-20T08:00:00+00:00", status="entered-in-error"),  # left out
        order("o5", None, "2026-11-21T08:00:00+00:00"),  # not signed on the screen: no number
        order("o6", "not-hex", "2026-11-22T08:00:00+00:00"),
        order("o7", "c" * 16, "2026-11-22T08:00:00+00:00", status="draft"),
    ]
    found = rx.signed_prescriptions(orders)
    assert [(s.number, [o["id"] for o in s.orders]) for s in found] == [(b, ["o3"]), (a, ["o1", "o2"])]
    many = [order(f"x{n}", f"{n:016x}", f"2026-10-{n + 1:02d}T08:00:00+00:00") for n in range(15)]
    assert len(rx.signed_prescriptions(many)) == rx.MAX_HISTORY
    draft = rx.renewal(orders[0], requester="Practitioner/gp", now="t")
    assert draft["status"] == "draft" and draft["priorPrescription"] == {"reference": "MedicationRequest/o1"}
    assert draft["dosageInstruction"] == orders[0]["dosageInstruction"] and "id" not in draft
    assert "groupIdentifier" not in draft and draft["requester"] == {"reference": "Practitioner/gp"}
