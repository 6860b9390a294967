"""The audit ledger: AuditEvents stored append-only, hash-chained, with HMAC-signed checkpoints.

Tables (``hygie/storage/migrations_auth.py``):

- ``audit_log(seq, recorded, patient, agent, body, prev_hash, hash)`` — one AuditEvent per row
  (https://hl7.org/fhir/R4/auditevent.html, built by :mod:`hygie.auth.balp`). ``seq`` counts
  from 1 without gaps; ``body`` is the canonical JSON of the event (keys sorted, no whitespace,
  UTF-8) in which the ledger set ``id`` to ``seq`` and ``recorded`` to the append time;
  ``hash = SHA-256(prev_hash || body)`` as lowercase hex, ``prev_hash`` being the previous row's
  hash (64 zeros for the first). ``recorded`` (ms), ``patient`` (the id of the event's entity of
  role Patient) and ``agent`` (the requestor's reference or identifier) are copies of the body
  for retention and for the patient's "who accessed my record" search; verification checks
  they still match the body.
- ``audit_checkpoint(seq, hash, signed, signature)`` — a **checkpoint** (``seq > 0``) signs the
  chain head ``(seq, hash)`` at time ``signed`` with HMAC-SHA256 under a server key, every
  ``every`` entries (default 1000) and on demand; an **anchor** (stored as ``seq = -S``, the
  only negative rows) is written by a retention purge that deleted entries 1..S: the chain then
  starts after S from the anchor's hash. Signed messages name their kind
  (``hygie-audit-checkpoint:SEQ:HASH:SIGNED`` or ``hygie-audit-anchor:…``), so one cannot be
  passed off as the other.

Writers serialise on a PostgreSQL transaction-level advisory lock (SQLite runs one writer at a
time already), so concurrent requests and servers extend one chain. See docs/security-audit.md
for what this detects and what it cannot.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from hygie.auth.balp import (
    DEFAULT_SERVER,
    AccessRecord,
    Server,
    build_events,
    format_instant,
    patient_of,
    requestor_of,
)
from hygie.storage.database import Row, Session

GENESIS = "0" * 64
CHECKPOINT_EVERY = 1000
DEFAULT_RETENTION_MONTHS = 12
VERIFY_BATCH = 2000
MIN_KEY_BYTES = 16
_LOCK = 0x4879676965417564  # pg_advisory_xact_lock key of the ledger ("HygieAud")
_COLUMNS = ("seq", "recorded", "patient", "agent", "body", "prev_hash", "hash")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed chain head (``anchor``: the start of the chain after a retention purge)."""

    seq: int
    hash: str
    signed: int
    signature: str
    anchor: bool = False


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of :func:`verify`: ``seq`` names the first bad entry and ``reason`` says why."""

    ok: bool
    entries: int
    checkpoints: int
    anchor: int
    last: int
    seq: int | None = None
    reason: str | None = None

    def __str__(self) -> str:
        span = f"entries {self.anchor + 1} to {self.last}" if self.last > self.anchor else "no entries"
        if self.ok:
            return (
                f"audit log intact: {self.entries} entries checked ({span}), "
                f"{self.checkpoints} signed checkpoints valid"
                + (
                    f", chain anchored after entry {self.anchor} (older entries purged)"
                    if self.anchor
                    else ""
                )
            )
        return f"audit log TAMPERED at entry {self.seq}: {self.reason}"


@dataclass(frozen=True, slots=True)
class PurgeResult:
    deleted: int
    anchor: int


class AuditTampered(Exception):  # noqa: N818 (names the condition, like the CLI's message)
    """A purge refused to delete entries that do not verify (it would hide the tampering)."""

    def __init__(self, result: VerifyResult) -> None:
        super().__init__(str(result))
        self.result = result


# --- primitives ---------------------------------------------------------------------------------


def canonical(body: Mapping[str, Any]) -> bytes:
    """Canonical JSON of an event: keys sorted, no whitespace, UTF-8."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def chain_hash(prev_hash: str, body: bytes) -> str:
    """``SHA-256(prev_hash || body)`` in lowercase hex."""
    return hashlib.sha256(prev_hash.encode("ascii") + body).hexdigest()


def _signature(key: bytes, kind: str, seq: int, digest: str, signed: int) -> str:
    message = f"hygie-audit-{kind}:{seq}:{digest}:{signed}".encode("ascii")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the audit signing key must be at least {MIN_KEY_BYTES} bytes")


def _lock(session: Session) -> None:
    """Serialise ledger writers until the end of the transaction (PostgreSQL)."""
    if session.dialect == "postgresql":
        session.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK,))


