"""Real FHIR client libraries against a live Hygie server, on both database backends.

Checks that two widely used Python clients — ``fhirclient`` (SMART on FHIR, strict R4 models) and
``fhirpy`` (beda.software) — can create, read, update, list the history of and delete a resource
through the standard R4 RESTful API: https://hl7.org/fhir/R4/http.html
"""

from __future__ import annotations

import httpx
import pytest
import requests
from fhirclient import client as smart_client
from fhirclient.models.bundle import Bundle
from fhirclient.models.humanname import HumanName
from fhirclient.models.patient import Patient
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound


def test_fhirclient_crud_and_history(live_server: str) -> None:
    smart = smart_client.FHIRClient(settings={"app_id": "hygie-tests", "api_base": f"{live_server}/fhir"})
    server = smart.server

    # The CapabilityStatement must parse with the library's strict R4 models.
    capability = server.capabilityStatement
    assert capability.fhirVersion == "4.0.1"
    assert capability.rest is not None
    assert capability.rest[0].mode == "server"

    patient = Patient(
        {
            "resourceType": "Patient",
            "name": [{"family": "Lefèvre", "given": ["Anaïs"]}],
            "gender": "female",
            "birthDate": "1984-03-07",
        }
    )
    created = patient.create(server)
    assert created is not None, "create must return the stored resource (Prefer: return=representation)"
    patient_id = created["id"]
    assert created["meta"]["versionId"] == "1"

    read = Patient.read(patient_id, server)
    assert read.id == patient_id
    assert read.name[0].family == "Lefèvre"
    assert read.name[0].given == ["Anaïs"]
    assert read.birthDate.isostring == "1984-03-07"
    assert read.meta.versionId == "1"

    read.name.append(HumanName({"family": "Martin", "use": "maiden"}))
    read.gender = "other"
    read.update()

    updated = Patient.read(patient_id, server)
    assert updated.meta.versionId == "2"
    assert updated.gender == "other"
    assert [name.family for name in updated.name] == ["Lefèvre", "Martin"]

    history = Bundle(server.request_json(f"Patient/{patient_id}/_history"))
    assert history.type == "history"
    versions = sorted(entry.resource.meta.versionId for entry in history.entry)
    assert versions == ["1", "2"]
    genders = {entry.resource.meta.versionId: entry.resource.gender for entry in history.entry}
    assert genders == {"1": "female", "2": "other"}

    updated.delete()
    with pytest.raises(requests.HTTPError) as gone:
        Patient.read(patient_id, server)
    assert gone.value.response is not None
    assert gone.value.response.status_code == 410


def test_fhirpy_crud_and_history(live_server: str) -> None:
    # Out of the box: fhirpy sends bodies as application/json, which servers must accept too.
    fhir = SyncFHIRClient(f"{live_server}/fhir")

    patient = fhir.resource(
        "Patient",
        name=[{"family": "Nguyen", "given": ["Bao"]}],
        gender="male",
        birthDate="1990-11-30",
        identifier=[{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "290119012345678"}],
    )
    patient.save()
    assert patient.id, "the created resource must come back with its server-assigned id"
    patient_id = patient.id
    assert patient["meta"]["versionId"] == "1"

    read = fhir.reference("Patient", patient_id).to_resource()
    assert read["name"] == [{"family": "Nguyen", "given": ["Bao"]}]
    assert read["identifier"][0]["value"] == "290119012345678"
    assert read["birthDate"] == "1990-11-30"

    read["telecom"] = [{"system": "phone", "value": "+33 6 12 34 56 78", "use": "mobile"}]
    read.save()
    assert read["meta"]["versionId"] == "2"

    reread = fhir.reference("Patient", patient_id).to_resource()
    assert reread["meta"]["versionId"] == "2"
    assert reread["telecom"][0]["value"] == "+33 6 12 34 56 78"

    history = fhir.execute(f"Patient/{patient_id}/_history", method="get")
    assert history["resourceType"] == "Bundle"
    assert history["type"] == "history"
    by_version = {entry["resource"]["meta"]["versionId"]: entry["resource"] for entry in history["entry"]}
    assert sorted(by_version) == ["1", "2"]
    assert "telecom" not in by_version["1"]
    assert by_version["2"]["telecom"][0]["use"] == "mobile"

    reread.delete()
    with pytest.raises(ResourceNotFound):
        fhir.reference("Patient", patient_id).to_resource()
    # fhirpy maps both 404 and 410 to ResourceNotFound: a deleted resource must be 410 Gone.
    assert httpx.get(f"{live_server}/fhir/Patient/{patient_id}", timeout=10).status_code == 410
