"""The prescription screen's pure parts: the dose form, the draft order, the alert cards, the
signature Bundle (no I/O; the pages are in :mod:`hygie.web.workspace.prescription`).

- A draft order is a FHIR R4 MedicationRequest (https://hl7.org/fhir/R4/medicationrequest.html)
  with ``status`` ``draft``, ``intent`` ``order``, the prescriber as ``requester``, the product
  coded with its CIS (ANS ePrescription guide system, :data:`hygie.cds.model.CIS`) and ATC when
  known, and a ``dosageInstruction`` (https://hl7.org/fhir/R4/dosage.html): the dose as a UCUM
  ``doseQuantity`` (mg, g, µg — so the maximum-dose rules can compute a daily dose — or dosage
  units), the times per day as ``timing.repeat`` (frequency per 1 day), the prescriber's own words
  as ``patientInstruction`` and the whole instruction in words as ``text``; the duration as
  ``dispenseRequest.expectedSupplyDuration`` in days.
- Each finding of the medication-safety engine (:mod:`hygie.cds.engine`) becomes a :class:`Card`
  keyed by a digest of the finding (kind, level, drugs, substances), so the reason chosen for it
  on the page is matched to the same finding when signing.
- Signing is one FHIR transaction (https://hl7.org/fhir/R4/http.html#transaction): each draft
  updated to ``active`` under ``If-Match`` on the version shown, with the prescription's number as
  ``groupIdentifier`` (the orders authorised together), and one DetectedIssue per finding
  (https://hl7.org/fhir/R4/detectedissue.html) with the prescriber as ``author`` and, for a
  critical or warning finding gone past, a ``mitigation`` naming the override reason.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from hygie.api.checks import is_count
from hygie.cds.cards import OVERRIDE_CODES, OVERRIDE_SYSTEM, indicator
from hygie.cds.catalogue import Product
from hygie.cds.findings import Finding
from hygie.cds.hooks_detected import detected_issue
from hygie.cds.model import ATC, CIS, DrugItem
from hygie.web.charts import fmt

UCUM = "http://unitsofmeasure.org"
GROUP_SYSTEM = "https://hygie.health/fhir/sid/prescription"
"""``MedicationRequest.groupIdentifier`` of the orders signed together: the prescription's number."""
GROUP = re.compile(r"^[0-9a-f]{16}$")
UNITS = {  # form value → (UCUM code, unit text); "unit" counts dosage units (tablets, sachets…)
    "mg": ("mg", "mg"),
    "g": ("g", "g"),
    "ug": ("ug", "µg"),
    "unit": ("{unit}", "unité(s)"),
}
TIMES_PER_DAY = ("1", "2", "3", "4", "5", "6")
MAX_AMOUNT = 100_000.0
MAX_DAYS = 365
MAX_TEXT = 500
MAX_DRAFTS = 20  # orders of one prescription
MAX_ORDERS = 100  # a prescriber's latest orders for a patient: earlier prescriptions, print numbers
FIGURES = ("egfr", "crcl", "threshold", "daily_dose_mg", "max_daily_mg", "pregnancy_weeks")
"""The figures of a finding's ``detail`` shown to the prescriber (each has a label message)."""
_NUMBER = re.compile(r"^\d{1,6}(?:[.,]\d{1,4})?$")


@dataclass(frozen=True, slots=True)
class Dose:
    """The dose form as posted (texts, so the form can be shown again as typed)."""

    amount: str = ""
    unit: str = "mg"
    per_day: str = "1"
    days: str = ""
    text: str = ""


def dose_form(form: Any) -> Dose:
    """The dose fields of a posted form (``amount``, ``unit``, ``per_day``, ``days``, ``text``)."""
    return Dose(
        amount=form.get("amount").strip()[:20],
        unit=form.get("unit", "mg"),
        per_day=form.get("per_day", "1"),
        days=form.get("days").strip()[:10],
        text=" ".join(form.get("text").split())[: MAX_TEXT + 1],
    )


