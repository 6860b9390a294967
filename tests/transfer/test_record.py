"""Patient portability: ``GET /fhir/Patient/{id}/$export-record`` and the practice export.

The ``hygie-record`` v1 ZIP (docs/portability.md): layout, manifest checksums, the current versions
as stored, decoded documents, the summary in French and English (escaped, accessible), the PDF,
the access rules (404 like absence, 403 for a practice export by a person) and the audit trail.
"""

from __future__ import annotations

import base64
import hashlib
import io
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from pypdf import PdfReader
from starlette.testclient import TestClient

from hygie.app import create_app
from hygie.auth.keys import load_keys
from hygie.auth.scopes import parse_scopes
from hygie.auth.tokens import Principal, issue
from hygie.settings import Settings
from hygie.transfer.record_documents import safe_name
from hygie.transfer.record_pdf import latin1, render_pdf, unicode_font
from hygie.transfer.record_summary import Section, Summary
from tests.api.support import H, put_all
from tests.support import operator_header

EVIL = "Œdème<script>alert(1)</script>"
LETTER = "Lettre de liaison : Bénédicte va bien.\n".encode()
PDF_BYTES = b"%PDF-1.4 fake letter"


def rich_record() -> list[dict[str, Any]]:
    """Two practices, their professionals, and patients with a varied record."""
    subject = {"reference": "Patient/pat-1"}
    return [
        {"resourceType": "Organization", "id": "orgA", "name": "Cabinet des Tilleuls"},
        {"resourceType": "Organization", "id": "orgB", "name": "Maison de santé du Port"},
        {"resourceType": "Practitioner", "id": "pr-a", "name": [{"family": "Martin", "given": ["Claire"]}]},
        {"resourceType": "Practitioner", "id": "pr-b", "name": [{"family": "Durand"}]},
        {
            "resourceType": "PractitionerRole",
            "id": "role-a",
            "practitioner": {"reference": "Practitioner/pr-a"},
            "organization": {"reference": "Organization/orgA"},
        },
        {
            "resourceType": "PractitionerRole",
            "id": "role-b",
            "practitioner": {"reference": "Practitioner/pr-b"},
            "organization": {"reference": "Organization/orgB"},
        },
        {"resourceType": "Location", "id": "loc-1", "name": "Salle 2",
         "managingOrganization": {"reference": "Organization/orgA"}},
        {"resourceType": "Medication", "id": "med-1",
         "code": {"coding": [{"system": "http://hl7.org/fhir/sid/atc", "code": "A10BA02",
                              "display": "Metformine 500 mg"}]}},
        {
            "resourceType": "Patient",
            "id": "pat-1",
            "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "255081416802538"}],
            "name": [{"family": EVIL, "given": ["Bénédicte"]}],
            "gender": "female",
            "birthDate": "1955-08-14",
            "address": [{"line": ["3 rue des Lilas"], "postalCode": "35000", "city": "Rennes"}],
            "generalPractitioner": [{"reference": "Practitioner/pr-a"}],
            "managingOrganization": {"reference": "Organization/orgA"},
        },
        {"resourceType": "Patient", "id": "pat-2", "name": [{"family": "Leroy", "given": ["Jean"]}],
         "generalPractitioner": [{"reference": "Practitioner/pr-a"}]},
        {"resourceType": "Patient", "id": "pat-3", "name": [{"family": "Autre"}],
         "managingOrganization": {"reference": "Organization/orgB"}},
        {"resourceType": "Encounter", "id": "enc-1", "status": "finished",
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
         "subject": subject, "location": [{"location": {"reference": "Location/loc-1"}}],
         "serviceProvider": {"reference": "Organization/orgA"}},
        {"resourceType": "Condition", "id": "cond-1", "subject": subject,
         "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "E11",
                              "display": "Diabète de type 2"}]},
         "onsetDateTime": "2015-03-02"},
        {"resourceType": "MedicationRequest", "id": "mr-1", "status": "active", "intent": "order",
         "subject": subject, "medicationReference": {"reference": "Medication/med-1"},
         "requester": {"reference": "Practitioner/pr-a"}, "authoredOn": "2024-01-10",
         "dosageInstruction": [{"text": "1 comprimé matin et soir"}]},
        {"resourceType": "AllergyIntolerance", "id": "al-1", "patient": subject, "criticality": "high",
         "code": {"text": "Pénicilline"},
         "reaction": [{"manifestation": [{"text": "Urticaire"}]}]},
        {"resourceType": "Immunization", "id": "imm-1", "status": "completed", "patient": subject,
         "vaccineCode": {"text": "Grippe saisonnière"}, "occurrenceDateTime": "2024-10-15"},
        {"resourceType": "Observation", "id": "obs-w", "status": "final", "subject": subject,
         "code": {"text": "Poids"}, "effectiveDateTime": "2024-05-01",
         "valueQuantity": {"value": 71.5, "unit": "kg"}, "performer": [{"reference": "Practitioner/pr-a"}],
         "encounter": {"reference": "Encounter/enc-1"}},
        {"resourceType": "Observation", "id": "obs-bp", "status": "final", "subject": subject,
         "code": {"text": "Pression artérielle"}, "effectiveDateTime": "2024-05-01",
         "component": [
             {"code": {"text": "systolique"}, "valueQuantity": {"value": 132, "unit": "mmHg"}},
             {"code": {"text": "diastolique"}, "valueQuantity": {"value": 81, "unit": "mmHg"}},
         ]},
        {"resourceType": "Binary", "id": "bin-1", "contentType": "application/pdf",
         "data": base64.b64encode(PDF_BYTES).decode()},
        {"resourceType": "Binary", "id": "bin-2", "contentType": "application/pdf",
         "securityContext": subject, "data": base64.b64encode(PDF_BYTES).decode()},
        {"resourceType": "DocumentReference", "id": "doc-1", "status": "current", "subject": subject,
         "date": "2024-05-02T10:00:00+02:00", "author": [{"reference": "Practitioner/pr-a"}],
         "content": [{"attachment": {"contentType": "text/plain", "title": "Lettre ../../etc/passwd",
                                     "data": base64.b64encode(LETTER).decode()}}]},
        {"resourceType": "DocumentReference", "id": "doc-2", "status": "current", "subject": subject,
         "content": [{"attachment": {"contentType": "application/pdf", "title": "Compte rendu",
                                     "url": "Binary/bin-1"}}]},
        {"resourceType": "Observation", "id": "obs-3", "status": "final", "code": {"text": "Poids"},
         "subject": {"reference": "Patient/pat-3"}, "valueQuantity": {"value": 90, "unit": "kg"}},
        {"resourceType": "Observation", "id": "obs-2", "status": "final", "code": {"text": "Poids"},
         "subject": {"reference": "Patient/pat-2"}, "valueQuantity": {"value": 60, "unit": "kg"}},
    ]  # fmt: skip


