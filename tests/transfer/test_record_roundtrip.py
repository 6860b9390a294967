"""Portability round trip: a record exported from one Hygie and imported into another is the same.

Exported with ``GET Patient/{id}/$export-record`` (and ``Organization/{id}/$export-record``) from a
database of one backend, imported with ``hygie import``'s importer (hygie/transfer/importer.py)
into a fresh database of the OTHER backend (SQLite → PostgreSQL, PostgreSQL → SQLite): every
resource reads back identical (id, meta.versionId, meta.lastUpdated, content, references), its
references resolve and are searchable, and exporting again gives byte-identical FHIR files.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from hygie.api.context import open_storage
from hygie.app import create_app
from hygie.auth.keys import load_keys
from hygie.settings import Settings
from hygie.transfer.importer import Importer
from tests.conftest import selected_backends
from tests.support import operator_header
from tests.transfer.test_record import load_world


@pytest.fixture
def other_settings(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A fresh database of the other backend (of the same one when only SQLite is selected)."""
    keys = tmp_path / "other-keys"
    if database_url.startswith("sqlite") and "postgresql" in selected_backends():
        databases = request.getfixturevalue("postgres_databases")
        url = databases.create()
        try:
            yield Settings(database_url=url, keys_dir=keys)
        finally:
            databases.drop(url)
        return
    yield Settings(database_url=f"sqlite:///{(tmp_path / 'other.db').as_posix()}", keys_dir=keys)


def import_zip(settings: Settings, path: Path) -> Any:
    db, catalog = open_storage(settings)
    try:
        importer = Importer(db, catalog, settings, audit_key=load_keys(settings.keys_dir).audit)
        return importer.import_file(path)
    finally:
        db.close()


def fhir_files(content: bytes) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    return {n: archive.read(n) for n in archive.namelist() if n.startswith("fhir/")}


def resources(files: dict[str, bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(line) for data in files.values() for line in data.splitlines()]


def check_round_trip(settings: Settings, other: Settings, url: str, tmp_path: Path) -> dict[str, bytes]:
    with TestClient(create_app(settings), headers=operator_header(settings)) as source:
        load_world(source)
        exported = source.get(url)
        assert exported.status_code == 200, exported.text
    path = tmp_path / "record.zip"
    path.write_bytes(exported.content)
    report = import_zip(other, path)
    assert report.status == "imported", report.error
    files = fhir_files(exported.content)
    records = resources(files)
    assert report.counts.total == len(records)
    with TestClient(create_app(other), headers=operator_header(other)) as target:
        for resource in records:
            got = target.get(f"/fhir/{resource['resourceType']}/{resource['id']}")
            assert got.status_code == 200
            assert got.json() == resource  # id, versionId, lastUpdated and content, exactly
            etag = f'W/"{resource["meta"]["versionId"]}"'
            assert got.headers["etag"] == etag
        # references resolve in the new database, and are indexed for search
        found = target.get("/fhir/Observation?subject=Patient/pat-1&_count=50").json()
        assert sorted(e["resource"]["id"] for e in found["entry"]) == ["obs-bp", "obs-w"]
        chained = target.get("/fhir/MedicationRequest?medication.code=A10BA02").json()
        assert [e["resource"]["id"] for e in chained["entry"]] == ["mr-1"]
        everything = target.get("/fhir/Patient/pat-1/$everything?_count=100").json()
        listed = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in everything["entry"]}
        assert {
            "Practitioner/pr-a",
            "Medication/med-1",
            "Location/loc-1",
            "DocumentReference/doc-2",
        } <= listed
        again = target.get(url)
        assert again.status_code == 200
    assert fhir_files(again.content) == files  # byte for byte: the same record
    return files


def test_patient_record_round_trip_to_the_other_backend(
    settings: Settings, other_settings: Settings, tmp_path: Path
) -> None:
    files = check_round_trip(settings, other_settings, "/fhir/Patient/pat-1/$export-record", tmp_path)
    versions = {r["id"]: r["meta"]["versionId"] for r in resources(files)}
    assert versions["cond-1"] == "3" and versions["pat-1"] == "2"  # versions > 1 kept
    assert "fhir/Binary.ndjson" in files and "fhir/DocumentReference.ndjson" in files


def test_practice_round_trip_to_the_other_backend(
    settings: Settings, other_settings: Settings, tmp_path: Path
) -> None:
    files = check_round_trip(settings, other_settings, "/fhir/Organization/orgA/$export-record", tmp_path)
    patients = [r["id"] for r in resources(files) if r["resourceType"] == "Patient"]
    assert patients == ["pat-1", "pat-2"]


def test_importing_the_same_zip_twice_changes_nothing(
    settings: Settings, other_settings: Settings, tmp_path: Path
) -> None:
    check_round_trip(settings, other_settings, "/fhir/Patient/pat-1/$export-record", tmp_path)
    again = import_zip(other_settings, tmp_path / "record.zip")
    assert again.status == "imported", again.error
    with TestClient(create_app(other_settings), headers=operator_header(other_settings)) as target:
        assert target.get("/fhir/Condition/cond-1").json()["meta"]["versionId"] == "3"
        history = target.get("/fhir/Condition/cond-1/_history").json()
        assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["3"]
