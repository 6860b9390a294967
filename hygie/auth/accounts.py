"""Accounts: who can sign in, and the sign-in check (password, then second factor).

Kinds: ``professional`` (a Practitioner, an Organization, an RPPS identifier on the Practitioner),
``patient`` (a Patient, plus the patients it acts for: proxies), ``admin``. TOTP is **mandatory**
for professionals and administrators (they cannot finish a sign-in before enrolling) and optional
for patients. Storage: tables ``account``, ``recovery_code``, ``account_proxy``
(:mod:`hygie.storage.migrations_auth`).

:func:`login` is the one place where credentials are checked, in this order, so that guessing is
slow and says nothing (docs/security-credentials.md):

1. throttle by client address and by username **before** any hashing (token buckets);
2. unknown username → the same Argon2 work as a real check (:func:`burn_time`), same answer;
3. locked account (progressive lockout after failures; hard stop at 100) → refused unchecked;
4. password (Argon2id, re-hashed when the parameters changed);
5. second factor: TOTP code (replay-protected by its time step) or a one-time recovery code.

Every outcome is a :class:`LoginResult` whose ``error`` is a message key safe to show.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hygie.auth import passwords, totp
from hygie.auth.throttle import MAX_CONSECUTIVE_FAILURES, Throttle, lockout_seconds
from hygie.fhir.messages import register
from hygie.storage.database import Session

AccountKind = Literal["professional", "patient", "admin"]
KINDS: tuple[AccountKind, ...] = ("professional", "patient", "admin")
SECOND_FACTOR_REQUIRED = frozenset({"professional", "admin"})

register(
    {
        "invalid_credentials": {
            "fr": "Identifiant ou mot de passe incorrect.",
            "en": "Wrong username or password.",
        },
        "invalid_second_factor": {
            "fr": "Code de vérification incorrect ou déjà utilisé.",
            "en": "Wrong or already used verification code.",
        },
        "second_factor_required": {
            "fr": "Saisissez le code de votre application d'authentification.",
            "en": "Enter the code from your authenticator app.",
        },
        "totp_enrollment_required": {
            "fr": "La double authentification est obligatoire : "
            "configurez votre application d'authentification.",
            "en": "Two-factor authentication is mandatory: set up your authenticator app.",
        },
        "account_locked": {
            "fr": "Trop d'essais : compte temporairement bloqué, réessayez plus tard.",
            "en": "Too many attempts: account temporarily locked, try again later.",
        },
        "rate_limited": {
            "fr": "Trop de tentatives, patientez quelques secondes.",
            "en": "Too many attempts, wait a few seconds.",
        },
        "account_disabled": {"fr": "Ce compte est désactivé.", "en": "This account is disabled."},
    }
)


class AccountError(ValueError):
    """A refused account operation; ``key`` is a registered message key."""

    def __init__(self, key: str, detail: str = "") -> None:
        super().__init__(detail or key)
        self.key = key
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    username: str
    kind: AccountKind
    display: str
    fhir_type: str | None
    fhir_id: str | None
    organization: str | None
    totp_enabled: bool
    disabled: bool
    failed: int
    locked_until: int
    auth_level: str | None = None

    @property
    def fhir_user(self) -> str | None:
        return f"{self.fhir_type}/{self.fhir_id}" if self.fhir_type and self.fhir_id else None

    @property
    def needs_second_factor(self) -> bool:
        return self.kind in SECOND_FACTOR_REQUIRED or self.totp_enabled


@dataclass(frozen=True, slots=True)
class LoginResult:
    account: Account | None
    error: str | None = None
    retry_after: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.account is not None


_COLUMNS = (
    "id, username, kind, display, fhir_type, fhir_id, organization, totp_secret, disabled, failed, "
    "locked_until, auth_level"
)


def normalize_username(username: str) -> str:
    """Usernames compare case- and width-insensitively (NFKC, casefold, trimmed)."""
    return unicodedata.normalize("NFKC", username).strip().casefold()


def _row_to_account(row: Sequence[Any]) -> Account:
    aid, username, kind, display, ftype, fid, org, secret, disabled, failed, locked, level = row
    return Account(
        aid,
        username,
        kind,
        display,
        ftype,
        fid,
        org,
        bool(secret),
        bool(disabled),
        int(failed),
        int(locked),
        level,
    )


def _bool(session: Session, value: bool) -> Any:
    return value if session.dialect == "postgresql" else int(value)


def create_account(
    session: Session,
    *,
    username: str,
    kind: AccountKind,
    display: str,
    password: str | None,
    now: int,
    fhir: str | None = None,
    organization: str | None = None,
) -> Account:
    """A new account. ``fhir``: ``Practitioner/ID`` (professional) or ``Patient/ID`` (patient).

    Raises :class:`AccountError` for a taken username, a weak password (the first problem key of
    :func:`passwords.check_new_password`), or a FHIR link that does not fit the kind."""
    name = normalize_username(username)
    if not name or len(name) > 128:
        raise AccountError("invalid_username")
    if kind not in KINDS:
        raise AccountError("invalid_kind", kind)
    fhir_type, _, fhir_id = (fhir or "").partition("/")
    expected = {"professional": "Practitioner", "patient": "Patient"}.get(kind)
    if (expected is None and fhir) or (expected is not None and (fhir_type != expected or not fhir_id)):
        raise AccountError("invalid_fhir_link", f"{kind} accounts link to {expected or 'nothing'}")
    if session.one("SELECT 1 FROM account WHERE username = ?", (name,)) is not None:
        raise AccountError("username_taken", name)
    digest = None
    if password is not None:
        problems = passwords.check_new_password(password, context=(name, display))
        if problems:
            raise AccountError(problems[0])
        digest = passwords.hash_password(password)
    aid = secrets.token_hex(8)
    session.execute(
        "INSERT INTO account (id, username, kind, display, password_hash, fhir_type, fhir_id, organization, "
        "created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (aid, name, kind, display, digest, fhir_type or None, fhir_id or None, organization, now, now),
    )
    found = get_account(session, aid)
    assert found is not None
    return found


def get_account(session: Session, account_id: str) -> Account | None:
    row = session.one(f"SELECT {_COLUMNS} FROM account WHERE id = ?", (account_id,))
    return _row_to_account(row) if row is not None else None


def find_account(session: Session, username: str) -> Account | None:
    row = session.one(f"SELECT {_COLUMNS} FROM account WHERE username = ?", (normalize_username(username),))
    return _row_to_account(row) if row is not None else None


def list_accounts(session: Session) -> list[Account]:
    return [_row_to_account(r) for r in session.all(f"SELECT {_COLUMNS} FROM account ORDER BY username")]


def set_password(session: Session, account: Account, password: str, now: int) -> None:
    problems = passwords.check_new_password(password, context=(account.username, account.display))
    if problems:
        raise AccountError(problems[0])
    session.execute(
        "UPDATE account SET password_hash = ?, failed = 0, locked_until = 0, updated = ? WHERE id = ?",
        (passwords.hash_password(password), now, account.id),
    )


def set_disabled(session: Session, account: Account, disabled: bool, now: int) -> None:
    session.execute(
        "UPDATE account SET disabled = ?, updated = ? WHERE id = ?",
        (_bool(session, disabled), now, account.id),
    )


# -- second factor -------------------------------------------------------------------------------
def start_totp() -> str:
    """A new TOTP secret, held by the caller (shown as a QR code) until :func:`confirm_totp`."""
    return totp.new_secret()


def confirm_totp(session: Session, account: Account, secret: str, code: str, now: int) -> list[str]:
    """Enable TOTP with ``secret`` once ``code`` proves the app has it; returns fresh recovery
    codes (shown once; only their digests are stored)."""
    step = totp.verify(secret, code, last_step=None, now=now / 1000)
    if step is None:
        raise AccountError("invalid_second_factor")
    session.execute(
        "UPDATE account SET totp_secret = ?, totp_last_step = ?, updated = ? WHERE id = ?",
        (secret, step, now, account.id),
    )
    return new_recovery_codes(session, account)


def new_recovery_codes(session: Session, account: Account) -> list[str]:
    codes = totp.new_recovery_codes()
    session.execute("DELETE FROM recovery_code WHERE account = ?", (account.id,))
    session.executemany(
        "INSERT INTO recovery_code (account, digest) VALUES (?, ?)",
        [(account.id, totp.digest(c)) for c in codes],
    )
    return codes


def reset_totp(session: Session, account: Account, now: int) -> None:
    """Forget the TOTP secret and recovery codes (an administrator's reset): the user enrols again."""
    session.execute(
        "UPDATE account SET totp_secret = NULL, totp_last_step = 0, updated = ? WHERE id = ?",
        (now, account.id),
    )
    session.execute("DELETE FROM recovery_code WHERE account = ?", (account.id,))


# -- proxies -------------------------------------------------------------------------------------
def add_proxy(session: Session, account: Account, patient_id: str, relationship: str) -> None:
    if account.kind != "patient":
        raise AccountError("invalid_kind", "only patient accounts act for other patients")
    session.execute(
        "INSERT INTO account_proxy (account, patient, relationship) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (account.id, patient_id, relationship),
    )


def patients_of(session: Session, account: Account) -> tuple[str, ...]:
    """A patient account's own Patient id first, then the patients it acts for."""
    if account.kind != "patient" or not account.fhir_id:
        return ()
    others = [
        r[0]
        for r in session.all(
            "SELECT patient FROM account_proxy WHERE account = ? ORDER BY patient", (account.id,)
        )
    ]
    return (account.fhir_id, *[p for p in others if p != account.fhir_id])


# -- sign-in -------------------------------------------------------------------------------------
def login(
    session: Session,
    throttle: Throttle,
    *,
    username: str,
    password: str,
    code: str | None,
    client: str,
    now: int,
) -> LoginResult:
    """Check a sign-in attempt (see the module docstring for the order of checks)."""
    name = normalize_username(username)
    seconds = now / 1000
    for key in (f"ip:{client}", f"user:{name}"):
        if not throttle.allow(key, seconds):
            return LoginResult(None, "rate_limited", throttle.retry_after(key, seconds))
    row = session.one(
        f"SELECT {_COLUMNS}, password_hash, totp_last_step FROM account WHERE username = ?", (name,)
    )
    if row is None:
        passwords.burn_time(password)
        return LoginResult(None, "invalid_credentials")
    account = _row_to_account(row[:12])
    stored_hash, secret, last_step = row[12], row[7], int(row[13])
    if account.locked_until > now or account.failed >= MAX_CONSECUTIVE_FAILURES:
        return LoginResult(None, "account_locked", max(0.0, (account.locked_until - now) / 1000))
    if stored_hash is None or not passwords.verify_password(stored_hash, password):
        _failed(session, account, now)
        return LoginResult(None, "invalid_credentials")
    if account.disabled:
        return LoginResult(None, "account_disabled")
    if passwords.needs_rehash(stored_hash):
        session.execute(
            "UPDATE account SET password_hash = ? WHERE id = ?",
            (passwords.hash_password(password), account.id),
        )
    if account.needs_second_factor:
        if not account.totp_enabled:
            return LoginResult(account, "totp_enrollment_required")
        if not code:
            return LoginResult(account, "second_factor_required")
        if not _second_factor(session, account, secret, code, last_step, now):
            _failed(session, account, now)
            return LoginResult(None, "invalid_second_factor")
    session.execute("UPDATE account SET failed = 0, locked_until = 0 WHERE id = ?", (account.id,))
    return LoginResult(account)


def _second_factor(
    session: Session, account: Account, secret: str, code: str, last_step: int, now: int
) -> bool:
    step = totp.verify(secret, code, last_step=last_step, now=now / 1000)
    if step is not None:
        session.execute("UPDATE account SET totp_last_step = ? WHERE id = ?", (step, account.id))
        return True
    digest = totp.digest(code)
    used = session.one(
        "SELECT 1 FROM recovery_code WHERE account = ? AND digest = ? AND used IS NULL", (account.id, digest)
    )
    if used is None:
        return False
    session.execute(
        "UPDATE recovery_code SET used = ? WHERE account = ? AND digest = ?", (now, account.id, digest)
    )
    return True


def _failed(session: Session, account: Account, now: int) -> None:
    failures = account.failed + 1
    until = now + lockout_seconds(failures) * 1000
    session.execute(
        "UPDATE account SET failed = ?, locked_until = ? WHERE id = ?", (failures, until, account.id)
    )


def login_second_factor(
    session: Session, throttle: Throttle, *, account_id: str, code: str, client: str, now: int
) -> LoginResult:
    """The second step of a sign-in whose password :func:`login` accepted (it answered
    ``second_factor_required``): the TOTP or recovery code alone, throttled and counted like
    :func:`login`, so that the password need not travel twice."""
    row = session.one(f"SELECT {_COLUMNS}, totp_last_step FROM account WHERE id = ?", (account_id,))
    if row is None:
        return LoginResult(None, "invalid_credentials")
    account = _row_to_account(row[:12])
    seconds = now / 1000
    for key in (f"ip:{client}", f"user:{account.username}"):
        if not throttle.allow(key, seconds):
            return LoginResult(None, "rate_limited", throttle.retry_after(key, seconds))
    if account.locked_until > now or account.failed >= MAX_CONSECUTIVE_FAILURES:
        return LoginResult(None, "account_locked", max(0.0, (account.locked_until - now) / 1000))
    if account.disabled:
        return LoginResult(None, "account_disabled")
    secret = row[7]
    if not secret:
        return LoginResult(account, "totp_enrollment_required")
    if not _second_factor(session, account, secret, code, int(row[12]), now):
        _failed(session, account, now)
        return LoginResult(None, "invalid_second_factor")
    session.execute("UPDATE account SET failed = 0, locked_until = 0 WHERE id = ?", (account.id,))
    return LoginResult(account)