def dose_errors(dose: Dose) -> list[str]:
    """The message keys of what is wrong with ``dose`` ([] when it can be prescribed)."""
    errors = []
    if dose.amount:
        value = float(dose.amount.replace(",", ".")) if _NUMBER.match(dose.amount) else math.nan
        if not 0 < value <= MAX_AMOUNT:
            errors.append("ws_rx_error_amount")
        if dose.unit not in UNITS:
            errors.append("ws_rx_error_unit")
        if dose.per_day not in TIMES_PER_DAY:
            errors.append("ws_rx_error_per_day")
    elif not dose.text:
        errors.append("ws_rx_error_empty")
    if dose.days and not (is_count(dose.days) and 1 <= int(dose.days) <= MAX_DAYS):
        errors.append("ws_rx_error_days")
    if len(dose.text) > MAX_TEXT:
        errors.append("ws_rx_error_text")
    return errors


def _number(text: str) -> int | float:
    value = float(text.replace(",", "."))
    return int(value) if value.is_integer() else value


def dosage_text(dose: Dose) -> str:
    """The instruction in words (French, the language of the prescription)."""
    parts = []
    if dose.amount:
        unit = UNITS[dose.unit][1]
        times = "1 fois" if dose.per_day == "1" else f"{dose.per_day} fois"
        parts.append(f"{dose.amount} {unit} {times} par jour")
    if dose.days:
        parts.append(f"pendant {dose.days} jour{'s' if dose.days != '1' else ''}")
    if dose.text:
        parts.append(dose.text)
    return ", ".join(parts)


def dosage(dose: Dose) -> dict[str, Any]:
    """The Dosage of a valid ``dose``."""
    out: dict[str, Any] = {"text": dosage_text(dose)}
    if dose.text:
        out["patientInstruction"] = dose.text
    if dose.amount:
        code, unit = UNITS[dose.unit]
        out["timing"] = {"repeat": {"frequency": int(dose.per_day), "period": 1, "periodUnit": "d"}}
        out["doseAndRate"] = [
            {"doseQuantity": {"value": _number(dose.amount), "unit": unit, "system": UCUM, "code": code}}
        ]
    return out


def draft_order(product: Product, dose: Dose, *, patient: str, requester: str, now: str) -> dict[str, Any]:
    """The draft MedicationRequest of ``product`` at ``dose`` (both valid)."""
    codings = [{"system": CIS, "code": product.cis, "display": product.name}]
    if product.atc:
        codings.append({"system": ATC, "code": product.atc})
    order: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"coding": codings, "text": product.name},
        "subject": {"reference": f"Patient/{patient}"},
        "authoredOn": now,
        "requester": {"reference": requester},
        "dosageInstruction": [dosage(dose)],
    }
    if dose.days:
        order["dispenseRequest"] = {
            "expectedSupplyDuration": {"value": int(dose.days), "unit": "jours", "system": UCUM, "code": "d"}
        }
    return order


def with_dose(order: Mapping[str, Any], dose: Dose) -> dict[str, Any]:
    """``order`` with its dose replaced by ``dose`` (valid)."""
    changed = dict(order)
    changed["dosageInstruction"] = [dosage(dose)]
    changed.pop("dispenseRequest", None)
    if dose.days:
        changed["dispenseRequest"] = {
            "expectedSupplyDuration": {"value": int(dose.days), "unit": "jours", "system": UCUM, "code": "d"}
        }
    return changed


