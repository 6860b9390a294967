"""Who the demo patients are: French names by birth decade, real communes (INSEE codes), INS.

The INS (identifiant national de santé) is an INS-NIR **of demonstration**: system
``urn:oid:1.2.250.1.213.1.4.11``, the OID the FR Core Patient INS profile reserves for fictitious
demonstration patients (slice ``INS-NIR-DEMO``; the test OID is ``1.2.250.1.213.1.4.10``, the
production one ``1.2.250.1.213.1.4.8`` is never used). Values follow the NIR layout (sex, year and
month of birth, département and commune of birth, order, key = 97 − number mod 97) so that they
look right, but they identify nobody. Addresses carry the commune's INSEE code in the ISO 21090
``censusTract`` address-part extension (http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-censusTract).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from hygie.demo.common import DEMO_IPP, FR_CORE_0203, INS_DEMO, coding, concept, data

INSEE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-censusTract"


@dataclass
class Person:
    """The facts about a patient that the clinical generators need."""

    index: int
    id: str
    female: bool
    birth: date
    given: str
    family: str
    commune: dict[str, str]
    practice: int
    conditions: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"Patient/{self.id}"

    def age(self, today: date) -> int:
        years = today.year - self.birth.year
        return years - ((today.month, today.day) < (self.birth.month, self.birth.day))

    def age_days(self, today: date) -> int:
        return (today - self.birth).days


def patient_id(index: int) -> str:
    return f"demo-p{index + 1:05d}"


def given_name(rng: random.Random, female: bool, birth: date) -> str:
    names = data("names")["female_by_decade" if female else "male_by_decade"]
    decades = sorted(names, key=int)
    decade = max((d for d in decades if int(d) <= birth.year), default=decades[0], key=int)
    return str(rng.choice(names[decade]))


def nir(female: bool, birth: date, insee: str, order: int) -> str:
    """A 15-character NIR (13 digits + 2-digit key) for a person born in ``insee``."""
    sex = 2 if female else 1
    body = f"{sex}{birth.year % 100:02d}{birth.month:02d}{insee[:2]}{insee[2:5]}{order % 1000:03d}"
    return body + f"{97 - int(body) % 97:02d}"


def person(
    rng: random.Random,
    index: int,
    practice: int,
    now: datetime,
    *,
    female: bool | None = None,
    age_days: tuple[int, int] | None = None,
) -> Person:
    """A new person (``age_days``: the range of their age in days)."""
    is_female = rng.random() < 0.51 if female is None else female
    low, high = age_days or _age_range(rng)
    birth = now.date() - timedelta(days=rng.randint(low, high))
    communes = data("communes")["communes"]
    commune = communes[0] if rng.random() < 0.35 else rng.choice(communes)
    family = str(rng.choice(data("names")["family"]))
    return Person(
        index,
        patient_id(index),
        is_female,
        birth,
        given_name(rng, is_female, birth),
        family,
        commune,
        practice,
    )


def _age_range(rng: random.Random) -> tuple[int, int]:
    """Age bands in the proportions of the French population (INSEE, bilan démographique 2024)."""
    bands = [(0, 17, 0.21), (18, 44, 0.33), (45, 64, 0.25), (65, 74, 0.11), (75, 98, 0.10)]
    roll, acc = rng.random(), 0.0
    for low, high, share in bands:
        acc += share
        if roll < acc:
            return low * 365 + 1, high * 365 + 364
    return 75 * 365, 98 * 365


def patient_resource(rng: random.Random, p: Person, gp: str, org: str) -> dict[str, Any]:
    """The Patient resource of ``p`` (PUT with a fixed id)."""
    street = rng.choice(data("communes")["streets"])
    insee = p.commune["insee"]
    birth_insee = insee if rng.random() < 0.6 else rng.choice(data("communes")["communes"])["insee"]
    phone = f"+33 6 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
    return {
        "resourceType": "Patient",
        "id": p.id,
        "active": True,
        "identifier": [
            {
                "use": "official",
                "type": concept(coding(FR_CORE_0203, "INS-NIR-DEMO")),
                "system": INS_DEMO,
                "value": nir(p.female, p.birth, birth_insee, p.index),
            },
            {"use": "usual", "system": DEMO_IPP, "value": f"IPP{p.index + 1:07d}"},
        ],
        "name": [{"use": "official", "family": p.family.upper(), "given": [p.given]}],
        "telecom": [{"system": "phone", "value": phone, "use": "mobile"}],
        "gender": "female" if p.female else "male",
        "birthDate": p.birth.isoformat(),
        "address": [
            {
                "use": "home",
                "line": [f"{rng.randint(1, 120)} {street}"],
                "city": p.commune["name"],
                "postalCode": p.commune["postal"],
                "country": "FR",
                "extension": [{"url": INSEE_EXTENSION, "valueString": insee}],
            }
        ],
        "generalPractitioner": [{"reference": f"Practitioner/{gp}"}],
        "managingOrganization": {"reference": f"Organization/{org}"},
        "communication": [
            {"language": concept(coding("urn:ietf:bcp:47", "fr-FR", "French (France)")), "preferred": True}
        ],
    }
