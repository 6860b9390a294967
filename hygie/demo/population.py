"""A small, deterministic French demo population as one FHIR transaction Bundle.

First cut of ``hygie demo``: a GP practice, a general practitioner and N patients with French
names, real communes (INSEE codes) and a few vital signs (LOINC, UCUM). Deterministic for a
seed. The full synthetic territory (hospital, conditions, medications, device streams) is the
subject of a later issue.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

DEMO_TAG = {"system": "https://hygie.dev/fhir/CodeSystem/origin", "code": "demo"}
GIVEN_F = ["Bénédicte", "Camille", "Chloé", "Élise", "Inès", "Léa", "Manon", "Nour", "Zoé", "Yasmine"]
GIVEN_M = ["Adam", "Benoît", "François", "Hugo", "Jérôme", "Karim", "Lucas", "Noé", "Théo", "Youssef"]
FAMILY = [
    "Martin",
    "Bernard",
    "Dubois",
    "Lefèvre",
    "Moreau",
    "Girard",
    "Benali",
    "Nguyen",
    "Durand",
    "Lemoine",
]
# (commune, INSEE code, postal code) — Code officiel géographique, INSEE.
COMMUNES = [
    ("Paris", "75056", "75011"),
    ("Lyon", "69123", "69003"),
    ("Marseille", "13055", "13005"),
    ("Toulouse", "31555", "31000"),
    ("Nantes", "44109", "44000"),
    ("Lille", "59350", "59000"),
    ("Bordeaux", "33063", "33000"),
    ("Strasbourg", "67482", "67000"),
    ("Rennes", "35238", "35000"),
]
# (LOINC code, display, UCUM unit, mean, spread)
VITALS = [
    ("8867-4", "Heart rate", "/min", 72, 10),
    ("9279-1", "Respiratory rate", "/min", 15, 2),
    ("8310-5", "Body temperature", "Cel", 36.9, 0.3),
    ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", 97, 1.5),
    ("8480-6", "Systolic blood pressure", "mm[Hg]", 125, 12),
]
VITAL_SIGNS = {
    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "vital-signs",
}


def _urn(rng: random.Random) -> str:
    return f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"


def _entry(full_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    resource["meta"] = {"tag": [DEMO_TAG]}
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }


def demo_bundle(patients: int = 20, seed: int = 1, now: datetime | None = None) -> dict[str, Any]:
    """The demo transaction Bundle (same seed and ``now`` → same content)."""
    rng = random.Random(seed)  # noqa: S311 (synthetic demo data, not security)
    now = now or datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    org, gp = _urn(rng), _urn(rng)
    entries = [
        _entry(
            org,
            {
                "resourceType": "Organization",
                "name": "Maison de santé des Lilas",
                "active": True,
                "address": [{"city": "Paris", "postalCode": "75020", "country": "FR"}],
            },
        ),
        _entry(
            gp,
            {
                "resourceType": "Practitioner",
                "name": [{"family": "Rousseau", "given": ["Claire"], "prefix": ["Dr"]}],
                "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "10000000001"}],
            },
        ),
    ]
    for index in range(patients):
        female = rng.random() < 0.5
        city, insee, postal = rng.choice(COMMUNES)
        birth = now - timedelta(days=rng.randint(18 * 365, 90 * 365))
        patient = _urn(rng)
        entries.append(
            _entry(
                patient,
                {
                    "resourceType": "Patient",
                    "identifier": [
                        {"system": "https://hygie.dev/fhir/demo/mrn", "value": f"DEMO{index + 1:05d}"}
                    ],
                    "name": [
                        {"family": rng.choice(FAMILY), "given": [rng.choice(GIVEN_F if female else GIVEN_M)]}
                    ],
                    "gender": "female" if female else "male",
                    "birthDate": birth.date().isoformat(),
                    "address": [
                        {
                            "city": city,
                            "postalCode": postal,
                            "country": "FR",
                            "extension": [
                                {
                                    "url": "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-censusTract",
                                    "valueString": insee,
                                }
                            ],
                        }
                    ],
                    "generalPractitioner": [{"reference": gp}],
                    "managingOrganization": {"reference": org},
                },
            )
        )
        when = now - timedelta(days=rng.randint(0, 60))
        for code, display, unit, mean, spread in VITALS:
            value = round(rng.gauss(mean, spread), 1)
            entries.append(
                _entry(
                    _urn(rng),
                    {
                        "resourceType": "Observation",
                        "status": "final",
                        "category": [{"coding": [VITAL_SIGNS]}],
                        "code": {
                            "coding": [{"system": "http://loinc.org", "code": code, "display": display}]
                        },
                        "subject": {"reference": patient},
                        "effectiveDateTime": when.isoformat(timespec="seconds"),
                        "valueQuantity": {
                            "value": value,
                            "unit": unit,
                            "system": "http://unitsofmeasure.org",
                            "code": unit,
                        },
                    },
                )
            )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
