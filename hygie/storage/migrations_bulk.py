"""Migration 9: Bulk Data jobs (``$export``, ``$import``) — hygie/transfer/bulk_jobs.py.

Bulk Data Access IG 2.0 (https://hl7.org/fhir/uv/bulkdata/STU2/export.html) runs exports
asynchronously: the kick-off request stores a job, a background worker runs it and the status
URL reads it back. One row per job:

- ``owner``: who may poll, download and delete it (the principal's kind, subject, client and
  launch patient — another caller gets 404); ``principal``: the claims the worker rebuilds the
  caller's access policy from (JSON);
- ``request``: the parsed kick-off (JSON); ``status``: queued, running, done or failed;
  ``progress``: the ``X-Progress`` text; ``manifest``: the completion manifest (JSON);
  ``error``: why a failed job failed; times in milliseconds since the epoch.
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgresql"]


def _table(big: str) -> str:
    return f"""CREATE TABLE bulk_job (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        owner TEXT NOT NULL,
        principal TEXT,
        request TEXT NOT NULL,
        status TEXT NOT NULL,
        progress TEXT,
        created {big} NOT NULL,
        started {big},
        finished {big},
        manifest TEXT,
        error TEXT
    )"""


BULK_MIGRATION: dict[Dialect, list[str]] = {
    "sqlite": [_table("INTEGER"), "CREATE INDEX bulk_job_status ON bulk_job (status, created)"],
    "postgresql": [_table("BIGINT"), "CREATE INDEX bulk_job_status ON bulk_job (status, created)"],
}


# Migration 15: several server processes on one database, each with its Bulk Data worker. A
# running job names its ``runner`` (one worker of one process) and the end of its lease
# (``lease_until``, epoch ms), renewed as the job advances: only an expired lease sends a job
# back to the queue (hygie/transfer/bulk_jobs.py), where migration 9 requeued every running job
# at each server start — another live server's jobs included.
BULK_LEASE_MIGRATION: dict[Dialect, list[str]] = {
    "sqlite": [
        "ALTER TABLE bulk_job ADD COLUMN runner TEXT",
        "ALTER TABLE bulk_job ADD COLUMN lease_until INTEGER",
    ],
    "postgresql": [
        "ALTER TABLE bulk_job ADD COLUMN runner TEXT",
        "ALTER TABLE bulk_job ADD COLUMN lease_until BIGINT",
    ],
}
