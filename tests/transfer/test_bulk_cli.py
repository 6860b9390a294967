"""``hygie export bulk``: the same NDJSON files and manifest as ``$export``, written by the operator.

https://hl7.org/fhir/uv/bulkdata/STU2/export.html — output files and manifest.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from hygie.transfer.commands_export import export_cli
from tests.support import open_client
from tests.transfer.bulk_helpers import DEADLINE_S, bulk_settings
from tests.transfer.test_bulk_export import WORLD, load


def _ids(path: Path) -> set[str]:
    return {orjson.loads(line)["id"] for line in path.read_bytes().splitlines() if line.strip()}


def test_bulk_writes_ndjson_and_a_manifest(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = bulk_settings(database_url, tmp_path)
    monkeypatch.setenv("HYGIE_DATABASE_URL", database_url)
    monkeypatch.setenv("HYGIE_KEYS_DIR", str(settings.keys_dir))
    with open_client(settings) as client:
        load(client, WORLD)
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(export_cli, ["bulk", str(out)])
    assert result.exit_code == 0, result.output
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert {o["type"]: o["count"] for o in manifest["output"]} == {
        "Group": 1,
        "Observation": 4,
        "Organization": 1,
        "Patient": 3,
    }
    assert manifest["requiresAccessToken"] is False
    assert _ids(out / "Observation.ndjson") == {"o1", "o2", "o3", "o4"}
    group = tmp_path / "group"
    result = runner.invoke(export_cli, ["bulk", str(group), "--group", "g1", "--type", "Observation"])
    assert result.exit_code == 0, result.output
    assert _ids(group / "Observation.ndjson") == {"o1", "o2"}
    lab = tmp_path / "lab"
    args = [
        "bulk",
        str(lab),
        "--patient-level",
        "--type-filter",
        "Observation?category=laboratory",
        "--type",
        "Observation",
    ]
    assert runner.invoke(export_cli, args).exit_code == 0
    assert _ids(lab / "Observation.ndjson") == {"o2", "o3"}
    # errors: a non-empty directory, an unknown type, an unknown group, a bad date
    for bad in (
        ["bulk", str(out)],
        ["bulk", str(tmp_path / "e1"), "--type", "Nonsense"],
        ["bulk", str(tmp_path / "e2"), "--group", "nope"],
        ["bulk", str(tmp_path / "e3"), "--since", "yesterday"],
        ["bulk", str(tmp_path / "e4"), "--patient-level", "--group", "g1"],
    ):
        result = runner.invoke(export_cli, bad)
        assert result.exit_code == 2, (bad, result.output)
        assert "error:" in result.output
    # audited: an Export event for each patient of the first export
    with open_client(settings) as client:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            events = client.get("/fhir/AuditEvent?patient=p2").json().get("entry", [])
            if any(e["resource"]["type"]["code"] == "110106" for e in events):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no export audit event for p2")
