"""Bulk Data jobs: audit, restart after a stop or a crash, several servers on one database (leases),
retention, capability statement.

Bulk Data Access IG 2.0 — https://hl7.org/fhir/uv/bulkdata/STU2/export.html
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from hygie.auth.scopes import parse_scopes
from hygie.auth.tokens import Principal
from hygie.storage.database import open_database
from hygie.transfer import bulk_jobs, bulk_worker
from hygie.transfer.bulk_request import ExportRequest
from tests.support import open_client
from tests.transfer.bulk_helpers import (
    ASYNC,
    DEADLINE_S,
    bulk_settings,
    download,
    export,
    keys,
    kick_off,
    manifest_of,
)
from tests.transfer.test_bulk_export import WORLD, load

OPERATOR = Principal(
    kind="system", subject="operator", scopes=parse_scopes("system/*.cruds"), client_id="hygie-cli"
)


def test_an_export_is_audited_once_per_patient(database_url: str, tmp_path: Path) -> None:
    settings = bulk_settings(database_url, tmp_path)
    with open_client(settings) as client:
        load(client, WORLD)
        exported = export(client, "Patient/$export?_type=Observation")
        assert keys(exported) == {"Observation/o1", "Observation/o2", "Observation/o3", "Observation/o4"}
        deadline = time.monotonic() + DEADLINE_S
        found: dict[str, list[dict[str, Any]]] = {}
        while time.monotonic() < deadline and set(found) != {"p1", "p2", "p3"}:
            time.sleep(0.05)
            for patient in ("p1", "p2", "p3"):
                bundle = client.get(f"/fhir/AuditEvent?patient={patient}&_count=100").json()
                events = [e["resource"] for e in bundle.get("entry", [])]
                exports = [e for e in events if any(c.get("code") == "110106" for c in [e["type"]])]
                if exports:
                    found[patient] = exports
        assert set(found) == {"p1", "p2", "p3"}
        assert all(len(events) == 1 for events in found.values())


def test_a_job_left_running_is_restarted(database_url: str, tmp_path: Path) -> None:
    """A server stopped (or killed) during an export: at the next start the job runs again from
    the beginning; the partial file of the first run is not in the result."""
    settings = bulk_settings(database_url, tmp_path)
    with open_client(settings) as client:
        load(client, WORLD)
        base = str(client.base_url) + "/fhir"
    request = ExportRequest(level="system", base=base, url=f"{base}/$export", types=["Patient"]).to_json()
    db = open_database(database_url)
    try:
        job_id = db.run_sync(lambda s: bulk_jobs.create(s, "export", OPERATOR, request, status="running"))
    finally:
        db.close()
    partial = bulk_jobs.job_dir(settings.bulk_dir, job_id)
    partial.mkdir(parents=True)
    (partial / "Patient.ndjson").write_bytes(b'{"resourceType":"Patient","id":"half-written"}\n')
    with open_client(settings) as client:
        manifest = manifest_of(client, f"/fhir/$bulk-status?_jobId={job_id}")
        assert keys(download(client, manifest)) == {"Patient/p1", "Patient/p2", "Patient/p3"}


def test_finished_jobs_are_purged_after_the_retention(database_url: str, tmp_path: Path) -> None:
    settings = bulk_settings(database_url, tmp_path, bulk_retention_hours=2)
    with open_client(settings) as client:
        load(client, WORLD)
        url = kick_off(client, "$export?_type=Patient")
        manifest_of(client, url)
        job_id = url.rsplit("=", 1)[1]
        api = client.app.state.fhir_api  # type: ignore[attr-defined]
        now = bulk_jobs.now_ms()
        assert api.db.run_sync(lambda s: bulk_worker.purge(s, settings, now + 3_600_000)) == []
        assert client.get(url).status_code == 200
        purged = api.db.run_sync(lambda s: bulk_worker.purge(s, settings, now + 2 * 3_600_000 + 1000))
        assert purged == [job_id]
        assert client.get(url).status_code == 404
        assert not bulk_jobs.job_dir(settings.bulk_dir, job_id).exists()


def test_the_capability_statement_lists_the_operations(database_url: str, tmp_path: Path) -> None:
    with open_client(bulk_settings(database_url, tmp_path)) as client:
        statement = client.get("/fhir/metadata").json()
    rest = statement["rest"][0]
    assert {op["name"] for op in rest["operation"]} >= {"export", "import"}
    by_type = {r["type"]: {op["name"] for op in r["operation"]} for r in rest["resource"]}
    assert "export" in by_type["Patient"] and "export" in by_type["Group"]


def test_a_killed_server_finishes_the_export_after_restart(
    database_url: str, tmp_path: Path, live_server_factory: Callable[..., Any]
) -> None:
    # the killed server cannot let go of its job: its lease (1 s here) expires
    env = {"HYGIE_BULK_DIR": str(tmp_path / "bulk"), "HYGIE_BULK_LEASE_SECONDS": "1"}
    server = live_server_factory(database_url, env=env)
    fhir = server.fhir_url
    with httpx.Client(timeout=30) as http:
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": {"resourceType": "Patient", "id": f"k{i}"},
                    "request": {"method": "PUT", "url": f"Patient/k{i}"},
                }
                for i in range(300)
            ],
        }
        assert http.post(fhir, json=bundle).status_code == 200
        started = http.get(f"{fhir}/$export", headers=ASYNC)
        assert started.status_code == 202
        status_path = "/fhir/" + started.headers["content-location"].split("/fhir/", 1)[1]
        server.kill()
        server.start()  # on another port
        status_url = server.base_url + status_path
        deadline = time.monotonic() + DEADLINE_S
        while (answer := http.get(status_url)).status_code == 202:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert answer.status_code == 200, answer.text[:300]
        manifest = answer.json()
        files = [o for o in manifest["output"] if o["type"] == "Patient"]
        assert files and files[0]["count"] == 300
        ndjson = http.get(server.base_url + "/fhir/" + files[0]["url"].split("/fhir/", 1)[1])
        ids = sorted(orjson.loads(line)["id"] for line in ndjson.content.splitlines())
        assert ids == sorted(f"k{i}" for i in range(300))


def test_a_running_job_answers_202_with_its_progress(database_url: str, tmp_path: Path) -> None:
    """https://hl7.org/fhir/uv/bulkdata/STU2/export.html#response---in-progress-status"""
    with open_client(bulk_settings(database_url, tmp_path)) as client:
        api = client.app.state.fhir_api  # type: ignore[attr-defined]
        request = ExportRequest(level="system", base="http://testserver/fhir", url="x").to_json()

        def running(s: Any) -> str:  # as a worker (of another server) leaves it between two chunks
            now = bulk_jobs.now_ms()
            job_id = bulk_jobs.create(
                s, "export", OPERATOR, request, status="running", runner="elsewhere", lease_until=now + 60_000
            )
            progress = "3/12 types, 4000 resources (Observation)"
            assert bulk_jobs.set_progress(s, job_id, progress, "elsewhere", now, 60_000)
            return job_id

        job_id = api.db.run_sync(running)
        answer = client.get(f"/fhir/$bulk-status?_jobId={job_id}")
        assert answer.status_code == 202
        assert answer.headers["x-progress"] == "3/12 types, 4000 resources (Observation)"
        assert answer.headers["retry-after"] == "1"
        assert client.delete(f"/fhir/$bulk-status?_jobId={job_id}").status_code == 202
        assert client.get(f"/fhir/$bulk-status?_jobId={job_id}").status_code == 404
        assert api.db.run_sync(lambda s: bulk_jobs.get(s, job_id)) is None
