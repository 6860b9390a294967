"""Bulk Data jobs: the ``bulk_job`` rows (migration 9) and each job's directory of files.

Asynchronous pattern of the Bulk Data Access IG 2.0
(https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-kick-off-request): the kick-off
stores a *queued* job; a worker (:mod:`hygie.transfer.bulk_worker`) claims it (*running*),
then marks it *done* with its manifest or *failed* with an error.

Several server processes may share a database, each with its worker (migration 15): a running
job names its ``runner`` (one worker) and holds a lease (``lease_until``, epoch ms) that the runner
renews as it works. Only an expired lease — its runner crashed, was killed, or stopped and let go
of it — puts the job back in the queue, for any worker to run again from the beginning; every
change a runner makes (progress, done, failed) names it, so a runner that lost its job changes
nothing.

A job belongs to the principal who started it (:func:`owner_of`): the status URL, the files and
DELETE answer 404 to anybody else, exactly like an absent job. Files live under
``HYGIE_BULK_DIR/<job id>/``: what the kick-off stored (``$import`` input) at its top, what a run
writes (export files, import outcomes) in a folder of that run's runner (:func:`run_dir`). A
runner stalled past its lease may still write the chunk in flight before it notices it lost the
job: into its own folder, never where the files of the job's finished run are read
(:func:`files_dir`).
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from hygie.auth.tokens import Principal, principal_claims, principal_from_claims
from hygie.storage.database import Session

Status = Literal["queued", "running", "done", "failed"]
Kind = Literal["export", "import"]
ANONYMOUS = "anonymous"  # the owner of jobs started with authentication switched off
_COLUMNS = (
    "id, kind, owner, principal, request, status, progress, created, started, finished, manifest, error, "
    "runner"
)


@dataclass(frozen=True, slots=True)
class Job:
    """One row of ``bulk_job``."""

    id: str
    kind: Kind
    owner: str
    principal: Principal | None
    request: dict[str, Any]
    status: Status
    progress: str | None
    created: int
    started: int | None
    finished: int | None
    manifest: dict[str, Any] | None
    error: dict[str, Any] | None
    runner: str | None = None  # the worker running it, or that ran it to its end


def now_ms() -> int:
    return int(time.time() * 1000)


def owner_of(principal: Principal | None) -> str:
    """Who a job belongs to: kind, subject, client and launch patient of the caller (a token of
    the same account for another app or another launch patient is somebody else)."""
    if principal is None:
        return ANONYMOUS
    who = [principal.kind, principal.subject, principal.client_id, principal.launch_patient]
    return orjson.dumps(who).decode()


def new_job_id() -> str:
    return secrets.token_hex(16)


def job_dir(root: Path, job_id: str) -> Path:
    """The directory of a job's files (ids are hex: no path can escape ``root``)."""
    if not (job_id.isascii() and job_id.isalnum()):
        raise ValueError("bad job id")
    return root / job_id


def run_dir(root: Path, job_id: str, runner: str) -> Path:
    """The folder of the files ``runner`` writes for the job (named by a digest: a runner names a
    host and a process, not a path)."""
    return job_dir(root, job_id) / hashlib.blake2b(runner.encode(), digest_size=8).hexdigest()


def files_dir(root: Path, job: Job) -> Path:
    """Where a finished job's files are: its runner's folder (jobs finished before runs had
    folders of their own: the job's folder)."""
    if job.runner:
        folder = run_dir(root, job.id, job.runner)
        if folder.is_dir():
            return folder
    return job_dir(root, job.id)


def drop_other_runs(root: Path, job_id: str, runner: str) -> None:
    """Remove the folders of the job's earlier runs (a finished run keeps its own; files the
    kick-off stored stay)."""
    keep = run_dir(root, job_id, runner)
    with contextlib.suppress(OSError):
        for path in job_dir(root, job_id).iterdir():
            if path.is_dir() and path != keep:
                shutil.rmtree(path, ignore_errors=True)


def create(
    s: Session,
    kind: Kind,
    principal: Principal | None,
    request: dict[str, Any],
    *,
    job_id: str | None = None,
    status: Status = "queued",
    runner: str | None = None,
    lease_until: int | None = None,
) -> str:
    """A new job (``status``, ``runner`` and ``lease_until`` other than the defaults: tests)."""
    job_id = job_id or new_job_id()
    claims = orjson.dumps(principal_claims(principal)).decode() if principal is not None else None
    s.execute(
        f"INSERT INTO bulk_job ({_COLUMNS}, lease_until) VALUES ({', '.join('?' * 14)})",
        (job_id, kind, owner_of(principal), claims, orjson.dumps(request).decode(), status, None,
         now_ms(), None, None, None, None, runner, lease_until),
    )  # fmt: skip
    return job_id


def get(s: Session, job_id: str, owner: str | None = None) -> Job | None:
    """The job, or None when absent or (``owner`` given) somebody else's."""
    row = s.one(f"SELECT {_COLUMNS} FROM bulk_job WHERE id = ?", (job_id,))
    if row is None or (owner is not None and row[2] != owner):
        return None
    return _job(row)


