"""Asynchronous full-text indexing (``_text`` / ``_content``) from the version log: an outbox.

Spec: https://hl7.org/fhir/R4/search.html#text and https://hl7.org/fhir/R4/search.html#content
(rows built by :func:`hygie.search.fulltext.index_row`; schema: migrations 3 and 5).

Writes do no full-text work. ``fulltext_state.last_seq`` is the highest ``resource_version.seq``
already reflected in the index; :func:`catch_up` reads the versions after it, and for every
resource they touch deletes its full-text row and inserts one built from the resource's *current*
version (none if deleted or without text), then moves ``last_seq`` forward. Every step is
idempotent: processing a range twice gives the same rows, so a crash anywhere only means work
done again. It runs in the background (database threads) and, synchronously, before any query
with full-text criteria (:meth:`hygie.storage.store.Store.select`), so results always reflect
every committed write.

PostgreSQL needs two locks (advisory, session-level, released at once):

- ``seq`` values are drawn before commit, so a transaction may commit seq 10 after another
  committed seq 11. Writers hold a shared lock on :data:`WRITERS_LOCK` from the moment they insert
  versions until they commit (:meth:`Store.flush`); the horizon — the highest seq whose
  transaction has certainly ended — is read while holding it exclusively, which takes an instant
  and never queues (try-lock, polled), so writers are never blocked behind it;
- :data:`INDEXER_LOCK` serialises indexers (several servers, searches, the background thread),
  so that a stale current state never overwrites a newer one.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from typing import Any

from hygie.fhir import jsonio
from hygie.search import fulltext
from hygie.storage.database import Session

WRITERS_LOCK = 7_345_001  # shared by writers between version inserts and commit (PostgreSQL)
INDEXER_LOCK = 7_345_002  # one indexer at a time (PostgreSQL)
BATCH = 2_000  # versions per transaction

_DELETE = {
    "sqlite": "DELETE FROM fulltext WHERE rowid = ?",
    "postgresql": "DELETE FROM fulltext_doc WHERE rk = ANY(?::bigint[])",
}
# PostgreSQL builds the tsvector itself, with its ``french`` configuration, narrative weighted A.
_INSERT = {
    "sqlite": "INSERT INTO fulltext (rowid, narrative, content) VALUES (?, ?, ?)",
    "postgresql": "INSERT INTO fulltext_doc (rk, doc) SELECT t.rk, "
    "setweight(to_tsvector('french'::regconfig, t.n), 'A') || to_tsvector('french'::regconfig, t.c) "
    "FROM unnest(?::bigint[], ?::text[], ?::text[]) AS t(rk, n, c) "
    "ON CONFLICT (rk) DO UPDATE SET doc = EXCLUDED.doc",
}


_BEHIND = (
    "SELECT 1 FROM resource_version WHERE seq > (SELECT last_seq FROM fulltext_state WHERE id = 1) LIMIT 1"
)


def pending(session: Session) -> tuple[int, int]:
    """(``last_seq``, highest committed ``seq``): equal when the index is caught up."""
    row = session.one(
        "SELECT (SELECT last_seq FROM fulltext_state WHERE id = 1), "
        "(SELECT coalesce(max(seq), 0) FROM resource_version)"
    )
    assert row is not None
    return int(row[0]), int(row[1])


def catch_up(session: Session, dialect: str, limit: int = BATCH, *, background: bool = False) -> int:
    """Index the versions written since ``last_seq``; return how many versions were processed.

    Synchronously (default) it loops until the index reflects every version visible to
    ``session``. With ``background`` it processes one batch at most and gives up at once when
    another indexer is at work (PostgreSQL) or the writers do not let go within a moment.
    """
    if dialect != "postgresql":  # SQLite: one writer at a time, seq is commit order
        return _run(session, dialect, limit, None, once=background)
    if session.one(_BEHIND) is None:  # the usual case: nothing committed since (no lock taken)
        return 0
    horizon = _horizon(session, deadline=0.2 if background else 30.0)
    if horizon is None and not background:
        raise TimeoutError("full-text indexing: a writing transaction did not end within 30 s")
    if horizon is None:
        return 0
    if background:
        if not _one(session, "SELECT pg_try_advisory_lock(?)", INDEXER_LOCK):
            return 0
    else:
        session.execute("SELECT pg_advisory_lock(?)", (INDEXER_LOCK,))
    try:
        return _run(session, dialect, limit, horizon, once=background)
    finally:
        session.execute("SELECT pg_advisory_unlock(?)", (INDEXER_LOCK,))


def _one(session: Session, sql: str, *args: Any) -> Any:
    row = session.one(sql, args)
    assert row is not None
    return row[0]


def _horizon(session: Session, deadline: float) -> int | None:
    """Highest seq of an ended transaction: read while no writer is between insert and commit."""
    start = time.monotonic()
    delay = 0.0002
    while not _one(session, "SELECT pg_try_advisory_lock(?)", WRITERS_LOCK):
        if time.monotonic() - start > deadline:
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.005)
    try:
        return int(_one(session, "SELECT coalesce(max(seq), 0) FROM resource_version"))
    finally:
        session.execute("SELECT pg_advisory_unlock(?)", (WRITERS_LOCK,))


def _run(session: Session, dialect: str, limit: int, horizon: int | None, *, once: bool) -> int:
    total = 0
    while True:
        with session.transaction():
            if once and dialect == "postgresql":
                # a write transaction that searched holds its full-text rows until it commits and
                # may search again: the background gives way rather than deadlock with it
                session.execute("SET LOCAL lock_timeout = '200ms'")
            done = _batch(session, dialect, limit, horizon)
        total += done
        if once or done < limit:
            return total


def _batch(session: Session, dialect: str, limit: int, horizon: int | None) -> int:
    last = int(_one(session, "SELECT last_seq FROM fulltext_state WHERE id = 1"))
    upper = "" if horizon is None else f" AND seq <= {int(horizon)}"
    versions = session.all(
        f"SELECT seq, rk FROM resource_version WHERE seq > ?{upper} ORDER BY seq LIMIT ?", (last, limit)
    )
    if not versions:
        return 0
    rks = list(dict.fromkeys(rk for _, rk in versions))
    rows = _rows(session, dialect, rks)
    if dialect == "postgresql":
        session.execute(_DELETE[dialect], (rks,))
        if rows:
            session.execute(
                _INSERT[dialect], ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
            )
    else:
        session.executemany(_DELETE[dialect], [(rk,) for rk in rks])
        session.executemany(_INSERT[dialect], rows)
    session.execute("UPDATE fulltext_state SET last_seq = ? WHERE id = 1", (versions[-1][0],))
    return len(versions)


def _rows(session: Session, dialect: str, rks: Sequence[int]) -> list[tuple[int, str, str]]:
    """Full-text rows of the current, live versions of ``rks`` (those with text)."""
    out: list[tuple[int, str, str]] = []
    for start in range(0, len(rks), 500):
        chunk = list(rks[start : start + 500])
        marks = ",".join("?" * len(chunk))
        for rk, deleted, body in session.all(
            "SELECT r.rk, r.deleted, v.body FROM resource r "
            f"JOIN resource_version v ON v.rk = r.rk AND v.vid = r.vid WHERE r.rk IN ({marks})",
            chunk,
        ):
            if deleted:
                continue
            text = fulltext.index_row(jsonio.loads(zlib.decompress(body)), dialect)
            if text is not None:
                out.append((rk, *text))
    return out