def _anchor(session: Session) -> Checkpoint | None:
    row = session.one(
        "SELECT seq, hash, signed, signature FROM audit_checkpoint WHERE seq < 0 ORDER BY seq LIMIT 1"
    )
    if row is None:
        return None
    return Checkpoint(-int(row[0]), str(row[1]), int(row[2]), str(row[3]), anchor=True)


def _head(session: Session) -> tuple[int, str]:
    """(seq, hash) the next entry follows: the last entry, else the anchor, else genesis."""
    row = session.one("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    if row is not None:
        return int(row[0]), str(row[1])
    anchor = _anchor(session)
    return (anchor.seq, anchor.hash) if anchor else (0, GENESIS)


def _sign(key: bytes, seq: int, digest: str, now: int, *, anchor: bool = False) -> Checkpoint:
    kind = "anchor" if anchor else "checkpoint"
    return Checkpoint(seq, digest, now, _signature(key, kind, seq, digest, now), anchor)


def _store(session: Session, checkpoints: Sequence[Checkpoint]) -> None:
    session.executemany(
        "INSERT INTO audit_checkpoint (seq, hash, signed, signature) VALUES (?, ?, ?, ?)",
        [(-c.seq if c.anchor else c.seq, c.hash, c.signed, c.signature) for c in checkpoints],
    )


# --- writing ------------------------------------------------------------------------------------


def append(
    session: Session,
    events: Iterable[Mapping[str, Any]],
    *,
    now: int,
    key: bytes | None = None,
    every: int = CHECKPOINT_EVERY,
) -> list[int]:
    """Append AuditEvents in order; return their ``seq``.

    Each event is copied with ``id`` = its seq and ``recorded`` = ``now`` (ms). With ``key``, a
    checkpoint is signed at every multiple of ``every`` the batch reaches — give the key on every
    append, since :func:`verify` expects those checkpoints. Run inside the write transaction of
    the access being audited (``Database.run_sync(..., write=True)``): the PostgreSQL advisory
    lock taken here lasts until that transaction ends.
    """
    batch = list(events)
    if not batch:
        return []
    if key is not None:
        _check_key(key)
    _lock(session)
    seq, prev = _head(session)
    when = format_instant(now)
    rows: list[tuple[Any, ...]] = []
    checkpoints: list[Checkpoint] = []
    for event in batch:
        seq += 1
        body = {**event, "id": str(seq), "recorded": when}
        data = canonical(body)
        digest = chain_hash(prev, data)
        rows.append((seq, now, patient_of(body), requestor_of(body), data, prev, digest))
        if key is not None and every > 0 and seq % every == 0:
            checkpoints.append(_sign(key, seq, digest, now))
        prev = digest
    session.insert_many("audit_log", _COLUMNS, rows)
    if checkpoints:
        _store(session, checkpoints)
    return [row[0] for row in rows]


def append_access(
    session: Session,
    record: AccessRecord,
    *,
    now: int,
    key: bytes,
    server: Server = DEFAULT_SERVER,
    every: int = CHECKPOINT_EVERY,
) -> list[int]:
    """Build the BALP AuditEvents of one access (one per patient) and append them."""
    return append(session, build_events(record, server=server), now=now, key=key, every=every)


def checkpoint(session: Session, key: bytes, now: int) -> Checkpoint | None:
    """Sign the current chain head (None while the ledger holds no entry); idempotent."""
    _check_key(key)
    _lock(session)
    row = session.one("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    if row is None:
        return None
    seq, digest = int(row[0]), str(row[1])
    existing = session.one("SELECT hash, signed, signature FROM audit_checkpoint WHERE seq = ?", (seq,))
    if existing is not None:
        return Checkpoint(seq, str(existing[0]), int(existing[1]), str(existing[2]))
    made = _sign(key, seq, digest, now)
    _store(session, [made])
    return made


def purge(
    session: Session, before_ms: int, key: bytes, now: int, *, every: int = CHECKPOINT_EVERY
) -> PurgeResult:
    """Retention: delete the oldest entries recorded before ``before_ms``, keeping verify passing.

    Only a prefix of the chain can go: entries up to the first one recorded at or after
    ``before_ms``. The purged segment is verified first (:class:`AuditTampered` if it does not:
    deleting it would hide the tampering), then a signed anchor records its last ``(seq, hash)``
    and replaces any older anchor, and the entries and their checkpoints are deleted.
    """
    _check_key(key)
    _lock(session)
    anchor = _anchor(session)
    start = anchor.seq if anchor else 0
    row = session.one("SELECT seq FROM audit_log WHERE recorded >= ? ORDER BY seq LIMIT 1", (before_ms,))
    if row is not None:
        last = int(row[0]) - 1
    else:
        head = session.one("SELECT max(seq) FROM audit_log")
        last = int(head[0]) if head and head[0] is not None else start
    if last <= start:
        return PurgeResult(0, start)
    result = _walk(session, key, every=every, batch=VERIFY_BATCH, until=last)
    if not result.ok:
        raise AuditTampered(result)
    digest = session.one("SELECT hash FROM audit_log WHERE seq = ?", (last,))
    assert digest is not None  # the walk just read it
    _store(session, [_sign(key, last, str(digest[0]), now, anchor=True)])
    deleted = session.execute("DELETE FROM audit_log WHERE seq <= ?", (last,)).rowcount
    session.execute(
        "DELETE FROM audit_checkpoint WHERE (seq > 0 AND seq <= ?) OR (seq < 0 AND seq > ?)", (last, -last)
    )
    return PurgeResult(int(deleted), last)


def retention_cutoff(now_ms: int, months: int = DEFAULT_RETENTION_MONTHS) -> int:
    """``now`` minus whole calendar months (the day clamped to the month's end), in ms."""
    if months < 0:
        raise ValueError("the audit retention must be zero or more months")
    when = datetime.fromtimestamp(now_ms // 1000, UTC)
    index = when.year * 12 + when.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    last_day = (following - datetime(year, month, 1, tzinfo=UTC)).days
    moved = when.replace(year=year, month=month, day=min(when.day, last_day))
    return int(moved.timestamp()) * 1000 + now_ms % 1000


# --- reading ------------------------------------------------------------------------------------


def search(
    session: Session,
    patient_id: str,
    *,
    since: int | None = None,
    limit: int = 50,
    after_seq: int | None = None,
) -> list[dict[str, Any]]:
    """AuditEvents about one patient, newest first ("who accessed my record").

    ``since``: only entries recorded at or after it (ms); ``after_seq``: continue a page, with
    entries older than that seq (the ``id`` of the last event of the previous page).
    """
    if limit < 1:
        raise ValueError("the audit search limit must be at least 1")
    sql = "SELECT body FROM audit_log WHERE patient = ?"
    params: list[Any] = [patient_id]
    if after_seq is not None:
        sql += " AND seq < ?"
        params.append(after_seq)
    if since is not None:
        sql += " AND recorded >= ?"
        params.append(since)
    sql += " ORDER BY seq DESC LIMIT ?"
    params.append(limit)
    return [orjson.loads(bytes(row[0])) for row in session.all(sql, params)]


def verify(
    session: Session, key: bytes, *, every: int = CHECKPOINT_EVERY, batch: int = VERIFY_BATCH
) -> VerifyResult:
    """Walk the whole chain in seq order, ``batch`` entries at a time, and check everything.

    Checked: the anchor's signature; that seq continues without gap from the anchor (or 1);
    each ``prev_hash`` against the previous entry's hash; each hash against the body; the copied
    columns (``recorded``, ``patient``, ``agent``) and ``id`` against the body; every checkpoint's
    signature and that its hash is the entry's hash; that a checkpoint exists at every multiple
    of ``every`` (``every=0`` skips that check); that no checkpoint names an entry past the end.
    """
    return _walk(session, key, every=every, batch=batch, until=None)


class _Broken(Exception):  # noqa: N818
    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(reason)
        self.seq = seq
        self.reason = reason


class _Walk:
    """State of one verification: where the chain is, what was checked."""

    def __init__(self, session: Session, key: bytes, every: int, start: int, prev: str) -> None:
        self.session = session
        self.key = key
        self.every = every
        self.anchor = start
        self.expected = start + 1
        self.prev = prev
        self.entries = 0
        self.checkpoints = 0
        self.last_checkpoint = start  # the last entry a valid signature vouches for

    def result(self, broken: _Broken | None = None) -> VerifyResult:
        last = self.expected - 1
        if broken is None:
            return VerifyResult(True, self.entries, self.checkpoints, self.anchor, last)
        return VerifyResult(
            False, self.entries, self.checkpoints, self.anchor, last, broken.seq, broken.reason
        )

    def batches(self, until: int | None, batch: int) -> Iterator[list[tuple[Row, Row | None]]]:
        """The next entries in seq order, ``batch`` at a time, each with its checkpoint row."""
        while True:
            sql = "SELECT seq, recorded, patient, agent, body, prev_hash, hash FROM audit_log WHERE seq > ?"
            params: list[Any] = [self.expected - 1]
            if until is not None:
                sql += " AND seq <= ?"
                params.append(until)
            found = self.session.all(sql + " ORDER BY seq LIMIT ?", [*params, batch])
            if not found:
                return
            signed = self.session.all(
                "SELECT seq, hash, signed, signature FROM audit_checkpoint WHERE seq > ? AND seq <= ?",
                (self.expected - 1, int(found[-1][0])),
            )
            marks = {int(c[0]): c for c in signed}
            yield [(row, marks.get(int(row[0]))) for row in found]
            if len(found) < batch:
                return

    def start(self) -> None:
        """No entry may lie at or before the start of the chain (the anchor, or genesis)."""
        row = self.session.one("SELECT max(seq) FROM audit_log WHERE seq <= ?", (self.anchor,))
        if row is not None and row[0] is not None:
            where = f"the retention anchor (entry {self.anchor})" if self.anchor else "the first entry"
            raise _Broken(int(row[0]), f"entry {int(row[0])} lies before {where}: it was inserted afterwards")

    def entry(self, row: Row) -> None:
        seq, recorded, patient, agent, body, prev_hash, digest = row
        seq = int(seq)
        if seq != self.expected:
            raise _Broken(
                self.expected,
                f"entry {self.expected} is missing: the chain jumps from entry {self.expected - 1} "
                f"to entry {seq} (entries deleted)",
            )
        if prev_hash != self.prev:
            raise _Broken(
                seq,
                f"entry {seq} does not follow the previous entry ({seq - 1}): its link to it is broken "
                "(entries reordered, replaced or deleted)",
            )
        data = bytes(body)
        if chain_hash(str(prev_hash), data) != digest:
            raise _Broken(seq, f"entry {seq} was modified: its content no longer matches its hash")
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or event.get("resourceType") != "AuditEvent":
            raise _Broken(seq, f"entry {seq} is not an AuditEvent in JSON")
        copies = (
            ("id", event.get("id"), str(seq)),
            ("recorded", event.get("recorded"), format_instant(int(recorded))),
            ("patient", patient_of(event), patient),
            ("agent", requestor_of(event), agent),
        )
        for name, in_body, in_column in copies:
            if in_body != in_column:
                raise _Broken(seq, f"entry {seq} was modified: its {name} column does not match its content")
        self.prev = str(digest)
        self.expected = seq + 1
        self.entries += 1

    def checkpoint(self, seq: int, digest: str, mark: Row | None) -> None:
        if mark is None:
            if self.every > 0 and seq % self.every == 0:
                raise _Broken(seq, f"the signed checkpoint of entry {seq} is missing (deleted)")
            return
        cp_hash, signed, signature = str(mark[1]), int(mark[2]), str(mark[3])
        expected = _signature(self.key, "checkpoint", seq, cp_hash, signed)
        if not hmac.compare_digest(expected, str(signature)):
            raise _Broken(
                seq, f"the checkpoint at entry {seq} has an invalid signature (forged, altered or wrong key)"
            )
        if cp_hash != digest:
            raise _Broken(
                seq,
                f"entry {seq} does not match its signed checkpoint: the chain was rewritten "
                f"after entry {self.last_checkpoint} and re-hashed",
            )
        self.checkpoints += 1
        self.last_checkpoint = seq

    def tail(self) -> None:
        row = self.session.one(
            "SELECT min(seq) FROM audit_checkpoint WHERE seq >= ?", (max(self.expected, 1),)
        )
        if row is not None and row[0] is not None:
            last = self.expected - 1
            raise _Broken(
                self.expected,
                f"entries {self.expected} to {int(row[0])} are missing: a signed checkpoint names entry "
                f"{int(row[0])} but the chain ends at entry {last} (entries deleted from the end)",
            )


def _walk(session: Session, key: bytes, *, every: int, batch: int, until: int | None) -> VerifyResult:
    _check_key(key)
    if batch < 1:
        raise ValueError("the verification batch must hold at least one entry")
    anchor = _anchor(session)
    walk = _Walk(session, key, every, anchor.seq if anchor else 0, anchor.hash if anchor else GENESIS)
    try:
        if anchor is not None:
            expected = _signature(key, "anchor", anchor.seq, anchor.hash, anchor.signed)
            if not hmac.compare_digest(expected, anchor.signature):
                raise _Broken(
                    anchor.seq,
                    f"the retention anchor after entry {anchor.seq} has an invalid signature "
                    "(forged, altered or wrong key)",
                )
        walk.start()
        for rows in walk.batches(until, batch):
            for row, mark in rows:
                walk.entry(row)
                walk.checkpoint(int(row[0]), str(row[6]), mark)
        if until is None:
            walk.tail()
        elif walk.expected - 1 != until:
            raise _Broken(walk.expected, f"entry {walk.expected} is missing (entries deleted)")
    except _Broken as broken:
        return walk.result(broken)
    return walk.result()