def _job(row: tuple[Any, ...]) -> Job:
    jid, kind, owner, claims, req, status, progress, created, started, finished, done, error, runner = row
    return Job(
        id=jid,
        kind=kind,
        owner=owner,
        principal=principal_from_claims(orjson.loads(claims)) if claims else None,
        request=orjson.loads(req),
        status=status,
        progress=progress,
        created=int(created),
        started=int(started) if started is not None else None,
        finished=int(finished) if finished is not None else None,
        manifest=orjson.loads(done) if done else None,
        error=orjson.loads(error) if error else None,
        runner=runner,
    )


def waiting(s: Session, now: int) -> bool:
    """Whether some job waits for a worker: queued, or running under an expired lease (a read:
    the idle worker's cheap look)."""
    row = s.one(
        "SELECT 1 FROM bulk_job WHERE status = 'queued' "
        "OR (status = 'running' AND (lease_until IS NULL OR lease_until < ?)) LIMIT 1",
        (now,),
    )
    return row is not None


def requeue_expired(s: Session, now: int) -> list[str]:
    """Jobs whose runner's lease expired (it crashed, was killed, or stopped and let go) go back to
    the queue, to be run again from the beginning: their partial files are dropped then. Jobs left
    running before leases existed (no lease) count as expired."""
    rows = s.all(
        "UPDATE bulk_job SET status = 'queued', progress = NULL, runner = NULL, lease_until = NULL "
        "WHERE status = 'running' AND (lease_until IS NULL OR lease_until < ?) RETURNING id",
        (now,),
    )
    return [str(r[0]) for r in rows]


def claim(s: Session, runner: str, now: int, ttl_ms: int) -> Job | None:
    """Take the oldest queued job for ``runner`` (running, leased until ``now + ttl_ms``); None
    when none waits."""
    lock = " FOR UPDATE SKIP LOCKED" if s.dialect == "postgresql" else ""
    row = s.one(f"SELECT id FROM bulk_job WHERE status = 'queued' ORDER BY created, id LIMIT 1{lock}")
    if row is None:
        return None
    s.execute(
        "UPDATE bulk_job SET status = 'running', started = ?, runner = ?, lease_until = ? WHERE id = ?",
        (now, runner, now + ttl_ms, row[0]),
    )
    return get(s, str(row[0]))


def renew(s: Session, job_id: str, runner: str, now: int, ttl_ms: int) -> bool:
    """Extend ``runner``'s lease on the job; False when the job is no longer its own (deleted,
    or requeued after its lease expired)."""
    cur = s.execute(
        "UPDATE bulk_job SET lease_until = ? WHERE id = ? AND runner = ? AND status = 'running'",
        (now + ttl_ms, job_id, runner),
    )
    return bool(cur.rowcount)


def release(s: Session, runner: str) -> list[str]:
    """``runner`` stops: its running jobs' leases end now (the next look of any worker requeues
    them, instead of after the lease's time)."""
    rows = s.all(
        "UPDATE bulk_job SET lease_until = 0 WHERE runner = ? AND status = 'running' RETURNING id", (runner,)
    )
    return [str(r[0]) for r in rows]


def set_progress(s: Session, job_id: str, progress: str, runner: str, now: int, ttl_ms: int) -> bool:
    """Record progress and renew the lease; False when the job is no longer ``runner``'s
    (deleted by its owner, or requeued: stop working)."""
    cur = s.execute(
        "UPDATE bulk_job SET progress = ?, lease_until = ? "
        "WHERE id = ? AND runner = ? AND status = 'running'",
        (progress[:500], now + ttl_ms, job_id, runner),
    )
    return bool(cur.rowcount)


def finish(s: Session, job_id: str, manifest: dict[str, Any], runner: str) -> bool:
    cur = s.execute(
        "UPDATE bulk_job SET status = 'done', finished = ?, manifest = ?, progress = NULL, "
        "lease_until = NULL WHERE id = ? AND runner = ? AND status = 'running'",
        (now_ms(), orjson.dumps(manifest).decode(), job_id, runner),
    )
    return bool(cur.rowcount)


def fail(s: Session, job_id: str, error: dict[str, Any], runner: str) -> bool:
    cur = s.execute(
        "UPDATE bulk_job SET status = 'failed', finished = ?, error = ?, progress = NULL, "
        "lease_until = NULL WHERE id = ? AND runner = ? AND status = 'running'",
        (now_ms(), orjson.dumps(error).decode(), job_id, runner),
    )
    return bool(cur.rowcount)


def delete(s: Session, job_id: str) -> None:
    s.execute("DELETE FROM bulk_job WHERE id = ?", (job_id,))


def expired(s: Session, before_ms: int) -> list[str]:
    """Finished jobs (done or failed) that finished before ``before_ms``."""
    rows = s.all("SELECT id FROM bulk_job WHERE status IN ('done', 'failed') AND finished < ?", (before_ms,))
    return [str(r[0]) for r in rows]


def remove_files(root: Path, job_id: str) -> None:
    shutil.rmtree(job_dir(root, job_id), ignore_errors=True)
