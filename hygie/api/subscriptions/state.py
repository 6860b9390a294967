"""SQL of the Subscription delivery state (tables of migration 10,
hygie/storage/migrations_subscriptions.py). Every function runs inside the caller's transaction."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from hygie.auth.tokens import Principal, TokenError, principal_claims, principal_from_claims
from hygie.storage.database import Session

Row = tuple[Any, ...]


def now_ms() -> int:
    return int(time.time() * 1000)


def principal_of(text: str | None) -> Principal | None:
    if text is None:
        return None
    try:
        return principal_from_claims(orjson.loads(text))
    except (TokenError, ValueError, KeyError):
        raise ValueError("unreadable subscription owner") from None


@dataclass(frozen=True, slots=True)
class State:
    id: str
    principal: str | None
    base: str
    since_seq: int | None
    events: int
    failures: int
    next_attempt: int
    last_contact: int


_STATE = "id, principal, base, since_seq, events, failures, next_attempt, last_contact"


def remember(s: Session, sub: str, principal: Principal | None, base: str) -> None:
    """Record who wrote Subscription ``sub`` (its notifications follow that principal's access)
    and make it wait for activation."""
    claims = orjson.dumps(principal_claims(principal)).decode() if principal is not None else None
    s.execute(
        f"INSERT INTO subscription_state ({_STATE}) VALUES (?, ?, ?, NULL, 0, 0, 0, 0) "
        "ON CONFLICT (id) DO UPDATE SET principal = excluded.principal, base = excluded.base, "
        "since_seq = NULL, failures = 0, next_attempt = 0",
        (sub, claims, base),
    )


def any_subscription(s: Session) -> bool:
    return s.one("SELECT 1 FROM subscription_state LIMIT 1") is not None


def states(s: Session) -> dict[str, State]:
    return {r[0]: State(*r) for r in s.all(f"SELECT {_STATE} FROM subscription_state")}


def get(s: Session, sub: str) -> State | None:
    row = s.one(f"SELECT {_STATE} FROM subscription_state WHERE id = ?", (sub,))
    return State(*row) if row is not None else None


def forget(s: Session, sub: str) -> None:
    for table, column in (
        ("subscription_state", "id"),
        ("subscription_event", "sub"),
        ("subscription_seen", "sub"),
        ("subscription_ws_token", "sub"),
    ):
        s.execute(f"DELETE FROM {table} WHERE {column} = ?", (sub,))


def activate(s: Session, sub: str, since_seq: int, now: int) -> None:
    s.execute(
        "UPDATE subscription_state SET since_seq = ?, failures = 0, next_attempt = 0, last_contact = ? "
        "WHERE id = ?",
        (since_seq, now, sub),
    )


def contact(s: Session, sub: str, ok: bool, now: int, retry_ms: int) -> int:
    """Record a delivery attempt; the consecutive failures after it."""
    if ok:
        s.execute(
            "UPDATE subscription_state SET failures = 0, next_attempt = 0, last_contact = ? WHERE id = ?",
            (now, sub),
        )
        return 0
    row = s.one("SELECT failures FROM subscription_state WHERE id = ?", (sub,))
    failures = (int(row[0]) if row else 0) + 1
    delay = min(retry_ms * 2 ** min(failures - 1, 20), 300_000)
    s.execute(
        "UPDATE subscription_state SET failures = ?, next_attempt = ? WHERE id = ?",
        (failures, now + delay, sub),
    )
    return failures


# -- the change feed and the lease -------------------------------------------------------------


def lease(s: Session, holder: str, now: int, ttl_ms: int) -> bool:
    """Take or renew the worker lease (one scanning/delivering process per database)."""
    cur = s.execute(
        "UPDATE subscription_cursor SET holder = ?, lease_until = ? "
        "WHERE name = 'main' AND (holder = ? OR holder IS NULL OR lease_until < ?)",
        (holder, now + ttl_ms, holder, now),
    )
    return bool(cur.rowcount == 1)


def release(s: Session, holder: str) -> None:
    s.execute(
        "UPDATE subscription_cursor SET holder = NULL, lease_until = 0 WHERE name = 'main' AND holder = ?",
        (holder,),
    )


def cursor(s: Session) -> int:
    row = s.one("SELECT seq FROM subscription_cursor WHERE name = 'main'")
    return int(row[0]) if row else 0


def set_cursor(s: Session, seq: int) -> None:
    s.execute("UPDATE subscription_cursor SET seq = ? WHERE name = 'main' AND seq < ?", (seq, seq))


def max_seq(s: Session) -> int:
    row = s.one("SELECT max(seq) FROM resource_version")
    return int(row[0]) if row and row[0] is not None else 0


def safe_cursor(s: Session, cur: int, now: int, wait_ms: int, limit: int = 10_000) -> int:
    """How far the cursor may move: past every seq above ``cur`` that is written, and past a gap
    (a transaction not committed yet, or rolled back) once the version after it is older than
    ``wait_ms`` — PostgreSQL commits concurrent transactions out of seq order."""
    rows = s.all(
        "SELECT seq, last_updated FROM resource_version WHERE seq > ? ORDER BY seq LIMIT ?", (cur, limit)
    )
    for seq, written in rows:
        if int(seq) != cur + 1 and int(written) > now - wait_ms:
            break
        cur = int(seq)
    return cur


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    rk: int
    type: str
    id: str
    vid: int
    deleted: bool
    at: int  # lastUpdated of that version, ms


def changes(s: Session, types: list[str], after: int, limit: int) -> list[Change]:
    """Versions of ``types`` with seq > ``after`` not scanned yet, in seq order."""
    marks = ", ".join("?" * len(types))
    rows = s.all(
        "SELECT v.seq, v.rk, r.type, r.id, v.vid, v.deleted, v.last_updated FROM resource_version v "
        f"JOIN resource r ON r.rk = v.rk WHERE v.seq > ? AND r.type IN ({marks}) "
        "AND NOT EXISTS (SELECT 1 FROM subscription_scan c WHERE c.seq = v.seq) ORDER BY v.seq LIMIT ?",
        (after, *types, limit),
    )
    return [Change(int(r[0]), int(r[1]), r[2], r[3], int(r[4]), bool(r[5]), int(r[6])) for r in rows]


def scanned(s: Session, seqs: list[int], now: int) -> None:
    s.executemany("INSERT INTO subscription_scan (seq, scanned) VALUES (?, ?)", [(q, now) for q in seqs])


def purge(s: Session, before: int) -> None:
    """Forget scans below the cursor, sent events and tokens older than ``before``."""
    s.execute(
        "DELETE FROM subscription_scan WHERE seq <= (SELECT seq FROM subscription_cursor WHERE name = 'main')"
    )
    s.execute("DELETE FROM subscription_event WHERE state = 'sent' AND at < ?", (before,))
    s.execute("DELETE FROM subscription_ws_token WHERE expires < ?", (before,))


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    sub: str
    seq: int
    number: int
    rk: int
    at: int
    attempts: int


def enqueue(s: Session, sub: str, change: Change, now: int) -> int | None:
    """Queue the notification of ``change`` for ``sub`` once; its event number (None: queued
    already)."""
    if s.one("SELECT 1 FROM subscription_event WHERE sub = ? AND seq = ?", (sub, change.seq)):
        return None
    s.execute("UPDATE subscription_state SET events = events + 1 WHERE id = ?", (sub,))
    row = s.one("SELECT events FROM subscription_state WHERE id = ?", (sub,))
    number = int(row[0]) if row else 1
    s.execute(
        "INSERT INTO subscription_event (sub, seq, number, rk, at, state, attempts, next_attempt) "
        "VALUES (?, ?, ?, ?, ?, 'pending', 0, ?)",
        (sub, change.seq, number, change.rk, change.at, now),
    )
    return number


def pending(s: Session, sub: str, limit: int = 100) -> list[Event]:
    rows = s.all(
        "SELECT sub, seq, number, rk, at, attempts FROM subscription_event "
        "WHERE sub = ? AND state = 'pending' ORDER BY seq LIMIT ?",
        (sub, limit),
    )
    return [Event(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]


def claim(s: Session, event: Event) -> bool:
    """Mark ``event`` sent, if nobody did (websocket deliveries race across processes)."""
    cur = s.execute(
        "UPDATE subscription_event SET state = 'sent', attempts = attempts + 1 "
        "WHERE sub = ? AND seq = ? AND state = 'pending'",
        (event.sub, event.seq),
    )
    return bool(cur.rowcount == 1)


def unclaim(s: Session, event: Event) -> None:
    s.execute(
        "UPDATE subscription_event SET state = 'pending' WHERE sub = ? AND seq = ?", (event.sub, event.seq)
    )


def unclaim_all(s: Session, events: list[Event]) -> None:
    for event in events:
        unclaim(s, event)


def failed(s: Session, event: Event) -> None:
    s.execute(
        "UPDATE subscription_event SET attempts = attempts + 1 WHERE sub = ? AND seq = ?",
        (event.sub, event.seq),
    )


def see(s: Session, sub: str, rk: int) -> None:
    s.execute("INSERT INTO subscription_seen (sub, rk) VALUES (?, ?) ON CONFLICT DO NOTHING", (sub, rk))


def saw(s: Session, sub: str, rk: int) -> bool:
    return s.one("SELECT 1 FROM subscription_seen WHERE sub = ? AND rk = ?", (sub, rk)) is not None


def unsee(s: Session, sub: str, rk: int) -> None:
    s.execute("DELETE FROM subscription_seen WHERE sub = ? AND rk = ?", (sub, rk))


# -- websocket binding tokens ------------------------------------------------------------------


def add_token(s: Session, token: str, sub: str, expires: int) -> None:
    s.execute(
        "INSERT INTO subscription_ws_token (token, sub, expires) VALUES (?, ?, ?)", (token, sub, expires)
    )


def token_sub(s: Session, token: str, now: int) -> str | None:
    row = s.one("SELECT sub FROM subscription_ws_token WHERE token = ? AND expires > ?", (token, now))
    return str(row[0]) if row else None
