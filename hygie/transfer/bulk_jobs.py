"""Bulk Data jobs: the ``bulk_job`` rows (migration 9) and each job's directory of files.

Asynchronous pattern of the Bulk Data Access IG 2.0
(https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-kick-off-request): the kick-off
stores a *queued* job; the worker (:mod:`hygie.transfer.bulk_worker`) claims it (*running*),
then marks it *done* with its manifest or *failed* with an error. A job belongs to the principal
who started it (:func:`owner_of`): the status URL, the files and DELETE answer 404 to anybody
else, exactly like an absent job. Files live under ``HYGIE_BULK_DIR/<job id>/``.
"""

from __future__ import annotations

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
    "id, kind, owner, principal, request, status, progress, created, started, finished, manifest, error"
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


def create(
    s: Session,
    kind: Kind,
    principal: Principal | None,
    request: dict[str, Any],
    *,
    job_id: str | None = None,
    status: Status = "queued",
) -> str:
    job_id = job_id or new_job_id()
    claims = orjson.dumps(principal_claims(principal)).decode() if principal is not None else None
    s.execute(
        f"INSERT INTO bulk_job ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (job_id, kind, owner_of(principal), claims, orjson.dumps(request).decode(), status, None,
         now_ms(), None, None, None, None),
    )  # fmt: skip
    return job_id


def get(s: Session, job_id: str, owner: str | None = None) -> Job | None:
    """The job, or None when absent or (``owner`` given) somebody else's."""
    row = s.one(f"SELECT {_COLUMNS} FROM bulk_job WHERE id = ?", (job_id,))
    if row is None or (owner is not None and row[2] != owner):
        return None
    return _job(row)


def _job(row: tuple[Any, ...]) -> Job:
    (jid, kind, owner, claims, request, status, progress, created, started, finished, manifest, error) = row
    return Job(
        id=jid,
        kind=kind,
        owner=owner,
        principal=principal_from_claims(orjson.loads(claims)) if claims else None,
        request=orjson.loads(request),
        status=status,
        progress=progress,
        created=int(created),
        started=int(started) if started is not None else None,
        finished=int(finished) if finished is not None else None,
        manifest=orjson.loads(manifest) if manifest else None,
        error=orjson.loads(error) if error else None,
    )


def waiting(s: Session) -> bool:
    """Whether some job is queued (a read: the idle worker's cheap look)."""
    return s.one("SELECT 1 FROM bulk_job WHERE status = 'queued' LIMIT 1") is not None


def claim(s: Session) -> Job | None:
    """Take the oldest queued job (mark it running); None when none waits."""
    lock = " FOR UPDATE SKIP LOCKED" if s.dialect == "postgresql" else ""
    row = s.one(f"SELECT id FROM bulk_job WHERE status = 'queued' ORDER BY created, id LIMIT 1{lock}")
    if row is None:
        return None
    s.execute("UPDATE bulk_job SET status = 'running', started = ? WHERE id = ?", (now_ms(), row[0]))
    return get(s, str(row[0]))


def requeue_running(s: Session) -> list[str]:
    """Jobs left *running* by a stopped or crashed server go back to the queue (restarted from
    the beginning: their partial files are dropped when they run again)."""
    ids = [str(r[0]) for r in s.all("SELECT id FROM bulk_job WHERE status = 'running'")]
    s.execute("UPDATE bulk_job SET status = 'queued', progress = NULL WHERE status = 'running'")
    return ids


def set_progress(s: Session, job_id: str, progress: str) -> bool:
    """Record progress; False when the job is gone (deleted by its owner: stop working)."""
    cur = s.execute(
        "UPDATE bulk_job SET progress = ? WHERE id = ? AND status = 'running'", (progress[:500], job_id)
    )
    return bool(cur.rowcount)


def finish(s: Session, job_id: str, manifest: dict[str, Any]) -> bool:
    cur = s.execute(
        "UPDATE bulk_job SET status = 'done', finished = ?, manifest = ?, progress = NULL "
        "WHERE id = ? AND status = 'running'",
        (now_ms(), orjson.dumps(manifest).decode(), job_id),
    )
    return bool(cur.rowcount)


def fail(s: Session, job_id: str, error: dict[str, Any]) -> bool:
    cur = s.execute(
        "UPDATE bulk_job SET status = 'failed', finished = ?, error = ?, progress = NULL "
        "WHERE id = ? AND status = 'running'",
        (now_ms(), orjson.dumps(error).decode(), job_id),
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
