"""``hygie ingest FORMAT FILE --patient ID``: each format from a file, idempotent, audited."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.testclient import TestClient
from typer.testing import CliRunner, Result

from hygie.monitoring.commands import commands
from hygie.settings import Settings
from tests.monitoring.test_ingest_op import APPLE, NOW, omh_spo2
from tests.monitoring.test_service import put


def ingest(settings: Settings, *args: str) -> Result:
    env = {"HYGIE_DATABASE_URL": settings.database_url, "HYGIE_KEYS_DIR": str(settings.keys_dir)}
    return CliRunner().invoke(commands, list(args), env=env)


def raw_points(client: TestClient, measure: str) -> int:
    answer = client.get("/fhir/Patient/cli1/$samples", params={"measure": measure, "grain": "raw"}).json()
    return len([p for p in answer["parameter"] if p["name"] == "point"])


def test_each_format(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    put(client, {"resourceType": "Patient", "id": "cli1"})
    omh = tmp_path / "omh.json"
    omh.write_text(json.dumps(omh_spo2([97, 96, 95])))
    first = ingest(settings, "openmhealth", str(omh), "--patient", "cli1")
    assert first.exit_code == 0, first.output
    assert "new: 3" in first.output
    again = ingest(settings, "openmhealth", str(omh), "--patient", "cli1")
    assert "new: 0" in again.output and "unchanged: 3" in again.output
    assert raw_points(client, "spo2") == 3

    apple = tmp_path / "export.xml"
    apple.write_text(APPLE.format(t=NOW.strftime("%Y-%m-%d %H:%M:%S +0000")))
    assert ingest(settings, "apple-health", str(apple), "--patient", "cli1").exit_code == 0
    assert raw_points(client, "heart-rate") == 1

    csv_file = tmp_path / "tension.csv"
    csv_file.write_text("date;pouls\n20/11/2026 08:00;71\n20/11/2026 08:05;73,5\n")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(
        json.dumps(
            {
                "delimiter": ";",
                "decimal": ",",
                "timezone": "Europe/Paris",
                "kind": {"value": "heart-rate"},
                "time": {"column": "date", "format": "%d/%m/%Y %H:%M"},
                "value": "pouls",
                "unit": {"value": "/min"},
            }
        )
    )
    done = ingest(settings, "csv", str(csv_file), "--patient", "cli1", "--mapping", str(mapping))
    assert done.exit_code == 0, done.output
    assert "new: 2" in done.output
    audit = client.get("/fhir/AuditEvent?patient=Patient/cli1").json()
    assert any("hygie ingest" in str(e["resource"]) for e in audit.get("entry", []))


def test_refusals(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    put(client, {"resourceType": "Patient", "id": "cli1"})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(omh_spo2([140])))
    assert ingest(settings, "openmhealth", str(bad), "--patient", "cli1").exit_code == 1
    assert ingest(settings, "openmhealth", str(bad), "--patient", "nobody").exit_code == 1
    assert ingest(settings, "fitbit", str(bad), "--patient", "cli1").exit_code != 0
    assert ingest(settings, "csv", str(bad), "--patient", "cli1").exit_code != 0  # no mapping
    broken = tmp_path / "broken.xml"
    broken.write_text("<HealthData><Record")
    assert ingest(settings, "apple-health", str(broken), "--patient", "cli1").exit_code == 1
    assert raw_points(client, "heart-rate") == 0
