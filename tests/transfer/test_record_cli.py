"""``hygie export record`` / ``hygie export practice``: the portability ZIP from the command line
(operator access, audited), on both databases."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from hygie.app import create_app
from hygie.settings import Settings
from hygie.storage.database import open_database
from hygie.transfer import commands_record  # noqa: F401  (registers record and practice)
from hygie.transfer.commands_export import export_cli
from tests.support import operator_header
from tests.transfer.test_record import load_world


@pytest.fixture
def loaded(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    with TestClient(create_app(settings), headers=operator_header(settings)) as op:
        load_world(op)
    monkeypatch.setenv("HYGIE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HYGIE_KEYS_DIR", str(settings.keys_dir))
    return settings


def audit_bodies(settings: Settings) -> list[dict[str, object]]:
    db = open_database(settings.database_url)
    try:
        rows = db.run_sync(lambda s: s.all("SELECT body FROM audit_log ORDER BY seq"), write=False)
    finally:
        db.close()
    return [orjson.loads(bytes(b)) for (b,) in rows]


def test_record_command_writes_the_zip_and_audits_it(loaded: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out" / "bénédicte.zip"
    result = CliRunner().invoke(export_cli, ["record", "pat-1", "--out", str(out), "--language", "en"])
    assert result.exit_code == 0, result.output
    assert "Patient/pat-1" in result.output
    archive = zipfile.ZipFile(out)
    manifest = orjson.loads(archive.read("manifest.json"))
    assert manifest["scope"] == {"patient": "pat-1"} and manifest["language"] == "en"
    for entry in manifest["files"]:
        assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
    assert [orjson.loads(x)["id"] for x in archive.read("fhir/Patient.ndjson").splitlines()] == ["pat-1"]
    assert "fhir/Binary.ndjson" in archive.namelist()  # the operator reads everything
    assert '<html lang="en">' in archive.read("summary/summary.html").decode()
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind
    exports = [e for e in audit_bodies(loaded) if e["type"]["code"] == "110106"]  # type: ignore[index]
    assert len(exports) == 1
    entities = exports[0]["entity"]
    assert any(ent.get("what", {}).get("reference") == "Patient/pat-1" for ent in entities)  # type: ignore[attr-defined,union-attr]


def test_practice_command_writes_every_patient(loaded: Settings, tmp_path: Path) -> None:
    out = tmp_path / "practice.zip"
    result = CliRunner().invoke(export_cli, ["practice", "orgA", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 patients" in result.output
    archive = zipfile.ZipFile(out)
    patients = [orjson.loads(x)["id"] for x in archive.read("fhir/Patient.ndjson").splitlines()]
    assert patients == ["pat-1", "pat-2"]
    assert orjson.loads(archive.read("manifest.json"))["language"] == "fr"  # the server's default
    exports = [e for e in audit_bodies(loaded) if e["type"]["code"] == "110106"]  # type: ignore[index]
    assert len(exports) == 2  # one event per patient


def test_unknown_ids_fail_cleanly_without_a_file(loaded: Settings, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "none.zip"
    result = CliRunner().invoke(export_cli, ["record", "nobody", "--out", str(out)])
    assert result.exit_code == 1
    assert "nobody" in result.output
    assert list(out.parent.iterdir()) == []  # no ZIP, no temporary file
    other = CliRunner().invoke(export_cli, ["practice", "nowhere", "--out", str(out)])
    assert other.exit_code == 1 and not out.exists()
    bad = CliRunner().invoke(export_cli, ["record", "pat-1", "--out", str(out), "--language", "de"])
    assert bad.exit_code == 2 and not out.exists()
