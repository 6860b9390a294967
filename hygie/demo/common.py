"""Shared pieces of the demo generator: the data files, code systems and a Bundle builder.

The builder collects transaction entries (https://hl7.org/fhir/R4/http.html#transaction):
long-lived entities (organisations, professionals, patients, devices…) are ``PUT`` with fixed,
readable ids so that accounts and the access policy can name them; clinical resources are
``POST``-ed with ``urn:uuid:`` full URLs drawn from the seeded random generator, so the same seed
and the same ``now`` always give the same Bundle.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

DEMO_TAG = {"system": "https://hygie.dev/fhir/CodeSystem/origin", "code": "demo"}
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
CIS = "http://data.esante.gouv.fr/ansm/medicament/SpecialitePharmaceutique"
RPPS = "urn:oid:1.2.250.1.71.4.2.1"
# INS-NIR of fictitious demonstration patients (FR Core Patient INS profile, slice INS-NIR-DEMO).
INS_DEMO = "urn:oid:1.2.250.1.213.1.4.11"
INS_PRODUCTION = "urn:oid:1.2.250.1.213.1.4.8"  # never used by the generator (tests check it)
FR_CORE_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
DEMO_IPP = "https://hygie.dev/fhir/demo/ipp"

Resource = dict[str, Any]


@cache
def data(name: str) -> Any:
    """A JSON file of ``hygie/demo/data`` (each carries its ``source``)."""
    text = resources.files("hygie.demo").joinpath("data", f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    found = {"system": system, "code": code}
    if display:
        found["display"] = display
    return found


def concept(*codings: dict[str, str], text: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"coding": list(codings)} if codings else {}
    if text:
        found["text"] = text
    return found


def quantity(value: float, unit: str, code: str | None = None) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code or unit}


def instant(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def category(code: str) -> list[dict[str, Any]]:
    return [concept(coding(OBS_CATEGORY, code))]


class Builder:
    """Transaction entries for one Bundle, with seeded ``urn:uuid`` ids."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.entries: list[dict[str, Any]] = []

    def urn(self) -> str:
        return f"urn:uuid:{uuid.UUID(int=self.rng.getrandbits(128), version=4)}"

    def put(self, resource: Resource) -> str:
        """A resource with its own id (``PUT Type/id``); returns its reference."""
        rtype, rid = resource["resourceType"], resource["id"]
        resource["meta"] = {"tag": [DEMO_TAG]}
        self.entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'hygie-demo/{rtype}/{rid}')}",
                "resource": resource,
                "request": {"method": "PUT", "url": f"{rtype}/{rid}"},
            }
        )
        return f"{rtype}/{rid}"

    def post(self, resource: Resource) -> str:
        """A resource created with a server id; returns the ``urn:uuid`` other entries cite."""
        full_url = self.urn()
        resource["meta"] = {"tag": [DEMO_TAG]}
        self.entries.append(
            {
                "fullUrl": full_url,
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
        )
        return full_url


def transaction(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def luhn_digit(digits: str) -> str:
    """The Luhn check digit of ``digits`` (RPPS numbers end with one)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def rpps(number: int) -> str:
    """A fictitious 11-digit RPPS number (prefix 1999, outside the ranges seen in practice)."""
    body = f"1999{number:06d}"
    return body + luhn_digit(body)