def dose_of(order: Mapping[str, Any]) -> Dose:
    """The dose form filled from a stored order (to change it)."""
    found = (order.get("dosageInstruction") or [{}])[0]
    found = found if isinstance(found, dict) else {}
    quantity = ((found.get("doseAndRate") or [{}])[0] or {}).get("doseQuantity") or {}
    repeat = (found.get("timing") or {}).get("repeat") or {}
    unit = next((k for k, (code, _) in UNITS.items() if code == quantity.get("code")), "mg")
    value = quantity.get("value")
    supply = ((order.get("dispenseRequest") or {}).get("expectedSupplyDuration") or {}).get("value")
    own = found.get("patientInstruction")
    if not isinstance(own, str):  # an order written elsewhere: its whole text, when it has no dose
        own = "" if value is not None else str(found.get("text") or "")
    return Dose(
        amount=str(value).replace(".", ",") if isinstance(value, int | float) else "",
        unit=unit,
        per_day=str(repeat.get("frequency", "1")),
        days=str(supply) if isinstance(supply, int) else "",
        text=own[:MAX_TEXT],
    )


# --- the findings as cards ------------------------------------------------------------------------


def finding_key(finding: Finding) -> str:
    """A short stable digest of a finding (its kind, level, drugs and substances)."""
    text = "|".join([finding.kind, finding.level, *finding.items, "/", *finding.substances])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Card:
    key: str
    indicator: str  # critical | warning | info
    finding: Finding
    drafts: tuple[tuple[str, str], ...]  # (draft id, drug name) the finding involves
    others: tuple[str, ...]  # the names of the current drugs it involves
    figures: tuple[tuple[str, str], ...]
    needs_reason: bool
    reason: str  # the override reason chosen ('' when none)


def _figure(value: Any, lang: str) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        text = repr(float(value))
        decimals = 0 if float(value).is_integer() else min(len(text.split(".")[1]), 2)
        return fmt.number(float(value), lang, decimals)
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, int | float | str) for v in value):
        return ", ".join(str(v) for v in value)
    return None


def cards(
    findings: list[Finding], items: Mapping[str, DrugItem], reasons: Mapping[str, str], lang: str
) -> list[Card]:
    """One card per finding (most severe first, as the engine sorts them)."""
    out = []
    for finding in findings:
        key = finding_key(finding)
        level = indicator(finding)
        named = [(ref, items[ref]) for ref in finding.items if ref in items]
        figures = tuple(
            (k, shown) for k in FIGURES if (shown := _figure(finding.detail.get(k), lang)) is not None
        )
        out.append(
            Card(
                key=key,
                indicator=level,
                finding=finding,
                drafts=tuple((ref.split("/")[-1], item.text or ref) for ref, item in named if item.draft),
                others=tuple(item.text or ref for ref, item in named if not item.draft),
                figures=figures,
                needs_reason=level in ("critical", "warning"),
                reason=reasons.get(key, "") if reasons.get(key, "") in OVERRIDE_CODES else "",
            )
        )
    return out


def missing_reasons(shown: list[Card]) -> list[Card]:
    """The critical and warning cards without an override reason."""
    return [c for c in shown if c.needs_reason and not c.reason]


# --- signing ----------------------------------------------------------------------------------------


