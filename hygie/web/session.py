"""Who is signed in to the web UI, and the record they are looking at.

The browser's session is the one of the sign-in pages (cookie ``hygie_session``,
:mod:`hygie.auth.sessions`): strong for ``HYGIE_STRONG_SESSION_HOURS`` from the sign-in, never
extended. Pages act as a principal built from the account like a user token would be
(:func:`web_principal`; ``client_id`` ``hygie-web``, so the audit trail says the access came
through the web UI):

- a **patient** reads with ``user/*.rs`` (their record, the records they act for, reference data)
  and writes with ``patient/*.cud`` for the **current profile** only (the launch patient);
- a **professional** acts with ``user/*.cruds`` (the patients they care for, break-the-glass);
- an **administrator** reads reference data only.

**Proxy access**: an account that acts for other patients (hygie.auth.accounts.patients_of) chooses
the record shown ("switch profile"); the choice is kept with the session in the database
(``web_session.profile``, migration 14: every server process knows it) and checked against the
account's patients on every request.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from hygie.auth import accounts
from hygie.auth.accounts import Account
from hygie.auth.scopes import Scopes, parse_scopes
from hygie.auth.sessions import WebSession, find_session, set_profile
from hygie.auth.tokens import Principal
from hygie.storage.database import Database

SESSION_COOKIE = "hygie_session"  # hygie.api.signin.SESSION_COOKIE
WEB_CLIENT = "hygie-web"
SCOPES: dict[str, Scopes] = {
    "patient": parse_scopes("user/*.rs patient/*.cud"),
    "professional": parse_scopes("user/*.cruds"),
    "admin": parse_scopes("user/*.rs"),
}


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live, strong web session and its account."""

    session: WebSession
    account: Account
    patients: tuple[str, ...]  # a patient account: itself first, then those it acts for

    @property
    def kind(self) -> str:
        return self.account.kind


async def signed_in(db: Database, cookie: str | None, *, now_ms: int, hours: float) -> SignedIn | None:
    """The signed-in person of a session cookie (None: signed out, expired or disabled)."""
    if not cookie:
        return None

    def work(session: Any) -> SignedIn | None:
        web = find_session(session, cookie, now_ms=now_ms, hours=hours)
        if web is None:
            return None
        account = accounts.get_account(session, web.account)
        if account is None or account.disabled:
            return None
        return SignedIn(web, account, accounts.patients_of(session, account))

    result: SignedIn | None = await db.run(work, write=False)
    return result


def web_principal(who: SignedIn, profile: str | None) -> Principal:
    """The principal the pages act as (see the module docstring)."""
    account = who.account
    return Principal(
        kind=account.kind,
        subject=account.id,
        scopes=SCOPES[account.kind],
        client_id=WEB_CLIENT,
        fhir_user=account.fhir_user,
        organization=account.organization if account.kind == "professional" else None,
        patients=who.patients,
        launch_patient=profile,
        auth_time=who.session.auth_time // 1000,
    )


@dataclass(slots=True)
class _Entry:
    names: dict[str, str] = field(default_factory=dict)  # patient id → display name


class Profiles:
    """The record each session is looking at (kept with the session in the database), and a
    per-process memory of the names of the records it may switch to (read once per session
    through the audited FHIR path). The memory is bounded:
    the oldest sessions are forgotten first."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def _entry(self, digest: str) -> _Entry:
        entry = self._entries.get(digest)
        if entry is None:
            entry = self._entries[digest] = _Entry()
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return entry

    def current(self, who: SignedIn) -> str | None:
        """The record shown: the chosen one while the account may still see it, else its own."""
        if not who.patients:
            return None
        chosen = who.session.profile
        return chosen if chosen in who.patients else who.patients[0]

    async def choose(self, db: Database, who: SignedIn, patient: str) -> bool:
        """Show ``patient`` from now on (False when the account does not act for them)."""
        if patient not in who.patients:
            return False
        await db.run(lambda s: set_profile(s, who.session.digest, patient))
        return True

    def names(self, who: SignedIn) -> dict[str, str]:
        entry = self._entries.get(who.session.digest)
        return dict(entry.names) if entry is not None else {}

    def remember_names(self, who: SignedIn, names: dict[str, str]) -> None:
        self._entry(who.session.digest).names.update(names)

    def forget(self, digest: str) -> None:
        self._entries.pop(digest, None)