def load_world(client: TestClient) -> None:
    """The rich record, with later versions of some resources (versionId 2 and 3)."""
    put_all(client, rich_record())
    for status in ("active", "recurrence"):
        cond = client.get("/fhir/Condition/cond-1").json()
        cond["clinicalStatus"] = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]
        }
        assert client.put("/fhir/Condition/cond-1", json=cond, headers=H).status_code == 200
    patient = client.get("/fhir/Patient/pat-1").json()
    patient["telecom"] = [{"system": "phone", "value": "+33 6 12 34 56 78"}]
    assert client.put("/fhir/Patient/pat-1", json=patient, headers=H).status_code == 200


def person_header(settings: Settings, principal: Principal) -> dict[str, str]:
    keys = load_keys(settings.keys_dir)
    token = issue(keys, principal, audience=keys.instance, now=int(time.time()), ttl=600)
    return {"Authorization": f"Bearer {token}"}


def patient_principal(pid: str) -> Principal:
    return Principal(
        kind="patient",
        subject=f"acc-{pid}",
        scopes=parse_scopes("user/*.rs"),  # a patient's own account (portal), not an app
        fhir_user=f"Patient/{pid}",
        patients=(pid,),
    )


def professional_principal(practitioner: str, org: str) -> Principal:
    return Principal(
        kind="professional",
        subject=f"acc-{practitioner}",
        scopes=parse_scopes("user/*.rs"),
        fhir_user=f"Practitioner/{practitioner}",
        organization=org,
    )


