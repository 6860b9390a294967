"""The CRUD chain of the Health Samurai FHIR server benchmark, on the FHIR R4 REST API.

Scenario (https://www.health-samurai.io/fhir-server-performance-benchmark): each virtual user loops
create Patient → create Encounter (subject) → create Observation (subject, encounter) → read
Patient → read Observation → update Patient → update Observation → delete Observation → delete
Encounter → delete Patient, using the interactions of https://hl7.org/fhir/R4/http.html
(create, read, update, delete). Resources are small and realistic, varied by a seeded RNG.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from bench.loadgen import Client, Response, Scenario

GIVEN = ["Camille", "Louise", "Jules", "Emma", "Lucas", "Chloé", "Hugo", "Léa", "Nathan", "Inès",
         "Arthur", "Manon", "Adam", "Zoé", "Gabriel", "Alice", "Yanis", "Sarah", "Noah", "Lina"]
FAMILY = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
          "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux"]
CITIES = [("Paris", "75011"), ("Lyon", "69003"), ("Marseille", "13005"), ("Toulouse", "31000"),
          ("Nantes", "44000"), ("Lille", "59000"), ("Bordeaux", "33000"), ("Rennes", "35000")]
# (LOINC code, display, unit UCUM, low, high)
VITALS = [
    ("8867-4", "Heart rate", "/min", 45, 130),
    ("9279-1", "Respiratory rate", "/min", 10, 28),
    ("8310-5", "Body temperature", "Cel", 35.5, 40.0),
    ("29463-7", "Body weight", "kg", 40, 120),
    ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", 88, 100),
]

OPS = ["create Patient", "create Encounter", "create Observation", "read Patient", "read Observation",
       "update Patient", "update Observation", "delete Observation", "delete Encounter", "delete Patient"]
"""The chain's operations, in order (the names the results are keyed by)."""


def _id_from(response: Response) -> str | None:
    """Logical id of a created resource: from ``Location`` (…/Type/id/_history/v) or the body."""
    location = response.header("location")
    if location:
        parts = location.rstrip("/").split("/")
        if "_history" in parts:
            idx = parts.index("_history")
            return parts[idx - 1] if idx >= 1 else None
        return parts[-1]
    try:
        value = orjson.loads(response.body).get("id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def make_patient(rng: random.Random, serial: int) -> dict[str, Any]:
    """A small French-flavoured Patient."""
    city, postal = rng.choice(CITIES)
    birth = datetime(1930, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(0, 33000))
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": f"{rng.randrange(10**12):013d}"}],
        "active": True,
        "name": [{"use": "official", "family": rng.choice(FAMILY), "given": [rng.choice(GIVEN)]}],
        "telecom": [{"system": "phone", "value": f"+33 6 {rng.randrange(10**8):08d}", "use": "mobile"}],
        "gender": rng.choice(["male", "female"]),
        "birthDate": birth.date().isoformat(),
        "address": [{"line": [f"{rng.randrange(1, 200)} rue de la République"], "city": city,
                     "postalCode": postal, "country": "FR"}],
        "meta": {"tag": [{"system": "urn:hygie:bench", "code": f"vu-{serial}"}]},
    }


def make_encounter(rng: random.Random, patient_id: str, when: datetime) -> dict[str, Any]:
    """A finished ambulatory Encounter of that patient."""
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB",
                  "display": "ambulatory"},
        "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "185349003",
                              "display": "Encounter for check up"}]}],
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": when.isoformat(),
                   "end": (when + timedelta(minutes=rng.randrange(10, 60))).isoformat()},
    }


def make_observation(
    rng: random.Random, patient_id: str, encounter_id: str, when: datetime
) -> dict[str, Any]:
    """A vital-sign Observation of that patient during that encounter."""
    code, display, unit, low, high = rng.choice(VITALS)
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs", "display": "Vital Signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}],
                 "text": display},
        "subject": {"reference": f"Patient/{patient_id}"},
        "encounter": {"reference": f"Encounter/{encounter_id}"},
        "effectiveDateTime": when.isoformat(),
        "valueQuantity": {"value": round(rng.uniform(low, high), 1), "unit": unit,
                          "system": "http://unitsofmeasure.org", "code": unit},
    }


async def crud_chain(client: Client, index: int, seed: int = 42) -> None:
    """One virtual user: repeat the 10-step chain until the run is over."""
    rng = random.Random(seed * 100_003 + index)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    dumps = orjson.dumps
    while client.running:
        patient = make_patient(rng, index)
        r = await client.request("create Patient", "POST", "/fhir/Patient", dumps(patient))
        pid = _id_from(r) if r.status == 201 else None
        if pid is None:
            continue
        when = base + timedelta(minutes=rng.randrange(0, 525_600))
        r = await client.request("create Encounter", "POST", "/fhir/Encounter",
                                 dumps(make_encounter(rng, pid, when)))
        eid = _id_from(r) if r.status == 201 else None
        if eid is None:
            await client.request("delete Patient", "DELETE", f"/fhir/Patient/{pid}")
            continue
        observation = make_observation(rng, pid, eid, when)
        r = await client.request("create Observation", "POST", "/fhir/Observation", dumps(observation))
        oid = _id_from(r) if r.status == 201 else None
        if oid is not None:
            await client.request("read Patient", "GET", f"/fhir/Patient/{pid}")
            await client.request("read Observation", "GET", f"/fhir/Observation/{oid}")
            patient["id"] = pid
            patient["name"][0]["given"] = [rng.choice(GIVEN), rng.choice(GIVEN)]
            await client.request("update Patient", "PUT", f"/fhir/Patient/{pid}", dumps(patient))
            observation["id"] = oid
            observation["valueQuantity"]["value"] = round(observation["valueQuantity"]["value"] + 0.5, 1)
            observation["status"] = "amended"
            await client.request("update Observation", "PUT", f"/fhir/Observation/{oid}", dumps(observation))
            await client.request("delete Observation", "DELETE", f"/fhir/Observation/{oid}")
        await client.request("delete Encounter", "DELETE", f"/fhir/Encounter/{eid}")
        await client.request("delete Patient", "DELETE", f"/fhir/Patient/{pid}")


def scenario(seed: int) -> Scenario:
    """The CRUD chain as a :data:`bench.loadgen.Scenario` with a fixed seed."""

    async def run(client: Client, index: int) -> None:
        await crud_chain(client, index, seed)

    return run


async def healthz(client: Client, index: int) -> None:
    """Trivial scenario: ``GET /healthz`` in a loop (measures the generator's ceiling)."""
    del index
    while client.running:
        await client.request("GET /healthz", "GET", "/healthz")
