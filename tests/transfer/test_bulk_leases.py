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


def test_a_stalled_runners_late_writes_never_reach_the_served_files(
    database_url: str, tmp_path: Path
) -> None:
    """A runner stalled past its lease writes the chunk it had in flight before it notices it lost
    the job: into its run's own folder. The files of the run that finished are the ones served,
    and that run's end removes the folders of the earlier runs."""
    settings = bulk_settings(database_url, tmp_path)
    stalled = "stalled:9:ef"
    with open_client(settings) as client:
        load(client, WORLD)
        base = str(client.base_url) + "/fhir"
        job_id = bulk_jobs.new_job_id()
        early = bulk_jobs.run_dir(settings.bulk_dir, job_id, stalled)
        early.mkdir(parents=True)
        (early / "Patient.ndjson").write_bytes(b'{"resourceType":"Patient","id":"half-written"}\n')
        expired = bulk_jobs.now_ms() - 1
        _job(database_url, base, job_id=job_id, status="running", runner=stalled, lease_until=expired)
        manifest = manifest_of(client, f"/fhir/$bulk-status?_jobId={job_id}")
        worker = _worker(client.app.state.fhir_api)  # type: ignore[attr-defined]
        served = bulk_jobs.run_dir(settings.bulk_dir, job_id, worker.runner)
        assert (served / "Patient.ndjson").is_file() and not early.exists()
        # the stalled runner's late chunk lands after the job is done: in its own folder
        early.mkdir(parents=True)
        (early / "Patient.ndjson").write_bytes(b'{"resourceType":"Patient","id":"late"}\n')
        assert keys(download(client, manifest)) == {"Patient/p1", "Patient/p2", "Patient/p3"}


def test_files_of_jobs_finished_before_runs_had_folders_are_still_served(
    database_url: str, tmp_path: Path
) -> None:
    settings = bulk_settings(database_url, tmp_path)
    with open_client(settings) as client:
        base = str(client.base_url) + "/fhir"
        until = bulk_jobs.now_ms() + 60_000
        job_id = _job(database_url, base, status="running", runner="old:1:aa", lease_until=until)
        url = f"{base}/$bulk-file?_jobId={job_id}&file=Patient.ndjson"
        done = {"transactionTime": "2026-01-01T00:00:00Z", "request": base, "requiresAccessToken": True,
                "output": [{"type": "Patient", "url": url, "count": 1}], "error": []}  # fmt: skip
        assert _in_database(database_url, lambda s: bulk_jobs.finish(s, job_id, done, "old:1:aa"))
        folder = bulk_jobs.job_dir(settings.bulk_dir, job_id)
        folder.mkdir(parents=True)
        (folder / "Patient.ndjson").write_bytes(b'{"resourceType":"Patient","id":"p9"}\n')
        assert keys(download(client, done)) == {"Patient/p9"}


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
