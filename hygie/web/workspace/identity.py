"""Who a patient is, as the chart banner shows it: name, sex, birth date and age, the INS and its
status (pure).

**INS** (identifiant national de santé) — FR Core Patient INS profile
(https://hl7.fr/ig/fhir/core/StructureDefinition-fr-core-patient-ins.html): ``Patient.identifier``
slices by system OID — INS-NIR ``urn:oid:1.2.250.1.213.1.4.8`` (production), INS-NIA ``…4.9``
(temporary number), INS-NIR-TEST ``…4.10`` and INS-NIR-DEMO ``…4.11`` (fictitious demonstration
patients: what ``hygie demo`` writes, docs/demo.md).

**Status** — the identity's reliability, FR Core extension
``https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability`` whose status
sub-extension holds a code of ``https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445``
(HL7 v2 table 0445: ``VIDE`` not yet qualified, ``PROV`` provisional, ``VALI`` validated…; the
national identity-vigilance reference RNIV adds ``RECUP`` recovered and ``QUAL`` qualified). The
status is read from any sub-extension carrying such a code; without it the banner says the
qualification is not recorded — never "qualified" by guess (an INS may be shared and used to
file documents only when the identity is qualified).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from hygie.web.format import human_name
from hygie.web.workspace.view import age, parse_date

INS_SYSTEMS = {
    "urn:oid:1.2.250.1.213.1.4.8": "nir",
    "urn:oid:1.2.250.1.213.1.4.9": "nia",
    "urn:oid:1.2.250.1.213.1.4.10": "test",
    "urn:oid:1.2.250.1.213.1.4.11": "demo",
}
RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
STATUSES = ("VIDE", "PROV", "RECUP", "VALI", "QUAL")
GENDERS = ("male", "female", "other", "unknown")


@dataclass(frozen=True, slots=True)
class Identity:
    """The banner's facts; ``*_key`` are message keys of the workspace catalogue."""

    id: str
    name: str
    gender_key: str
    birth: date | None
    age: int | None
    ins: str | None  # the INS, grouped for reading (``1 49 06 35 047 002 41``)
    ins_kind_key: str  # ws_ins_nir, ws_ins_nia, ws_ins_test, ws_ins_demo, ws_ins_none
    status_key: str  # ws_idstatus_vali…, or ws_idstatus_unknown
    local_ids: tuple[str, ...]  # other identifiers (the hospital's IPP…)


def identity(patient: dict[str, Any], today: date) -> Identity:
    ins, kind = _ins(patient)
    gender = patient.get("gender")
    status = _status(patient)
    return Identity(
        id=str(patient.get("id", "")),
        name=human_name(patient) or str(patient.get("id", "")),
        gender_key=f"ws_gender_{gender}" if gender in GENDERS else "ws_gender_unknown",
        birth=parse_date(patient.get("birthDate")),
        age=age(patient.get("birthDate"), today),
        ins=ins,
        ins_kind_key=f"ws_ins_{kind}",
        status_key=f"ws_idstatus_{status.lower()}" if status else "ws_idstatus_unknown",
        local_ids=tuple(
            str(i["value"])
            for i in patient.get("identifier") or []
            if isinstance(i, dict) and i.get("value") and i.get("system") not in INS_SYSTEMS
        ),
    )


def _ins(patient: dict[str, Any]) -> tuple[str | None, str]:
    for ident in patient.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") in INS_SYSTEMS and ident.get("value"):
            return group_nir(str(ident["value"])), INS_SYSTEMS[str(ident["system"])]
    return None, "none"


def group_nir(value: str) -> str:
    """A 15-character NIR as it is printed (sex, year, month, place, order, key)."""
    raw = value.replace(" ", "")
    if len(raw) != 15:
        return value
    return " ".join((raw[0], raw[1:3], raw[3:5], raw[5:7], raw[7:10], raw[10:13], raw[13:15]))


def _status(patient: dict[str, Any]) -> str | None:
    for ext in patient.get("extension") or []:
        if not isinstance(ext, dict) or ext.get("url") != RELIABILITY:
            continue
        for part in ext.get("extension") or []:
            code = _code(part) if isinstance(part, dict) else None
            if code in STATUSES:
                return code
    return None


def _code(part: dict[str, Any]) -> str | None:
    if isinstance(part.get("valueCode"), str):
        return str(part["valueCode"])
    coding = part.get("valueCoding")
    if isinstance(coding, dict) and isinstance(coding.get("code"), str):
        return str(coding["code"])
    concept = part.get("valueCodeableConcept")
    if isinstance(concept, dict):
        for c in concept.get("coding") or []:
            if isinstance(c, dict) and isinstance(c.get("code"), str):
                return str(c["code"])
    return None
