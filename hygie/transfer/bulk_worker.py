"""The background worker of Bulk Data jobs: claims queued jobs and runs them, purges old ones.

Bulk Data Access IG 2.0, asynchronous pattern
(https://hl7.org/fhir/uv/bulkdata/STU2/export.html#response---complete-status). Started by
:func:`hygie.transfer.operations.start` with the server, stopped by ``close``:

- every server process sharing a database runs one; a worker runs one job at a time, holding a
  lease on it (``HYGIE_BULK_LEASE_SECONDS``) that it renews at every chunk and from a timer;
  jobs whose lease expired (their runner crashed or was killed) or was let go (a clean stop)
  are queued again by the next worker that looks, and restarted from the beginning
  (:mod:`hygie.transfer.bulk_jobs`, docs/bulk-data.md);
- a job runs in a worker thread, one short database transaction per chunk of resources, under
  the access policy of the principal who started it (rebuilt from the stored claims at each
  chunk, so a break-the-glass grant that ends stops counting); the files are written by a
  thread of the export's own while the next chunk is read (:mod:`hygie.transfer.bulk_files`);
- when an export is done, the access is audited: one BALP *Export* event per exported patient
  (purpose BTG when a break-the-glass grant opened that patient);
- every minute, jobs finished more than ``HYGIE_BULK_RETENTION_HOURS`` ago are deleted with
  their files.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import anyio.to_thread

from hygie.api.context import Env
from hygie.api.http import FhirApi
from hygie.auth import balp
from hygie.auth.policy import Policy
from hygie.auth.tokens import Principal
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError, Issue, outcome
from hygie.logging import get_logger
from hygie.settings import Settings
from hygie.storage.database import Database
from hygie.storage.store import Store, instant
from hygie.transfer import bulk_jobs as jobs
from hygie.transfer.bulk_export import NDJSON, Chunk, Progress
from hygie.transfer.bulk_request import ExportRequest

log = get_logger("hygie.bulk")
register(
    {
        "bulk_job_failed": {
            "fr": "La tâche Bulk Data a échoué ({reason}) ; relancez-la.",
            "en": "The Bulk Data job failed ({reason}); start it again.",
        },
    }
)
POLL_S = 0.2  # how often an idle worker looks for queued jobs
PURGE_EVERY_S = 60.0
_WORKERS: WeakKeyDictionary[FhirApi, BulkWorker] = WeakKeyDictionary()


class StopJobError(Exception):
    """The server is stopping, or the job was deleted: leave the job as it is."""


def policy_for(api: FhirApi, principal: Principal | None, base: str) -> Policy | None:
    """The access policy of a stored principal, as :meth:`FhirApi._policy` builds it per request."""
    if principal is None:
        return None
    account = principal.subject if principal.kind in ("professional", "patient") else None
    return Policy(principal, api.params, base, int(time.time() * 1000), account, api.settings.timezone)


def job_env(api: FhirApi, session: Any, principal: Principal | None, base: str, lang: str) -> Env:
    policy = policy_for(api, principal, base)
    return Env(Store(session, api.params.scoped(policy), api.tz), api.settings, base, lang)


def emergency_patients(session: Any, principal: Principal | None) -> set[str]:
    """Patients a professional currently sees by break-the-glass (audited with purpose BTG)."""
    if principal is None or principal.kind != "professional":
        return set()
    rows = session.all(
        "SELECT patient FROM btg_grant WHERE account = ? AND until > ?",
        (principal.subject, int(time.time() * 1000)),
    )
    return {str(r[0]) for r in rows}


def export_record(
    principal: Principal | None, patients: set[str], emergency: set[str], request_id: str, query: str
) -> balp.AccessRecord:
    """The audit record of an export: one event per exported patient."""
    return balp.AccessRecord(
        action="export",
        time_ms=int(time.time() * 1000),
        agent_ref=principal.fhir_user if principal else None,
        agent_login=principal.subject if principal else None,
        client_id=principal.client_id if principal else None,
        patients=tuple(sorted(patients)),
        purpose="BTG" if patients & emergency else None,
        query=query[:2000] or None,
        request_id=request_id,
    )


def manifest(
    req: ExportRequest,
    tx_ms: int,
    progress: Progress,
    errors: int,
    url: Callable[[str], str],
    *,
    token: bool = True,
) -> dict[str, Any]:
    """The completion manifest (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#response---complete-status);
    ``url(file name)``: where the file is served."""
    out: dict[str, Any] = {
        "transactionTime": instant(tx_ms),
        "request": req.url,
        "requiresAccessToken": token,
        "output": [{"type": o.type, "url": url(o.file), "count": o.count} for o in progress.outputs],
        "error": [{"type": "OperationOutcome", "url": url("errors.ndjson"), "count": errors}]
        if errors
        else [],
    }
    return out


def purge(s: Any, settings: Settings, now_ms: int) -> list[str]:
    """Delete the jobs finished more than ``HYGIE_BULK_RETENTION_HOURS`` before ``now_ms``, with
    their files; their ids."""
    before = now_ms - int(settings.bulk_retention_hours * 3_600_000)
    gone = jobs.expired(s, before)
    for job_id in gone:
        jobs.delete(s, job_id)
        jobs.remove_files(Path(settings.bulk_dir), job_id)
    return gone


class BulkWorker:
    """One per running :class:`FhirApi` (:func:`start`/:func:`close`)."""

    def __init__(self, api: FhirApi) -> None:
        self.api = api
        self.db: Database = api.db
        self.settings: Settings = api.settings
        self.root = Path(self.settings.bulk_dir)
        self._stopping = threading.Event()
        self._lost = threading.Event()  # the running job is no longer this worker's
        self._task: asyncio.Task[None] | None = None
        self._last_purge = 0.0
        # Who runs a job, in its row: unique per worker, readable in the database by an operator.
        self.runner = f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}"
        self.ttl_ms = max(int(self.settings.bulk_lease_seconds * 1000), 1)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        """Stop after the running job's current chunk, and let go of the job: the next worker to
        look (of another process, or of this server restarted) takes it up at once."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        try:
            released = await self.db.run(lambda s: jobs.release(s, self.runner))
        except Exception as exc:  # the database is away: the lease will expire
            log.error("bulk_release_failed", error=type(exc).__name__)
        else:
            if released:
                log.info("bulk_jobs_released", count=len(released))

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                if time.monotonic() - self._last_purge > PURGE_EVERY_S:
                    self._last_purge = time.monotonic()
                    await self.db.run(lambda s: self.purge(s, jobs.now_ms()))
                waiting = await self.db.run(lambda s: jobs.waiting(s, jobs.now_ms()), write=False)
                job = await self.db.run(self._take) if waiting else None
            except Exception as exc:  # the database is away: try again later
                log.error("bulk_worker_failed", error=type(exc).__name__)
                job = None
            if job is None:
                await asyncio.sleep(POLL_S)
                continue
            await self.run(job)

    def purge(self, s: Any, now_ms: int) -> list[str]:
        return purge(s, self.settings, now_ms)

    def _take(self, s: Any) -> jobs.Job | None:
        """Queue again the jobs whose lease expired, then claim the oldest queued one."""
        now = jobs.now_ms()
        requeued = jobs.requeue_expired(s, now)
        if requeued:
            log.info("bulk_jobs_requeued", count=len(requeued))
        return jobs.claim(s, self.runner, now, self.ttl_ms)

    async def run(self, job: jobs.Job) -> None:
        """Run one claimed job to its end (done or failed); a stop leaves it *running*, let go."""
        self._lost.clear()
        renewing = asyncio.get_running_loop().create_task(self._renew(job.id))
        try:
            await self._run(job)
        finally:
            renewing.cancel()
            with suppress(asyncio.CancelledError):
                await renewing

    async def _renew(self, job_id: str) -> None:
        """Renew the lease every third of its length while the job runs, between its chunks too
        (a chunk of ``$import`` is a whole file). In a thread: on SQLite the job's transaction may
        hold the database until its chunk ends."""

        def renew() -> bool:
            return bool(
                self.db.run_sync(lambda s: jobs.renew(s, job_id, self.runner, jobs.now_ms(), self.ttl_ms))
            )

        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            try:
                kept = await anyio.to_thread.run_sync(renew)
            except Exception as exc:  # the database is away: the chunks renew it, or it expires
                log.error("bulk_renew_failed", job=job_id, error=type(exc).__name__)
                continue
            if not kept:  # deleted by its owner, or requeued after a stall: stop at the next chunk
                self._lost.set()
                return

    async def _run(self, job: jobs.Job) -> None:
        try:
            if job.kind == "export":
                record = await anyio.to_thread.run_sync(self._export, job, abandon_on_cancel=False)
                if record is not None and self.api.trail is not None:
                    self.api.trail.record(record)
            else:
                from hygie.transfer.bulk_import import run_import

                await anyio.to_thread.run_sync(run_import, self, job, abandon_on_cancel=False)
                await self.api.reload_catalog()  # imported SearchParameters take effect
        except StopJobError:
            return
        except FhirError as err:
            failed = {"status": err.status, "outcome": err.outcome(str(job.request.get("lang", "fr")))}
            await self.db.run(lambda s: jobs.fail(s, job.id, failed, self.runner))
        except Exception as exc:
            log.error("bulk_job_failed", job=job.id, error=type(exc).__name__)
            issue = Issue("exception", "bulk_job_failed", {"reason": type(exc).__name__})
            error = {"status": 500, "outcome": outcome([issue], str(job.request.get("lang", "fr")))}
            await self.db.run(lambda s: jobs.fail(s, job.id, error, self.runner))

    def step(self, job_id: str, work: Any, progress: str) -> Any:
        """Run ``work(session)`` in one transaction that records ``progress`` and renews the lease;
        :class:`StopJobError` (the transaction rolled back) when the server stops or the job is no
        longer this worker's (deleted, or requeued after its lease expired)."""
        if self._stopping.is_set() or self._lost.is_set():
            raise StopJobError()

        def both(s: Any) -> Any:
            result = work(s)
            if not jobs.set_progress(s, job_id, progress, self.runner, jobs.now_ms(), self.ttl_ms):
                raise StopJobError()
            return result

        return self.db.run_sync(both)

    def _export(self, job: jobs.Job) -> balp.AccessRecord | None:
        req = ExportRequest.from_json(job.request)
        jobs.remove_files(self.root, job.id)  # a restarted job starts again from scratch
        out = jobs.run_dir(self.root, job.id, self.runner)
        out.mkdir(parents=True, exist_ok=True)
        tx_ms = jobs.now_ms()
        progress = Progress(req.chosen_types())
        if req.level == "group":
            self._check_group(job, req)
        with Chunk(req, out, tx_ms, max(self.settings.bulk_chunk_size, 1), progress) as chunk:
            more = True
            while more:
                more = self.step(
                    job.id,
                    lambda s: chunk.run(job_env(self.api, s, job.principal, req.base, req.lang)),
                    progress.text(),
                )
        errors = write_errors(out, req.warnings)
        done = manifest(
            req, tx_ms, progress, errors, lambda name: f"{req.base}/$bulk-file?_jobId={job.id}&file={name}"
        )
        emergency = self.db.run_sync(lambda s: emergency_patients(s, job.principal), write=False)
        if not self.db.run_sync(lambda s: jobs.finish(s, job.id, done, self.runner)):
            raise StopJobError()
        jobs.drop_other_runs(self.root, job.id, self.runner)
        return export_record(job.principal, progress.patients, emergency, job.id, req.url)

    def _check_group(self, job: jobs.Job, req: ExportRequest) -> None:
        """The Group must still be visible to the caller when the job runs (else: it fails)."""
        from hygie.transfer.bulk_export import group_key

        def work(s: Any) -> int | None:
            return group_key(job_env(self.api, s, job.principal, req.base, req.lang), req)

        if self.db.run_sync(work, write=False) is None:
            raise FhirError.of(404, "not-found", "not_found", type="Group", id=req.group or "")


def write_errors(out: Path, issues: list[dict[str, Any]]) -> int:
    """The error file: one OperationOutcome per warning of the kick-off (lenient handling)."""
    if not issues:
        return 0
    import orjson

    lines = [orjson.dumps({"resourceType": "OperationOutcome", "issue": [i]}) for i in issues]
    (out / "errors.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    return len(lines)


async def start(api: FhirApi) -> None:
    worker = BulkWorker(api)
    _WORKERS[api] = worker
    await worker.start()


async def close(api: FhirApi) -> None:
    worker = _WORKERS.pop(api, None)
    if worker is not None:
        await worker.close()


__all__ = ["NDJSON", "BulkWorker", "close", "start"]
