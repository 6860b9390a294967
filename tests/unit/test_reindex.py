"""``hygie db reindex`` rebuilds index rows lost or stale (both backends)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hygie.cli import cli
from hygie.settings import Settings
from hygie.storage.database import open_database
from tests.support import open_client

H = {"content-type": "application/fhir+json"}


def test_reindex_restores_search(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = Settings(database_url=database_url)
    with open_client(settings) as client:
        for i in range(7):
            body = {"resourceType": "Patient", "name": [{"family": f"Lefèvre{i}"}], "gender": "female"}
            assert client.post("/fhir/Patient", json=body, headers=H).status_code == 201
        client.post(
            "/fhir/Observation",
            json={"resourceType": "Observation", "status": "final", "code": {"text": "pouls"}},
            headers=H,
        )
        assert client.get("/fhir/Patient?name=lefevre&_summary=count").json()["total"] == 7
    db = open_database(database_url)
    db.run_sync(lambda s: s.execute("DELETE FROM idx_string"))
    db.run_sync(lambda s: s.execute("DELETE FROM idx_token"))
    db.close()
    with open_client(settings) as client:
        assert client.get("/fhir/Patient?name=lefevre&_summary=count").json()["total"] == 0
    monkeypatch.setenv("HYGIE_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["db", "reindex", "--batch", "3", "--type", "Patient"])
    assert result.exit_code == 0, result.output
    assert "reindexed 7 resources" in result.output
    with open_client(settings) as client:
        assert client.get("/fhir/Patient?name=lefevre&_summary=count").json()["total"] == 7
        assert client.get("/fhir/Patient?gender=female&_summary=count").json()["total"] == 7
        assert (
            client.get("/fhir/Observation?status=final&_summary=count").json()["total"] == 0
        )  # not reindexed
    result = CliRunner().invoke(cli, ["db", "reindex"])
    assert "reindexed 8 resources" in result.output
    with open_client(settings) as client:
        assert client.get("/fhir/Observation?status=final&_summary=count").json()["total"] == 1
        assert client.get("/fhir/Patient?name=lefevre&_summary=count").json()["total"] == 7  # no duplicates