def open_zip(content: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(content))


def ndjson(archive: zipfile.ZipFile, rtype: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in archive.read(f"fhir/{rtype}.ndjson").splitlines()]


def ids(archive: zipfile.ZipFile, rtype: str) -> list[str]:
    return [r["id"] for r in ndjson(archive, rtype)] if f"fhir/{rtype}.ndjson" in archive.namelist() else []


@pytest.fixture
def world(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers=operator_header(settings)) as op:
        load_world(op)
        yield op


def test_zip_layout_manifest_and_current_versions(world: TestClient) -> None:
    r = world.get("/fhir/Patient/pat-1/$export-record?_language=fr")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert "hygie-record-pat-1.zip" in r.headers["content-disposition"]
    archive = open_zip(r.content)
    names = set(archive.namelist())
    manifest = orjson.loads(archive.read("manifest.json"))
    assert manifest["format"] == "hygie-record" and manifest["version"] == 1
    assert manifest["scope"] == {"patient": "pat-1"}
    assert manifest["language"] == "fr"
    assert manifest["generator"].startswith("Hygie ")
    assert manifest["created"].endswith("Z")
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == names - {"manifest.json"}  # every file listed, nothing unlisted
    for path, entry in listed.items():
        data = archive.read(path)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), path
        assert entry["bytes"] == len(data)
        if path.startswith("fhir/"):
            assert entry["resources"] == len(data.splitlines())
        else:
            assert entry["resources"] is None
    assert {"summary/summary.html", "summary/summary.pdf"} <= names
    # the patient's record, and the reference data it points to, nobody else's
    assert ids(archive, "Patient") == ["pat-1"]
    assert ids(archive, "Observation") == ["obs-bp", "obs-w"]  # sorted by id
    assert ids(archive, "Condition") == ["cond-1"]
    assert ids(archive, "DocumentReference") == ["doc-1", "doc-2"]
    assert ids(archive, "Practitioner") == ["pr-a"]
    assert ids(archive, "Organization") == ["orgA"]  # Patient.managingOrganization, Location's org
    assert ids(archive, "Location") == ["loc-1"]
    assert ids(archive, "Medication") == ["med-1"]
    assert ids(archive, "Binary") == ["bin-1", "bin-2"]  # attached (bin-1) or in the record (bin-2)
    assert "fhir/PractitionerRole.ndjson" not in names  # nothing points to it
    # current versions exactly as the server serves them (id, versionId, lastUpdated, content)
    for rtype in ("Patient", "Condition", "Observation", "Medication", "DocumentReference"):
        for resource in ndjson(archive, rtype):
            assert resource == world.get(f"/fhir/{rtype}/{resource['id']}").json()
    assert ndjson(archive, "Condition")[0]["meta"]["versionId"] == "3"
    assert ndjson(archive, "Patient")[0]["meta"]["versionId"] == "2"
    # documents decoded, with harmless names
    documents = sorted(n for n in names if n.startswith("documents/"))
    assert len(documents) == 3 and "documents/binary-bin-2.pdf" in documents  # bin-2: no document names it
    for name in documents:
        assert name.count("/") == 1 and ".." not in name and all(c.isalnum() or c in "._-/" for c in name)
    assert {archive.read(n) for n in documents} == {LETTER, PDF_BYTES}
    assert any(n.endswith(".txt") for n in documents) and any(n.endswith(".pdf") for n in documents)


