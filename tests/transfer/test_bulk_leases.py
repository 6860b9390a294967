"""Bulk Data jobs with several server processes on one database (hygie/transfer/bulk_jobs.py,
migration 15): a running job belongs to the worker holding its lease; only an expired or released
lease sends it back to the queue, and a worker that lost its job changes nothing.

Each ``open_client`` below is a whole server (its FhirApi, its Bulk Data worker, its own database
connection) sharing the test's database, as several processes would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hygie.storage.database import open_database
from hygie.transfer import bulk_jobs
from hygie.transfer.bulk_request import ExportRequest
from tests.support import open_client
from tests.transfer.bulk_helpers import bulk_settings, download, keys, manifest_of
from tests.transfer.test_bulk_export import WORLD, load
from tests.transfer.test_bulk_jobs import OPERATOR


def _in_database(database_url: str, work: Callable[[Any], Any], *, write: bool = True) -> Any:
    """``work(session)`` in one transaction of a fresh connection (as another process would)."""
    db = open_database(database_url)
    db.upgrade()
    try:
        return db.run_sync(work, write=write)
    finally:
        db.close()


def _job(database_url: str, base: str, **fields: Any) -> str:
    request = ExportRequest(level="system", base=base, url=f"{base}/$export", types=["Patient"]).to_json()
    return str(
        _in_database(database_url, lambda s: bulk_jobs.create(s, "export", OPERATOR, request, **fields))
    )


def _row(database_url: str, job_id: str) -> tuple[Any, ...]:
    query = "SELECT status, runner, lease_until FROM bulk_job WHERE id = ?"
    row = _in_database(database_url, lambda s: s.one(query, (job_id,)), write=False)
    assert row is not None
    return tuple(row)


def _worker(api: Any) -> Any:
    """The Bulk Data worker of a running server."""
    from hygie.transfer.bulk_worker import _WORKERS

    return _WORKERS[api]


def test_a_starting_server_leaves_another_servers_running_job_alone(
    database_url: str, tmp_path: Path
) -> None:
    """Migration 9's workers queued again every running job at start: a second server started
    while the first exported restarted the first one's job (two writers, one folder)."""
    settings = bulk_settings(database_url, tmp_path)
    with open_client(settings) as client:
        load(client, WORLD)
        base = str(client.base_url) + "/fhir"
    until = bulk_jobs.now_ms() + 60_000
    job_id = _job(database_url, base, status="running", runner="other-server:1:ab", lease_until=until)
    folder = bulk_jobs.job_dir(settings.bulk_dir, job_id)
    folder.mkdir(parents=True)
    (folder / "Patient.ndjson").write_bytes(b'{"resourceType":"Patient","id":"being-written"}\n')
    with open_client(settings):
        time.sleep(1.0)  # five looks of the idle worker
    assert _row(database_url, job_id) == ("running", "other-server:1:ab", until)
    assert (folder / "Patient.ndjson").read_bytes() == b'{"resourceType":"Patient","id":"being-written"}\n'


def test_a_job_whose_lease_expired_is_run_again_by_another_server(database_url: str, tmp_path: Path) -> None:
    settings = bulk_settings(database_url, tmp_path)
    with open_client(settings) as client:
        load(client, WORLD)
        base = str(client.base_url) + "/fhir"
        job_id = _job(
            database_url, base, status="running", runner="crashed:7:cd", lease_until=bulk_jobs.now_ms() - 1
        )
        manifest = manifest_of(client, f"/fhir/$bulk-status?_jobId={job_id}")
        assert keys(download(client, manifest)) == {"Patient/p1", "Patient/p2", "Patient/p3"}
        status, runner, lease = _row(database_url, job_id)
        assert status == "done" and runner not in (None, "crashed:7:cd") and lease is None
        assert runner == _worker(client.app.state.fhir_api).runner  # type: ignore[attr-defined]


def test_a_stopping_server_lets_go_of_its_job_at_once(database_url: str, tmp_path: Path) -> None:
    """A clean stop releases the lease: the next server takes the job up without waiting for it to
    expire (a lease of an hour here)."""
    settings = bulk_settings(database_url, tmp_path, bulk_lease_seconds=3600)
    with open_client(settings) as client:
        load(client, WORLD)
        base = str(client.base_url) + "/fhir"
        worker = _worker(client.app.state.fhir_api)  # type: ignore[attr-defined]
        job_id = _job(
            database_url,
            base,
            status="running",
            runner=worker.runner,
            lease_until=bulk_jobs.now_ms() + 3_600_000,
        )
    status, runner, lease = _row(database_url, job_id)
    assert (status, runner, lease) == ("running", worker.runner, 0)
    with open_client(settings) as client:
        manifest = manifest_of(client, f"/fhir/$bulk-status?_jobId={job_id}")
        assert keys(download(client, manifest)) == {"Patient/p1", "Patient/p2", "Patient/p3"}


def test_a_runner_that_lost_its_job_changes_nothing(database_url: str) -> None:
    def scenario(s: Any) -> None:
        now = bulk_jobs.now_ms()
        job_id = bulk_jobs.create(
            s, "export", OPERATOR, {"x": 1}, status="running", runner="a", lease_until=now - 1
        )
        assert not bulk_jobs.renew(s, job_id, "b", now, 1000)  # not b's
        assert bulk_jobs.requeue_expired(s, now) == [job_id]
        taken = bulk_jobs.claim(s, "b", now, 1000)
        assert taken is not None and taken.id == job_id
        # a, stalled past its lease, comes back: its progress, result or failure are refused
        assert not bulk_jobs.set_progress(s, job_id, "late", "a", now, 1000)
        assert not bulk_jobs.finish(s, job_id, {"output": []}, "a")
        assert not bulk_jobs.fail(s, job_id, {"status": 500}, "a")
        assert bulk_jobs.requeue_expired(s, now) == []  # b's lease runs
        assert bulk_jobs.set_progress(s, job_id, "1/1", "b", now, 1000)
        assert bulk_jobs.finish(s, job_id, {"output": []}, "b")
        job = bulk_jobs.get(s, job_id)
        assert job is not None and job.status == "done" and job.progress is None

    _in_database(database_url, scenario)


def test_waiting_sees_queued_and_expired_jobs_only(database_url: str) -> None:
    def scenario(s: Any) -> None:
        now = bulk_jobs.now_ms()
        s.execute("DELETE FROM bulk_job")
        assert not bulk_jobs.waiting(s, now)
        bulk_jobs.create(s, "export", OPERATOR, {}, status="running", runner="a", lease_until=now + 5000)
        assert not bulk_jobs.waiting(s, now)
        assert bulk_jobs.waiting(s, now + 5001)  # that lease expired by then
        bulk_jobs.create(s, "export", OPERATOR, {}, status="running")  # before migration 15: no lease
        assert bulk_jobs.waiting(s, now)
        s.execute("DELETE FROM bulk_job")
        bulk_jobs.create(s, "export", OPERATOR, {})
        assert bulk_jobs.waiting(s, now)
        s.execute("DELETE FROM bulk_job")

    _in_database(database_url, scenario)
