"""Blocking a professional: the Consent the access policy reads, made and read (pure functions).

hygie/auth/policy.py (docs/security.md) keeps a professional out of a patient's record while an
**active** Consent of that patient (``Consent.patient``) has a **deny** provision — the root one
(``provision.type`` = deny, ``provision.actor.reference``) or a nested one — naming them (or their
organisation), and the root ``provision.period``, when given, covers now. The portal writes
exactly that, one Consent per blocked professional (https://hl7.org/fhir/R4/consent.html):
scope ``patient-privacy``, category LOINC 59284-0 (Patient consent), ``policyRule`` OPTOUT
(http://terminology.hl7.org/CodeSystem/v3-ActCode), no period (until the patient lifts it), and
the root provision ``deny`` with one actor (role PRCP, "primary information recipient",
http://terminology.hl7.org/CodeSystem/v3-ParticipationType). Lifting a block makes that Consent
``inactive`` (an update: the audit trail keeps it in the patient's history, and the policy reads
active Consents only). Consents written elsewhere are listed with the actors they deny, and
left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hygie.web.portal.people import reference_of

SCOPE = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
}
CATEGORY = [{"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}]
POLICY_RULE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTOUT"}]}
RECIPIENT = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]
}
BLOCKABLE = ("Practitioner", "Organization")
MAX_DEPTH = 3  # nested provisions the policy reads


@dataclass(frozen=True, slots=True)
class Block:
    """A current block: the Consent, who it keeps out, since when, and whether the portal may
    lift it (a Consent of the portal's own shape)."""

    consent: str
    actors: tuple[str, ...]
    date: str | None
    ours: bool


def block_consent(
    patient: str, actor: str, *, performer: str | None, now: str, display: str = ""
) -> dict[str, Any]:
    """The Consent that keeps ``actor`` (``Practitioner/id``) out of ``patient``'s record."""
    reference: dict[str, Any] = {"reference": actor}
    if display:
        reference["display"] = display
    consent: dict[str, Any] = {
        "resourceType": "Consent",
        "status": "active",
        "scope": SCOPE,
        "category": CATEGORY,
        "patient": {"reference": f"Patient/{patient}"},
        "dateTime": now,
        "policyRule": POLICY_RULE,
        "provision": {"type": "deny", "actor": [{"role": RECIPIENT, "reference": reference}]},
    }
    if performer:
        consent["performer"] = [{"reference": performer}]
    return consent


def _denied(provision: object, depth: int = 0) -> list[str]:
    """The actors of deny provisions, the root and nested ones (as the policy reads them)."""
    if not isinstance(provision, dict) or depth > MAX_DEPTH:
        return []
    found = []
    if provision.get("type") == "deny":
        found = [
            r
            for a in provision.get("actor") or []
            if isinstance(a, dict) and (r := reference_of(a.get("reference")))
        ]
    for nested in provision.get("provision") or []:
        found.extend(_denied(nested, depth + 1))
    return found


def blocks(consents: list[dict[str, Any]], patient: str) -> list[Block]:
    """The active blocks of ``patient`` among ``consents``: every Practitioner or Organization a
    deny provision names. Only Consents of the portal's own shape may be lifted here (a
    Consent with a period, nested provisions or several actors was written elsewhere)."""
    out = []
    for c in consents:
        if c.get("status") != "active" or reference_of(c.get("patient")) != f"Patient/{patient}":
            continue
        provision = c.get("provision")
        actors = tuple(dict.fromkeys(a for a in _denied(provision) if a.split("/", 1)[0] in BLOCKABLE))
        if not actors:
            continue
        ours = (
            isinstance(provision, dict)
            and provision.get("type") == "deny"
            and len(provision.get("actor") or []) == 1
            and not provision.get("provision")
            and not provision.get("period")
        )
        out.append(
            Block(
                str(c.get("id")),
                actors,
                c.get("dateTime") if isinstance(c.get("dateTime"), str) else None,
                bool(ours),
            )
        )
    return out


def blocked(items: list[Block]) -> set[str]:
    return {a for b in items for a in b.actors}