def test_summary_in_french_and_english_is_escaped_and_accessible(world: TestClient) -> None:
    fr = open_zip(world.get("/fhir/Patient/pat-1/$export-record").content)  # French by default
    html = fr.read("summary/summary.html").decode()
    assert '<html lang="fr">' in html
    for heading in (
        "Identité",
        "Problèmes de santé",
        "Traitements",
        "Allergies et intolérances",
        "Vaccinations",
        "Résultats et constantes récents",
        "Documents",
        "Contenu de ce fichier",
    ):
        assert f">{heading}</h2>" in html, heading  # fmt: skip
    for fact in (
        "Bénédicte",
        "14/08/1955",
        "Diabète de type 2",
        "Metformine 500 mg",
        "1 comprimé matin et soir",
        "Pénicilline",
        "Urticaire",
        "Grippe saisonnière",
        "71.5 kg",
        "132 mmHg / 81 mmHg",
        "Compte rendu",
        "255081416802538",
        "Rennes",
        "+33 6 12 34 56 78",
    ):
        assert fact in html, fact  # fmt: skip
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<th scope="col">' in html and "http://" not in html and "https://" not in html
    assert '<a href="../documents/doc-2-1-Compte-rendu.pdf">' in html  # relative: opens once unpacked
    en = open_zip(world.get("/fhir/Patient/pat-1/$export-record?_language=en").content)
    assert orjson.loads(en.read("manifest.json"))["language"] == "en"
    html_en = en.read("summary/summary.html").decode()
    assert '<html lang="en">' in html_en
    for heading in (
        "Identity",
        "Problems",
        "Treatments",
        "Allergies and intolerances",
        "Vaccinations",
        "Recent results and vital signs",
        "Documents",
        "What is in this file",
    ):
        assert f">{heading}</h2>" in html_en, heading  # fmt: skip
    assert "1955-08-14" in html_en and "Bénédicte" in html_en
    # Accept-Language chooses when _language is absent
    by_header = open_zip(
        world.get("/fhir/Patient/pat-1/$export-record", headers={"Accept-Language": "en"}).content
    )
    assert '<html lang="en">' in by_header.read("summary/summary.html").decode()


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 1
    return "\n".join(page.extract_text() for page in reader.pages)


def test_pdf_summary_opens_and_keeps_the_accents(world: TestClient) -> None:
    archive = open_zip(world.get("/fhir/Patient/pat-1/$export-record").content)
    data = archive.read("summary/summary.pdf")
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    assert "Bénédicte" in text and "Diabète de type 2" in text and "Problèmes de santé" in text
    # with DejaVu Sans (Debian fonts-dejavu-core) Œ is exact; with the standard font it is OE
    assert ("Œdème" if unicode_font() is not None else "OEdème") in text


def test_pdf_without_unicode_font_transliterates_outside_latin1() -> None:
    summary = Summary(
        "fr",
        "Bénédicte Œdème",
        ("« guillemets » — tiret",),
        (Section("Problèmes", ("a", "b"), (("x", "ÿ"),)),),
    )
    text = pdf_text(render_pdf(summary, use_system_fonts=False))
    assert "Bénédicte OEdème" in text and "Problèmes" in text and "- tiret" in text
    assert latin1("Œuf “x” … ₂") == 'OEuf "x" ... 2'


def test_unsafe_names_are_made_harmless() -> None:
    assert safe_name("../../etc/passwd") == "etc-passwd"
    assert safe_name("Compte rendu d'hospitalisation é/\\:*?<>|") == "Compte-rendu-d-hospitalisation-e"
    assert safe_name("..") == "document"
    assert safe_name(".hidden") == "hidden"
    assert len(safe_name("x" * 500)) <= 80


def test_a_patient_exports_their_own_record_only(world: TestClient, settings: Settings) -> None:
    with TestClient(create_app(settings), headers=person_header(settings, patient_principal("pat-1"))) as me:
        mine = me.get("/fhir/Patient/pat-1/$export-record")
        assert mine.status_code == 200, mine.text
        archive = open_zip(mine.content)
        assert ids(archive, "Patient") == ["pat-1"]
        # a Binary naming no patient is for system clients only; one whose securityContext is
        # the patient is part of their record (hygie.auth.policy)
        assert ids(archive, "Binary") == ["bin-2"]
        assert ids(archive, "Practitioner") == ["pr-a"]  # reference data is readable by patients
        other = me.get("/fhir/Patient/pat-3/$export-record")
        absent = me.get("/fhir/Patient/nobody/$export-record")
        assert other.status_code == absent.status_code == 404
        assert other.json()["issue"][0]["code"] == absent.json()["issue"][0]["code"] == "not-found"
        assert me.get("/fhir/Organization/orgA/$export-record").status_code == 403