def signature_bundle(
    drafts: Mapping[str, Mapping[str, Any]],
    shown: list[Card],
    items: Mapping[str, DrugItem],
    *,
    patient: str,
    author: str,
    now: str,
    reason_text: Mapping[str, str],
    group: str,
) -> dict[str, Any]:
    """The transaction signing ``drafts`` (reference → the draft as read, with its version) and
    recording the findings of ``shown`` (every critical/warning card has its reason)."""
    entries: list[dict[str, Any]] = []
    for ref, draft in drafts.items():
        signed = {k: v for k, v in draft.items() if k != "meta"}
        signed["status"] = "active"
        signed["authoredOn"] = now
        signed["groupIdentifier"] = {"system": GROUP_SYSTEM, "value": group}
        version = (draft.get("meta") or {}).get("versionId")
        request: dict[str, Any] = {"method": "PUT", "url": ref}
        if isinstance(version, str):
            request["ifMatch"] = f'W/"{version}"'
        entries.append({"resource": signed, "request": request})
    stored = {ref: replace(item, draft=False) for ref, item in items.items()}  # signed: now stored orders
    for card in shown:
        issue = detected_issue(card.finding, patient=patient, items=stored, identified=now, recorded=True)
        issue["author"] = {"reference": author}
        if card.reason:
            issue["mitigation"] = [
                {
                    "action": {
                        "coding": [{"system": OVERRIDE_SYSTEM, "code": card.reason}],
                        "text": reason_text.get(card.reason, card.reason),
                    },
                    "date": now,
                    "author": {"reference": author},
                }
            ]
        entries.append({"resource": issue, "request": {"method": "POST", "url": "DetectedIssue"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


# --- who may sign -----------------------------------------------------------------------------------

PROFESSION_SYSTEMS = frozenset(
    {
        "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante",
        "urn:oid:1.2.250.1.71.1.2.7",  # the same ANS nomenclature TRE-G15 by its OID
    }
)
PRESCRIBERS = {
    "10": "Médecin",  # Code de la santé publique L.4111-1 and following
    "40": "Chirurgien-dentiste",  # CSP L.4141-2 (within the practice of dentistry)
    "50": "Sage-femme",  # CSP L.4151-4 (the medicines of a list set by ministerial order)
}
"""The professions (ANS TRE-G15) that prescribe medicines on this screen. The others — nurses
(CSP L.4311-1: a short list of products), pharmacists (renewals and adjustments only) — read the
screen without writing or signing a prescription."""


def professions(roles: list[dict[str, Any]]) -> set[str]:
    """The TRE-G15 profession codes of the active PractitionerRoles."""
    found = set()
    for role in roles:
        if role.get("active") is False:
            continue
        for concept in role.get("code") or []:
            for coding in (concept.get("coding") or []) if isinstance(concept, dict) else []:
                if (
                    isinstance(coding, dict)
                    and coding.get("system") in PROFESSION_SYSTEMS
                    and coding.get("code")
                ):
                    found.add(str(coding["code"]))
    return found


def may_prescribe(codes: set[str]) -> bool:
    """True when a profession of the prescriber prescribes medicines, or when none is recorded
    (an installation without PractitionerRoles: the access policy alone decides)."""
    return not codes or bool(codes & PRESCRIBERS.keys())


# --- earlier prescriptions and their renewal --------------------------------------------------------

MAX_HISTORY = 10  # earlier prescriptions listed on the screen


@dataclass(frozen=True, slots=True)
class Signed:
    """One earlier prescription of the prescriber: the orders signed together."""

    number: str
    authored: str  # FHIR dateTime of the signature
    orders: tuple[dict[str, Any], ...]


def signed_prescriptions(orders: list[dict[str, Any]]) -> list[Signed]:
    """The prescriber's signed prescriptions among ``orders`` (their MedicationRequests), the
    latest first, by ``groupIdentifier``; drafts and orders entered in error are left out."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for order in orders:
        group = order.get("groupIdentifier") or {}
        number = group.get("value") if isinstance(group, dict) else None
        if (
            group.get("system") == GROUP_SYSTEM
            and isinstance(number, str)
            and GROUP.match(number)
            and order.get("status") not in ("draft", "entered-in-error")
        ):
            groups.setdefault(number, []).append(order)
    found = [
        Signed(number, str(max(str(o.get("authoredOn") or "") for o in group)), tuple(group))
        for number, group in groups.items()
    ]
    return sorted(found, key=lambda s: (s.authored, s.number), reverse=True)[:MAX_HISTORY]


def renewal(order: dict[str, Any], *, requester: str, now: str) -> dict[str, Any]:
    """A new draft renewing ``order``: the same drug, dosage and duration, ``priorPrescription``
    pointing at it (https://hl7.org/fhir/R4/medicationrequest-definitions.html#MedicationRequest.priorPrescription)."""
    draft: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "subject": order["subject"],
        "authoredOn": now,
        "requester": {"reference": requester},
        "priorPrescription": {"reference": f"MedicationRequest/{order['id']}"},
    }
    for key in ("medicationCodeableConcept", "medicationReference", "dosageInstruction", "dispenseRequest"):
        if key in order:
            draft[key] = order[key]
    return draft
