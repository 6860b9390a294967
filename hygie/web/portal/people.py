"""Who is who, in plain words: "Claire Rousseau, general practitioner, Maison de santé des Lices".

References to Practitioner, PractitionerRole, Organization and Patient resources are read in a
few searches through ``p.fhir`` (reference data that every signed-in patient may read; Patients
only when the record is one the account sees), then described with the role and the workplace of
the PractitionerRole (https://hl7.org/fhir/R4/practitionerrole.html): ``code`` of
http://terminology.hl7.org/CodeSystem/practitioner-role (doctor, nurse, pharmacist…) or of the
French G15 profession table, ``specialty`` (SNOMED CT), ``organization``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hygie.web.fhir import WebFhir, resources
from hygie.web.format import human_name

ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/practitioner-role"
G15 = "TRE-G15-ProfessionSante"  # the French health professions table (ANS)
ROLE_KEYS = {"doctor": "pt_role_doctor", "nurse": "pt_role_nurse", "pharmacist": "pt_role_pharmacist"}
G15_KEYS = {
    "10": "pt_role_doctor",
    "60": "pt_role_nurse",
    "21": "pt_role_pharmacist",
    "50": "pt_role_midwife",
}
SPECIALTY_KEYS = {  # SNOMED CT practice specialties seen in French primary and hospital care
    "394814009": "pt_spec_general_practice",
    "394579002": "pt_spec_cardiology",
    "394585009": "pt_spec_obstetrics",
    "394802001": "pt_spec_general_medicine",
    "394537008": "pt_spec_paediatrics",
    "418112009": "pt_spec_pulmonology",
    "394915009": "pt_spec_pathology",
    "773568002": "pt_spec_emergency",
}
SEARCH_CHUNK = 50


@dataclass(frozen=True, slots=True)
class Person:
    """A person or an organisation as shown to a patient; ``role_key``/``specialty_key`` are
    message keys (None: use ``role``/``specialty`` as written in the record)."""

    reference: str
    name: str
    role_key: str | None = None
    role: str = ""
    specialty_key: str | None = None
    specialty: str = ""
    organization: str = ""

    @property
    def kind(self) -> str:
        return self.reference.split("/", 1)[0]


def concept_text(concept: object) -> str:
    """The words of a CodeableConcept: its ``text``, else the first ``display`` ('' if none)."""
    if not isinstance(concept, dict):
        return ""
    if isinstance(concept.get("text"), str) and concept["text"].strip():
        return str(concept["text"]).strip()
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and isinstance(coding.get("display"), str) and coding["display"].strip():
            return str(coding["display"]).strip()
    return ""


def reference_of(value: object) -> str | None:
    """``Type/id`` of a Reference (relative, or absolute ending with ``Type/id``)."""
    if not isinstance(value, dict) or not isinstance(value.get("reference"), str):
        return None
    parts = value["reference"].split("/_history/")[0].rstrip("/").split("/")
    if len(parts) < 2 or not parts[-2][:1].isupper() or not parts[-1]:
        return None
    return f"{parts[-2]}/{parts[-1]}"


def _ids(refs: Iterable[str], kind: str) -> list[str]:
    return sorted({r.split("/", 1)[1] for r in refs if r.startswith(kind + "/")})


async def _search(
    fhir: WebFhir, kind: str, param: str, ids: list[str], extra: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), SEARCH_CHUNK):
        chunk = ids[start : start + SEARCH_CHUNK]
        bundle = await fhir.search(kind, [(param, ",".join(chunk)), ("_count", "200"), *extra])
        found.extend(resources(bundle, None))
    return found


def _role(role: dict[str, Any]) -> tuple[str | None, str]:
    for concept in role.get("code") or []:
        for coding in (concept or {}).get("coding") or []:
            system, code = str(coding.get("system", "")), str(coding.get("code", ""))
            if system == ROLE_SYSTEM and code in ROLE_KEYS:
                return ROLE_KEYS[code], ""
            if system.endswith(G15) and code in G15_KEYS:
                return G15_KEYS[code], ""
    texts = [concept_text(c) for c in role.get("code") or []]
    return None, next((t for t in texts if t), "")


def _specialty(role: dict[str, Any]) -> tuple[str | None, str]:
    for concept in role.get("specialty") or []:
        for coding in (concept or {}).get("coding") or []:
            if str(coding.get("code", "")) in SPECIALTY_KEYS:
                return SPECIALTY_KEYS[str(coding["code"])], ""
    texts = [concept_text(c) for c in role.get("specialty") or []]
    return None, next((t for t in texts if t), "")


async def describe(fhir: WebFhir, references: Iterable[str]) -> dict[str, Person]:
    """A :class:`Person` for every reference that could be read (others are left out: the page
    says "a person whose name you may not see")."""
    refs = {r for r in references if r}
    out: dict[str, Person] = {}
    practitioners = _ids(refs, "Practitioner")
    roles: dict[str, dict[str, Any]] = {}
    organizations: dict[str, str] = {}
    names: dict[str, str] = {}
    if practitioners:
        for r in await _search(fhir, "Practitioner", "_id", practitioners, []):
            names[f"Practitioner/{r.get('id')}"] = human_name(r)
        found = await _search(
            fhir,
            "PractitionerRole",
            "practitioner",
            practitioners,
            [("_include", "PractitionerRole:organization")],
        )
        for r in found:
            if r.get("resourceType") == "Organization":
                organizations[f"Organization/{r.get('id')}"] = str(r.get("name") or "")
            elif r.get("resourceType") == "PractitionerRole" and r.get("active", True):
                who = reference_of(r.get("practitioner"))
                if who is not None:
                    roles.setdefault(who, r)
    direct = _ids(refs, "Organization")
    if direct:
        for r in await _search(fhir, "Organization", "_id", direct, []):
            organizations[f"Organization/{r.get('id')}"] = str(r.get("name") or "")
    patients = _ids(refs, "Patient")
    if patients:
        for r in await _search(fhir, "Patient", "_id", patients, []):
            names[f"Patient/{r.get('id')}"] = human_name(r)
    for ref, name in names.items():
        role = roles.get(ref)
        if role is None:
            out[ref] = Person(ref, name)
            continue
        role_key, role_text = _role(role)
        spec_key, spec_text = _specialty(role)
        org = organizations.get(reference_of(role.get("organization")) or "", "")
        out[ref] = Person(ref, name, role_key, role_text, spec_key, spec_text, org)
    for ref in refs:
        if ref.startswith("Organization/") and ref in organizations:
            out[ref] = Person(ref, organizations[ref])
    return out
