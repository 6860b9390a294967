"""Account pages: ``/account/security`` (two-factor authentication, recovery codes, session) and
``/account/profile`` ("switch profile": the record a proxy account is looking at).

Replacing recovery codes asks for a current code first (TOTP or a recovery code, checked by
:func:`hygie.auth.accounts.login_second_factor`: throttled, replay-protected, failures counted),
so that a session left open cannot be used to take over the second factor. A patient without
TOTP may turn it on here (the same enrolment as at sign-in: key and ``otpauth`` address shown as
text, one code to confirm, then the recovery codes, shown once).
"""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from starlette.responses import Response

from hygie.auth import accounts, totp
from hygie.auth.keys import read_signed
from hygie.web.pages import Page, page
from hygie.web.session import SignedIn

ENROLMENT_TYP = "hygie-totp-enrolment+jwt"
ENROLMENT_AUDIENCE = "hygie-totp-enrolment"
ENROLMENT_TTL_S = 900  # a quarter of an hour to add the key to the app and type the first code


def _recovery_left(session: Any, account_id: str) -> int:
    row = session.one("SELECT COUNT(*) FROM recovery_code WHERE account = ? AND used IS NULL", (account_id,))
    return int(row[0]) if row is not None else 0


@page("/account/security")
async def security(p: Page) -> Response:
    return await _security(p)


async def _security(p: Page, error: str | None = None, status: int = 200) -> Response:
    who = p.user
    left = await p.state.api().db.run(lambda s: _recovery_left(s, who.account.id), write=False)
    return p.render(
        "account/security.html",
        title="security_title",
        nav="account",
        status=status,
        totp_enabled=who.account.totp_enabled,
        recovery_left=left,
        since=p.local_time(who.session.auth_time),
        ends=p.local_time(who.session.expires),
        error=error,
    )


@page("/account/security/recovery-codes", methods=["POST"])
async def new_recovery_codes(p: Page) -> Response:
    who = p.user
    if not who.account.totp_enabled:
        return p.redirect("/account/security")
    code = p.form.get("code")[:64]
    server = p.state.server()
    client = p.request.client.host if p.request.client else "-"

    def work(session: Any) -> list[str] | str:
        checked = accounts.login_second_factor(
            session, server.throttle, account_id=who.account.id, code=code, client=client, now=p.now_ms
        )
        if not checked.ok or checked.account is None:
            return checked.error or "invalid_second_factor"
        return accounts.new_recovery_codes(session, checked.account)

    result = await p.state.api().db.run(work)
    if isinstance(result, str):
        return await _security(p, error=result, status=400)
    return p.render("account/recovery_codes.html", title="recovery_new_title", nav="account", codes=result)


@page("/account/security/totp", methods=["POST"])
async def enable_totp(p: Page) -> Response:
    """``step=start``: a new secret to add to the app; ``step=confirm``: its first code.

    The secret being enrolled goes with the form as ``enrolment``: a value signed by this server
    (ES256, :data:`ENROLMENT_TYP`), bound to the account, valid :data:`ENROLMENT_TTL_S` — so any
    server process can confirm it. A missing, expired, tampered or other account's value starts
    a new enrolment."""
    who = p.user
    if who.account.totp_enabled:
        return p.redirect("/account/security")
    secret = _pending_secret(p, who) if p.form.get("step") == "confirm" else None
    if secret is None:
        return _enrol(p, who, totp.new_secret())
    code = p.form.get("code")[:64]

    def work(session: Any) -> list[str] | None:
        try:
            return accounts.confirm_totp(session, who.account, secret, code, p.now_ms)
        except accounts.AccountError:
            return None

    codes = await p.state.api().db.run(work)
    if codes is None:
        return _enrol(p, who, secret, error="invalid_second_factor", status=400)
    return p.render("account/recovery_codes.html", title="recovery_new_title", nav="account", codes=codes)


def _enrolment(p: Page, who: SignedIn, secret: str) -> str:
    keys = p.state.api().keys
    now = p.now_ms // 1000
    claims = {
        "iss": keys.instance,
        "aud": ENROLMENT_AUDIENCE,
        "sub": who.account.id,
        "secret": secret,
        "iat": now,
        "exp": now + ENROLMENT_TTL_S,
    }
    return jwt.encode({"alg": "ES256", "typ": ENROLMENT_TYP}, claims, keys.signing)


def _pending_secret(p: Page, who: SignedIn) -> str | None:
    claims = read_signed(
        p.state.api().keys,
        p.form.get("enrolment"),
        typ=ENROLMENT_TYP,
        audience=ENROLMENT_AUDIENCE,
        now_s=p.now_ms // 1000,
        max_chars=4096,
    )
    if claims is None or claims.get("sub") != who.account.id or not isinstance(claims.get("secret"), str):
        return None
    return str(claims["secret"])


def _enrol(p: Page, who: SignedIn, secret: str, error: str | None = None, status: int = 200) -> Response:
    uri = totp.provisioning_uri(secret, who.account.username)
    return p.render(
        "account/totp.html",
        title="totp_setup",
        nav="account",
        status=status,
        uri=uri,
        secret=secret,
        enrolment=_enrolment(p, who, secret),
        error=error,
    )


@page("/account/profile", methods=["GET", "POST"])
async def profile(p: Page) -> Response:
    who = p.user
    if p.request.method == "POST":
        if await p.state.profiles.choose(p.state.api().db, who, p.form.get("patient")):
            return p.redirect("/")
        return p.error(400, "patient_required")
    names = await p.record_names()
    choices = [
        {
            "id": pid,
            "name": p.t("profile_self", name=names[pid]) if pid == who.account.fhir_id else names[pid],
        }
        for pid in who.patients
    ]
    current = p.state.profiles.current(who)
    return p.render("account/profile.html", title="profile_title", choices=choices, current=current)


PAGES = [security, new_recovery_codes, enable_totp, profile]