def test_professionals_export_the_patients_they_care_for(world: TestClient, settings: Settings) -> None:
    with TestClient(
        create_app(settings), headers=person_header(settings, professional_principal("pr-a", "orgA"))
    ) as gp:
        ok = gp.get("/fhir/Patient/pat-1/$export-record")
        assert ok.status_code == 200
        assert ids(open_zip(ok.content), "Observation") == ["obs-bp", "obs-w"]
        assert gp.get("/fhir/Patient/pat-3/$export-record").status_code == 404
        assert gp.get("/fhir/Organization/orgA/$export-record").status_code == 403
    with TestClient(
        create_app(settings), headers=person_header(settings, professional_principal("pr-b", "orgB"))
    ) as b:
        assert b.get("/fhir/Patient/pat-1/$export-record").status_code == 404
        assert b.get("/fhir/Patient/pat-3/$export-record").status_code == 200


def test_bad_requests_are_clear_4xx(world: TestClient) -> None:
    assert world.get("/fhir/Patient/pat-1/$export-record?_language=de").status_code == 400
    assert world.get("/fhir/Patient/pat-1/$export-record?since=2020").status_code == 400
    assert world.post("/fhir/Patient/pat-1/$export-record", json={}).status_code == 405
    assert world.get("/fhir/Organization/nowhere/$export-record").status_code == 404
    world.delete("/fhir/Patient/pat-2")
    assert world.get("/fhir/Patient/pat-2/$export-record").status_code == 410


def test_practice_export_has_every_patient_of_the_organisation(world: TestClient) -> None:
    r = world.get("/fhir/Organization/orgA/$export-record?_language=en")
    assert r.status_code == 200, r.text
    assert "hygie-practice-orgA.zip" in r.headers["content-disposition"]
    archive = open_zip(r.content)
    manifest = orjson.loads(archive.read("manifest.json"))
    assert manifest["scope"] == {"organization": "orgA", "patients": 2}
    # pat-1: managed by orgA; pat-2: their GP pr-a works for orgA (PractitionerRole); not pat-3
    assert ids(archive, "Patient") == ["pat-1", "pat-2"]
    assert ids(archive, "Observation") == ["obs-2", "obs-bp", "obs-w"]
    assert ids(archive, "Organization") == ["orgA"]
    assert ids(archive, "PractitionerRole") == ["role-a"]  # the practice's staff and places
    assert ids(archive, "Location") == ["loc-1"]
    html = archive.read("summary/summary.html").decode()
    assert "Cabinet des Tilleuls" in html and "Jean Leroy" in html and ">Patients</h2>" in html
    for entry in manifest["files"]:
        assert entry["sha256"] == hashlib.sha256(archive.read(entry["path"])).hexdigest()


def test_the_export_is_in_the_patients_audit_trail(settings: Settings) -> None:
    with TestClient(create_app(settings), headers=operator_header(settings)) as op:
        load_world(op)
        assert (
            op.get("/fhir/Patient/pat-1/$export-record", headers={"X-Request-ID": "exp-1"}).status_code == 200
        )
        assert op.get("/fhir/Organization/orgA/$export-record").status_code == 200
    with TestClient(create_app(settings), headers=person_header(settings, patient_principal("pat-1"))) as me:
        events = [e["resource"] for e in me.get("/fhir/AuditEvent?_count=200").json().get("entry", [])]
    exports = [e for e in events if e["type"].get("code") == "110106"]  # DICOM Export
    assert len(exports) == 2  # the patient's own export, and the practice's
    assert all(
        any(ent.get("what", {}).get("reference") == "Patient/pat-1" for ent in e["entity"]) for e in exports
    )
    queries = {
        base64.b64decode(ent["query"]).decode() for e in exports for ent in e["entity"] if ent.get("query")
    }
    assert queries == {"/fhir/Patient/pat-1/$export-record", "/fhir/Organization/orgA/$export-record"}
    operations = [e for e in events if any(s.get("code") == "operation" for s in e.get("subtype", []))]
    assert any(
        ent.get("what", {}).get("identifier", {}).get("value") == "exp-1"
        for e in operations
        for ent in e["entity"]
    )
