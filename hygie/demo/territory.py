"""The demo care territory: a CHU with its services, wards, beds and emergency department, GP
practices, a pharmacy, a laboratory, and the professionals who work there.

FHIR shapes: services are ``Organization`` with ``partOf`` the CHU
(https://hl7.org/fhir/R4/organization.html); wards and beds are ``Location`` (``physicalType``
``wa``/``bd``, a bed ``partOf`` its ward, https://hl7.org/fhir/R4/location.html); each
professional is a ``Practitioner`` with an RPPS identifier and a ``PractitionerRole`` naming the
organisation, the profession (ANS TRE-G15) and the specialty (SNOMED CT); each ward has a
``CareTeam``. Everything is fixed (ids and names) except the number of beds, which grows with the
population so that current inpatients never share a bed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from hygie.demo.common import RPPS, SNOMED, Builder, coding, concept, rpps

PROFESSION = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
PRACTITIONER_ROLE = "http://terminology.hl7.org/CodeSystem/practitioner-role"
LOCATION_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
CITY = {"city": "Rennes", "postalCode": "35000", "country": "FR"}
INPATIENTS_EVERY = 25  # one patient in 25 is in hospital now (population.py)
SCENARIO_EVERY = 250  # a block of patients holding one of each deteriorating scenario

# (key, name, SNOMED specialty, display, ward?)
SERVICES = [
    ("urgences", "Service des urgences", "773568002", "Emergency medicine", False),
    ("medecine-interne", "Médecine interne et polyvalente", "394802001", "General medicine", True),
    ("cardiologie", "Cardiologie", "394579002", "Cardiology", True),
    ("pneumologie", "Pneumologie", "418112009", "Pulmonary medicine", True),
    ("maternite", "Gynécologie-obstétrique et maternité", "394585009", "Obstetrics and gynecology", True),
    ("pediatrie", "Pédiatrie et néonatologie", "394537008", "Pediatric specialty", True),
]
PRACTICES = [
    (
        "mg-lices",
        "Maison de santé des Lices",
        "Rennes",
        "35000",
        ("Claire", "Rousseau"),
        ("Youssef", "Benali"),
    ),
    (
        "mg-cesson",
        "Cabinet médical du Bourg",
        "Cesson-Sévigné",
        "35510",
        ("Anne", "Le Gall"),
        ("Thomas", "Nguyen"),
    ),
    ("mg-bruz", "Pôle santé de Bruz", "Bruz", "35170", ("Hélène", "Diallo"), ("Marc", "Lemoine")),
]
HOSPITAL_STAFF = [  # (service, given, family, profession G15, role, suffix)
    ("urgences", "Sophie", "Morel", "10", "doctor", "md"),
    ("medecine-interne", "Julien", "Fournier", "10", "doctor", "md"),
    ("medecine-interne", "Camille", "Hamon", "60", "nurse", "nurse"),
    ("cardiologie", "Karim", "Haddad", "10", "doctor", "md"),
    ("cardiologie", "Élodie", "Riou", "60", "nurse", "nurse"),
    ("pneumologie", "Isabelle", "Tanguy", "10", "doctor", "md"),
    ("pneumologie", "Louis", "Jégou", "60", "nurse", "nurse"),
    ("maternite", "Nadia", "Kaya", "50", "nurse", "midwife"),
    ("maternite", "Pierre", "Guillou", "10", "doctor", "md"),
    ("pediatrie", "Lina", "Ferreira", "10", "doctor", "md"),
    ("pediatrie", "Yann", "Le Bihan", "60", "nurse", "nurse"),
]
PROFESSIONS = {"10": "Médecin", "21": "Pharmacien", "50": "Sage-Femme", "60": "Infirmier"}


@dataclass(frozen=True)
class Practice:
    key: str
    org: str  # Organization id
    name: str
    city: str
    gps: tuple[str, ...]  # Practitioner ids


@dataclass
class Territory:
    beds_per_ward: int
    regular_beds: int
    chu: str = "demo-org-chu"
    pharmacy: str = "demo-org-pharmacie"
    lab: str = "demo-org-laboratoire"
    services: dict[str, str] = field(default_factory=dict)  # key → Organization id
    wards: dict[str, str] = field(default_factory=dict)  # key → Location id
    staff: dict[str, list[str]] = field(default_factory=dict)  # service key → Practitioner ids
    practices: list[Practice] = field(default_factory=list)
    pharmacist: str = "demo-pr-pharmacie"
    biologist: str = "demo-pr-laboratoire"

    def bed(self, ward: str, number: int) -> str:
        return f"{self.wards[ward]}-lit-{number % self.beds_per_ward + 1:03d}"

    @property
    def nurse(self) -> str:
        """The demo hospital nurse (Médecine interne, where deteriorating patients lie)."""
        return "demo-pr-medecine-interne-nurse"

    @property
    def ward_keys(self) -> list[str]:
        return [key for key, *_, ward in SERVICES if ward]


def make_territory(patients: int) -> Territory:
    """The territory for a population of ``patients``: enough beds for the current inpatients
    (one in :data:`INPATIENTS_EVERY`, spread over the wards) plus two deteriorating patients in
    every block of :data:`SCENARIO_EVERY`."""
    wards = sum(1 for *_, ward in SERVICES if ward)
    regular = math.ceil(patients / INPATIENTS_EVERY / wards) + 1
    beds = max(10, regular + 2 * math.ceil(patients / SCENARIO_EVERY) + 1)
    t = Territory(beds_per_ward=beds, regular_beds=regular)
    for key, *_rest in SERVICES:
        t.services[key] = f"demo-org-{key}"
        t.wards[key] = f"demo-loc-{key}"
        t.staff[key] = [f"demo-pr-{s[0]}-{s[5]}" for s in HOSPITAL_STAFF if s[0] == key]
    for key, name, city, _postal, *gps in PRACTICES:
        t.practices.append(
            Practice(
                key, f"demo-org-{key}", name, city, tuple(f"demo-pr-{key}-{i + 1}" for i in range(len(gps)))
            )
        )
    return t


def _organization(
    oid: str, name: str, kind: str, part_of: str | None = None, city: dict[str, str] = CITY
) -> dict[str, Any]:
    org: dict[str, Any] = {
        "resourceType": "Organization",
        "id": oid,
        "active": True,
        "type": [concept(coding(ORG_TYPE, kind))],
        "name": name,
        "address": [dict(city)],
    }
    if part_of:
        org["partOf"] = {"reference": f"Organization/{part_of}"}
    return org


def _practitioner(b: Builder, pid: str, number: int, given: str, family: str, female: bool) -> None:
    b.put(
        {
            "resourceType": "Practitioner",
            "id": pid,
            "active": True,
            "identifier": [{"system": RPPS, "value": rpps(number)}],
            "name": [{"family": family, "given": [given]}],
            "gender": "female" if female else "male",
        }
    )


def _role(
    b: Builder,
    pid: str,
    org: str,
    profession: str,
    role: str,
    specialty: tuple[str, str] | None,
    location: str | None = None,
) -> None:
    resource: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": f"{pid}-role",
        "active": True,
        "practitioner": {"reference": f"Practitioner/{pid}"},
        "organization": {"reference": f"Organization/{org}"},
        "code": [
            concept(coding(PROFESSION, profession, PROFESSIONS[profession]), coding(PRACTITIONER_ROLE, role))
        ],
    }
    if specialty:
        resource["specialty"] = [concept(coding(SNOMED, *specialty))]
    if location:
        resource["location"] = [{"reference": f"Location/{location}"}]
    b.put(resource)


FEMALE_GIVEN = {
    "Claire",
    "Anne",
    "Hélène",
    "Sophie",
    "Camille",
    "Élodie",
    "Isabelle",
    "Nadia",
    "Lina",
    "Marie",
    "Léa",
}


def territory_entries(t: Territory) -> list[dict[str, Any]]:
    """Every organisation, place, professional, role and ward team, as PUT entries."""
    b = Builder(random.Random(0))  # noqa: S311 (no randomness is used: fixed ids)
    b.put(_organization(t.chu, "CHU de démonstration Hygie — Rennes", "prov"))
    number = 1
    for key, name, snomed, display, ward in SERVICES:
        b.put(_organization(t.services[key], name, "dept", t.chu))
        b.put(
            {
                "resourceType": "Location",
                "id": t.wards[key],
                "status": "active",
                "name": name,
                "mode": "instance",
                "physicalType": concept(coding(LOCATION_TYPE, "wa" if ward else "area")),
                "managingOrganization": {"reference": f"Organization/{t.services[key]}"},
            }
        )
        if ward:
            for n in range(t.beds_per_ward):
                b.put(
                    {
                        "resourceType": "Location",
                        "id": t.bed(key, n),
                        "status": "active",
                        "name": f"{name} — lit {n + 1}",
                        "mode": "instance",
                        "physicalType": concept(coding(LOCATION_TYPE, "bd")),
                        "partOf": {"reference": f"Location/{t.wards[key]}"},
                        "managingOrganization": {"reference": f"Organization/{t.services[key]}"},
                    }
                )
        members = []
        for service, given, family, profession, role, suffix in HOSPITAL_STAFF:
            if service != key:
                continue
            pid = f"demo-pr-{service}-{suffix}"
            _practitioner(b, pid, number, given, family, given in FEMALE_GIVEN)
            _role(b, pid, t.services[key], profession, role, (snomed, display), t.wards[key])
            members.append(pid)
            number += 1
        b.put(
            {
                "resourceType": "CareTeam",
                "id": f"demo-team-{key}",
                "status": "active",
                "name": f"Équipe soignante — {name}",
                "managingOrganization": [{"reference": f"Organization/{t.services[key]}"}],
                "participant": [{"member": {"reference": f"Practitioner/{m}"}} for m in members]
                + [{"member": {"reference": f"Organization/{t.services[key]}"}}],
            }
        )
    for practice, (key, name, city, postal, *gps) in zip(t.practices, PRACTICES, strict=True):
        address = {"city": city, "postalCode": postal, "country": "FR"}
        b.put(_organization(practice.org, name, "prov", city=address))
        for pid, (given, family) in zip(practice.gps, gps, strict=True):
            _practitioner(b, pid, number, given, family, given in FEMALE_GIVEN)
            _role(b, pid, practice.org, "10", "doctor", ("394814009", "General practice"))
            number += 1
        del key
    b.put(_organization(t.pharmacy, "Pharmacie de la Visitation", "prov"))
    _practitioner(b, t.pharmacist, number, "Marie", "Chevalier", True)
    _role(b, t.pharmacist, t.pharmacy, "21", "pharmacist", None)
    b.put(_organization(t.lab, "Laboratoire de biologie médicale Rennes Centre", "prov"))
    _practitioner(b, t.biologist, number + 1, "Olivier", "Perrin", False)
    _role(b, t.biologist, t.lab, "10", "doctor", ("394915009", "General pathology"))
    return b.entries
