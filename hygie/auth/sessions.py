"""Web sessions of signed-in people (browser cookie), the base of single sign-on.

A session starts with a **strong** sign-in (password, plus TOTP where the account has it) and lasts
``strong_session_hours`` (``HYGIE_STRONG_SESSION_HOURS``, 4 h by default): within it, the web UI
and every SMART app authorised through ``/oauth/authorize`` reuse it without asking again
(single sign-on); after it the person signs in again (the French "authentification forte valable
pour une vacation", HospiConnect). Nothing extends a session: its end is fixed at sign-in.

- The cookie value is 256 random bits (:func:`secrets.token_urlsafe`); only its SHA-256 digest
  is stored (table ``web_session``), so a database dump cannot be replayed as a cookie.
- ``auth_time`` is the time of the strong sign-in (the ``auth_time`` claim of tokens and
  ID tokens, OpenID Connect Core §2).
- ``csrf`` is a random secret per session that every form posted within it must carry
  (OWASP CSRF Prevention Cheat Sheet, "synchronizer token pattern").

Times are integer milliseconds since the epoch, like the rest of the schema.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from hygie.storage.database import Session

COOKIE_BYTES = 32  # 256 bits


@dataclass(frozen=True, slots=True)
class WebSession:
    digest: str
    account: str
    auth_time: int  # ms: the strong sign-in
    expires: int  # ms
    csrf: str
    created: int
    profile: str | None = None  # the record the web UI shows (a proxy's choice; None: its own)

    def strong(self, now_ms: int, hours: float) -> bool:
        """True while the strong sign-in is younger than ``hours``."""
        return now_ms < self.auth_time + int(hours * 3_600_000) and now_ms < self.expires


def digest(value: str) -> str:
    """SHA-256 (hex) of a cookie value: what is stored and looked up."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def open_session(
    session: Session, account_id: str, *, now_ms: int, hours: float, auth_time: int | None = None
) -> tuple[str, WebSession]:
    """A new session for ``account_id`` after a strong sign-in; returns (cookie value, session)."""
    value = secrets.token_urlsafe(COOKIE_BYTES)
    start = now_ms if auth_time is None else auth_time
    web = WebSession(
        digest=digest(value),
        account=account_id,
        auth_time=start,
        expires=start + int(hours * 3_600_000),
        csrf=secrets.token_urlsafe(32),
        created=now_ms,
    )
    session.execute(
        "INSERT INTO web_session (digest, account, auth_time, expires, csrf, created)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (web.digest, web.account, web.auth_time, web.expires, web.csrf, web.created),
    )
    return value, web


def find_session(session: Session, cookie: str | None, *, now_ms: int, hours: float) -> WebSession | None:
    """The live, still strong session of a cookie value (None when absent, unknown or over)."""
    if not cookie or len(cookie) > 128:
        return None
    row = session.one(
        "SELECT digest, account, auth_time, expires, csrf, created, profile FROM web_session"
        " WHERE digest = ?",
        (digest(cookie),),
    )
    if row is None:
        return None
    profile = None if row[6] is None else str(row[6])
    web = WebSession(str(row[0]), str(row[1]), int(row[2]), int(row[3]), str(row[4]), int(row[5]), profile)
    return web if web.strong(now_ms, hours) else None


def set_profile(session: Session, session_digest: str, patient: str | None) -> None:
    """Keep the record the web UI shows with the session (migration 14)."""
    session.execute("UPDATE web_session SET profile = ? WHERE digest = ?", (patient, session_digest))


def close_session(session: Session, cookie: str | None) -> None:
    """Sign out: forget the session of this cookie value."""
    if cookie and len(cookie) <= 128:
        session.execute("DELETE FROM web_session WHERE digest = ?", (digest(cookie),))


def close_sessions_of(session: Session, account_id: str) -> None:
    """Forget every session of an account (disabled account, TOTP reset)."""
    session.execute("DELETE FROM web_session WHERE account = ?", (account_id,))


def purge_sessions(session: Session, now_ms: int) -> int:
    """Delete sessions that are over; returns how many."""
    cursor = session.execute("DELETE FROM web_session WHERE expires <= ?", (now_ms,))
    return int(cursor.rowcount or 0)
