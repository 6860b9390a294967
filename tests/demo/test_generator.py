"""The demo generator (hygie/demo): deterministic, valid FHIR, references that resolve, French
identifiers of demonstration only."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from hygie.demo.common import INS_DEMO, INS_PRODUCTION, RPPS, luhn_digit
from hygie.demo.population import demo_bundles, patient_bundles
from hygie.fhir.validation import validate_resource
from tests.demo.support import NOW, SIZE, of_type, population, resources


def test_same_seed_and_now_give_the_same_bundles() -> None:
    first = list(demo_bundles(12, 7, NOW))
    assert first == list(demo_bundles(12, 7, NOW))
    assert first != list(demo_bundles(12, 8, NOW))


def test_a_patient_does_not_depend_on_the_population_size() -> None:
    def patient(size: int, wanted: str) -> dict[str, Any]:
        for bundle in patient_bundles(size, 5, NOW):
            for entry in bundle["entry"]:
                if entry["request"]["url"] == wanted:
                    return dict(entry["resource"])
        raise AssertionError(wanted)

    assert patient(8, "Patient/demo-p00006") == patient(30, "Patient/demo-p00006")


def test_patients_come_in_bundles_of_about_the_chunk_size() -> None:
    bundles = population()
    assert bundles[0]["entry"][0]["resource"]["resourceType"] == "Organization"  # the territory first
    per_bundle = [sum(e["resource"]["resourceType"] == "Patient" for e in b["entry"]) for b in bundles[1:]]
    assert sum(per_bundle) == SIZE
    assert all(10 <= n <= 11 for n in per_bundle[:-1])  # a mother and her newborn stay together
    assert all(b["type"] == "transaction" for b in bundles)


def test_every_generated_resource_is_valid() -> None:
    problems = [(r["resourceType"], validate_resource(r)) for r in resources()]
    assert [p for p in problems if p[1]] == []
    assert len(problems) > 500


def test_every_reference_resolves_within_the_load() -> None:
    """``urn:uuid`` references point into the same transaction; ``Type/id`` ones to a resource PUT
    by this or an earlier Bundle (the territory comes first)."""
    known: set[str] = set()
    dangling = []
    for bundle in population():
        local = {e["fullUrl"] for e in bundle["entry"]}
        known |= {e["request"]["url"] for e in bundle["entry"] if e["request"]["method"] == "PUT"}
        for entry in bundle["entry"]:
            for ref in re.findall(r'"reference": "([^"]+)"', json.dumps(entry["resource"])):
                scope = local if ref.startswith("urn:uuid:") else known
                if ref not in scope:
                    dangling.append(ref)
    assert dangling == []


def test_ins_uses_the_demonstration_oid_with_a_valid_nir_key() -> None:
    text = json.dumps(resources())
    assert INS_PRODUCTION.removeprefix("urn:oid:") not in text
    patients = of_type("Patient")
    assert len(patients) == SIZE
    for patient in patients:
        ins = [i for i in patient["identifier"] if i["system"] == INS_DEMO]
        assert len(ins) == 1, patient["id"]
        value = ins[0]["value"]
        assert re.fullmatch(r"[12]\d{14}", value)
        assert int(value[13:]) == 97 - int(value[:13]) % 97
        assert value[0] == ("2" if patient["gender"] == "female" else "1")


def test_addresses_are_real_communes_with_insee_codes() -> None:
    from hygie.demo.common import data

    communes = {(c["name"], c["insee"], c["postal"]) for c in data("communes")["communes"]}
    for patient in of_type("Patient"):
        address = patient["address"][0]
        insee = address["extension"][0]["valueString"]
        assert (address["city"], insee, address["postalCode"]) in communes


def test_professionals_have_rpps_numbers_and_roles() -> None:
    practitioners = of_type("Practitioner")
    roles = {r["practitioner"]["reference"]: r for r in of_type("PractitionerRole")}
    assert len(practitioners) >= 15
    for practitioner in practitioners:
        (rpps,) = [i["value"] for i in practitioner["identifier"] if i["system"] == RPPS]
        assert re.fullmatch(r"\d{11}", rpps)
        assert luhn_digit(rpps[:-1]) == rpps[-1]
        role = roles[f"Practitioner/{practitioner['id']}"]
        assert role["organization"]["reference"].startswith("Organization/demo-org-")


def test_beds_belong_to_wards_and_current_stays_never_share_one() -> None:
    locations = {f"Location/{loc['id']}": loc for loc in of_type("Location", 140)}
    stays = [e for e in of_type("Encounter", 140) if e["status"] == "in-progress"]
    beds = [s["location"][0]["location"]["reference"] for s in stays]
    assert len(stays) >= 6
    assert len(beds) == len(set(beds))
    for bed in beds:
        assert locations[bed]["physicalType"]["coding"][0]["code"] == "bd"
        ward = locations[locations[bed]["partOf"]["reference"]]
        assert ward["physicalType"]["coding"][0]["code"] == "wa"
    services = [o for o in of_type("Organization") if "partOf" in o]
    assert {o["partOf"]["reference"] for o in services} == {"Organization/demo-org-chu"}


def test_documents_carry_a_letter_and_sometimes_a_pdf() -> None:
    documents = of_type("DocumentReference", 60)
    kinds = [c["attachment"]["contentType"] for d in documents for c in d["content"]]
    assert "application/pdf" in kinds
    assert any(k.startswith("text/plain") for k in kinds)
    for document in documents:
        for content in document["content"]:
            raw = base64.b64decode(content["attachment"]["data"])
            if content["attachment"]["contentType"] == "application/pdf":
                assert raw.startswith(b"%PDF-1.4") and raw.rstrip().endswith(b"%%EOF")
            else:
                assert "Cher confrère" in raw.decode("utf-8")
