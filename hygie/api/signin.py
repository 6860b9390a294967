"""Sign-in, consent and single sign-on: ``/login``, ``/logout`` and ``/oauth/authorize``.

SMART App Launch 2.2 standalone launch (https://hl7.org/fhir/smart-app-launch/app-launch.html) on
top of the accounts of :mod:`hygie.auth.accounts`:

1. **Password** (:func:`~hygie.auth.accounts.login`: throttled before hashing, progressive lockout).
2. **Second factor** when the account needs one: the TOTP code (replay-protected) or a recovery
   code; an account that must have TOTP and has none **enrols** first (the ``otpauth://`` URI and
   key are shown as text, then the recovery codes, once). Between steps, a short-lived signed
   cookie (10 min, ES256, its own ``typ`` so it can never pass for an access token) remembers
   whose password was accepted — the password never travels twice.
3. A **web session** opens (:mod:`hygie.auth.sessions`): strong for ``HYGIE_STRONG_SESSION_HOURS``.
   Within it, ``/oauth/authorize`` goes straight to the consent page (single sign-on across apps
   and the web UI); after it, the person signs in again.
4. **Consent**: the app, the scopes granted (already narrowed to its registration), the launch
   patient (``launch/patient``: a patient picks themself or one of the patients they act for; a
   professional types the id of a patient they care for). Approving redirects to the app's
   registered ``redirect_uri`` with ``code`` and ``state``; denying with ``error=access_denied``.

CSRF: every form carries a token — the session's secret once signed in, before that a random
value also set as a cookie (double submit). A POST without the right token is refused (403).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from joserfc import jwt
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hygie.api.login_pages import PLAIN, LoginPages
from hygie.api.oauth import FormError, OAuthServer, read_form, retry_after
from hygie.auth import accounts, balp, totp
from hygie.auth.accounts import Account, LoginResult
from hygie.auth.keys import read_signed
from hygie.auth.oauth.authorization import (
    AUTHORIZE_PARAMS,
    AuthorizeRequest,
    RedirectError,
    UnsafeRequestError,
    grant_code,
    may_launch,
    parse_authorize,
    patient_choices,
    with_query,
)
from hygie.auth.oauth.errors import OAuthError
from hygie.auth.sessions import WebSession, close_session, find_session, open_session

SESSION_COOKIE = "hygie_session"
CSRF_COOKIE = "hygie_csrf"
PENDING_COOKIE = "hygie_pending"
LANG_COOKIE = "hygie_lang"  # the language a person chose with ?lang=…, remembered for a year
LANG_MAX_AGE = 365 * 24 * 3600
PENDING_TTL_S = 600
PENDING_TYP = "hygie-signin+jwt"
STATUS = {"rate_limited": 429, "account_locked": 403, "account_disabled": 403}


@dataclass(slots=True)
class Ctx:
    """One browser request: language, time, the session (if strong) and cookies to set."""

    lang: str
    now_ms: int
    ip: str
    web: WebSession | None = None
    account: Account | None = None
    pre_csrf: str = ""
    new_pre_csrf: bool = False
    cookies: list[tuple[str, str, int | None]] = field(default_factory=list)  # name, value, max-age

    @property
    def csrf(self) -> str:
        return self.web.csrf if self.web is not None else self.pre_csrf


@dataclass(frozen=True, slots=True)
class Flow:
    """Where the forms post, what they carry, and the authorization request if any."""

    action: str
    params: dict[str, str]
    req: AuthorizeRequest | None = None
    base: str = ""  # the FHIR base URL (the ``aud`` of the request)


class SignIn:
    def __init__(self, server: OAuthServer, pages: LoginPages = PLAIN) -> None:
        self.server = server
        self.api = server.api
        self.settings = server.settings
        self.pages = pages

    # -- endpoints ----------------------------------------------------------------------------
    async def login(self, request: Request) -> Response:
        """``GET /login``: the sign-in page (or who is signed in); ``POST``: its forms."""
        form = await self._form(request)
        if form is None:
            return self.pages.error_page("bad_form", self._lang(request, {}))
        ctx = await self._context(request, form)
        flow = Flow("/login", {})
        if request.method == "GET":
            if ctx.web is not None and ctx.account is not None:
                return self._finish(
                    request, ctx, self.pages.signed_in_page(ctx.account.display, ctx.csrf, ctx.lang)
                )
            return self._finish(request, ctx, self._signin(ctx, flow))
        if not self._csrf_ok(ctx, form):
            return self._finish(request, ctx, self.pages.error_page("csrf_failed", ctx.lang, 403))
        return self._finish(request, ctx, await self._step(request, ctx, form, flow))

    async def logout(self, request: Request) -> Response:
        """``POST /logout`` (CSRF-protected) ends the session; ``GET`` shows the sign-out button."""
        form = await self._form(request)
        if form is None:  # a POST whose body is no readable form: refused, the session kept
            return self.pages.error_page("bad_form", self._lang(request, {}))
        ctx = await self._context(request, form)
        if request.method == "GET":
            if ctx.web is not None and ctx.account is not None:
                return self._finish(
                    request, ctx, self.pages.signed_in_page(ctx.account.display, ctx.csrf, ctx.lang)
                )
            return self._finish(request, ctx, self.pages.signed_out_page(ctx.lang))
        if not self._csrf_ok(ctx, form):
            return self._finish(request, ctx, self.pages.error_page("csrf_failed", ctx.lang, 403))
        cookie = request.cookies.get(SESSION_COOKIE)
        await self.api.db.run(lambda s: close_session(s, cookie))
        if ctx.account is not None and self.api.trail is not None:
            self.api.trail.record(_login_record("logout", ctx, ctx.account, ctx.account.id, 0, None))
        ctx.cookies.append((SESSION_COOKIE, "", 0))
        return self._finish(request, ctx, self.pages.signed_out_page(ctx.lang))

    async def authorize(self, request: Request) -> Response:
        """``/oauth/authorize``: validate, then sign in (or reuse the session), then consent."""
        form = await self._form(request)
        if form is None:
            return self.pages.error_page("bad_form", self._lang(request, {}))
        source: dict[str, str] = form if request.method == "POST" else dict(request.query_params)
        lang = self._lang(request, form)
        repeated = [k for k in AUTHORIZE_PARAMS if len(request.query_params.getlist(k)) > 1]
        if repeated or any("\x00" in value for value in source.values()):  # RFC 6749 App. A: no NUL
            return self.pages.error_page("bad_form", lang)
        params = {k: source[k] for k in AUTHORIZE_PARAMS if k in source}
        base = self.server.fhir_base(request)
        try:
            req = await self.api.db.run(lambda s: parse_authorize(s, params, base), write=False)
        except UnsafeRequestError as unsafe:
            return self.pages.error_page(unsafe.key, lang)
        except RedirectError as refusal:
            return RedirectResponse(refusal.location(), status_code=303)
        ctx = await self._context(request, form)
        flow = Flow("/oauth/authorize", req.params, req, base)
        if request.method == "GET":
            if ctx.web is not None and ctx.account is not None:
                return self._finish(request, ctx, await self._consent(ctx, flow))
            return self._finish(request, ctx, self._signin(ctx, flow))
        if not self._csrf_ok(ctx, form, session_only=form.get("step") == "consent"):
            return self._finish(request, ctx, self.pages.error_page("csrf_failed", ctx.lang, 403))
        if form.get("step") == "consent":
            if ctx.web is None or ctx.account is None:
                return self._finish(request, ctx, self._signin(ctx, flow))
            return self._finish(request, ctx, await self._decide(ctx, flow, form))
        return self._finish(request, ctx, await self._step(request, ctx, form, flow))

    # -- sign-in steps ----------------------------------------------------------------------------
    async def _step(self, request: Request, ctx: Ctx, form: dict[str, str], flow: Flow) -> Response:
        step = form.get("step")
        throttle = self.server.throttle
        if step == "password":
            username, password = form.get("username", "")[:256], form.get("password", "")[:1024]
            result: LoginResult = await self.api.db.run(
                lambda s: accounts.login(
                    s,
                    throttle,
                    username=username,
                    password=password,
                    code=None,
                    client=ctx.ip,
                    now=ctx.now_ms,
                )
            )
            self._audit_login(ctx, result, username)
            if result.ok and result.account is not None:
                return await self._signed_in(request, ctx, flow, result.account)
            if result.error == "second_factor_required" and result.account is not None:
                self._set_pending(ctx, result.account.id, "totp")
                return self.pages.totp_form(flow.action, self._hidden(ctx, flow), ctx.lang)
            if result.error == "totp_enrollment_required" and result.account is not None:
                return self._enroll(ctx, flow, result.account, totp.new_secret())
            return self._refused(result, ctx, flow, username)
        if step in ("totp", "enroll"):
            pending = self._pending(request, ctx, step)
            if pending is None:
                return self._signin(ctx, flow, error="signin_expired", status=400)
            if step == "totp":
                code = form.get("code", "")[:64]
                result = await self.api.db.run(
                    lambda s: accounts.login_second_factor(
                        s, throttle, account_id=pending["sub"], code=code, client=ctx.ip, now=ctx.now_ms
                    )
                )
                self._audit_login(ctx, result, str(pending["sub"]))
                if result.ok and result.account is not None:
                    ctx.cookies.append((PENDING_COOKIE, "", 0))
                    return await self._signed_in(request, ctx, flow, result.account)
                status = STATUS.get(result.error or "", 400)
                response = self.pages.totp_form(
                    flow.action, self._hidden(ctx, flow), ctx.lang, error=result.error, status=status
                )
                if result.error == "rate_limited":
                    response.headers["Retry-After"] = retry_after(result.retry_after)
                return response
            return await self._confirm_enrolment(request, ctx, flow, pending, form.get("code", "")[:64])
        return self.pages.error_page("bad_form", ctx.lang)

    def _audit_login(self, ctx: Ctx, result: LoginResult, login: str) -> None:
        """Successful and failed sign-ins go to the audit trail (BALP login events); the steps in
        between (a second factor or an enrolment is needed) are not an outcome yet."""
        if self.api.trail is None or result.error in _NOT_AN_OUTCOME:
            return
        outcome: balp.Outcome = 0 if result.ok else 4
        self.api.trail.record(_login_record("login", ctx, result.account, login, outcome, result.error))

    def _refused(self, result: LoginResult, ctx: Ctx, flow: Flow, username: str) -> Response:
        status = STATUS.get(result.error or "", 400)
        app = flow.req.client.name if flow.req else None
        response = self._signin(ctx, flow, error=result.error, status=status, username=username, app=app)
        if result.error == "rate_limited":
            response.headers["Retry-After"] = retry_after(result.retry_after)
        return response

    def _enroll(
        self, ctx: Ctx, flow: Flow, account: Account, secret: str, error: str | None = None
    ) -> Response:
        self._set_pending(ctx, account.id, "enroll", secret)
        uri = totp.provisioning_uri(secret, account.username)
        return self.pages.enroll_form(
            flow.action,
            self._hidden(ctx, flow),
            ctx.lang,
            uri=uri,
            secret=secret,
            error=error,
            status=400 if error else 200,
        )

    async def _confirm_enrolment(
        self, request: Request, ctx: Ctx, flow: Flow, pending: dict[str, Any], code: str
    ) -> Response:
        secret = str(pending.get("secret", ""))

        def work(session: Any) -> tuple[Account | None, list[str] | None]:
            account = accounts.get_account(session, str(pending["sub"]))
            if account is None or account.disabled or account.totp_enabled:
                return None, None  # an enrolled account never enrols again without a reset
            try:
                return account, accounts.confirm_totp(session, account, secret, code, ctx.now_ms)
            except accounts.AccountError:
                return account, None

        account, codes = await self.api.db.run(work)
        if account is None:
            return self._signin(ctx, flow, error="signin_expired", status=400)
        if codes is None:
            return self._enroll(ctx, flow, account, secret, error="invalid_second_factor")
        ctx.cookies.append((PENDING_COOKIE, "", 0))
        await self._open(request, ctx, account)
        if flow.req is not None:
            next_url = "/oauth/authorize?" + urlencode({**flow.params, "lang": ctx.lang})
        else:
            next_url = self._home(ctx)
        return self.pages.recovery_page(codes, next_url, ctx.lang)

    async def _signed_in(self, request: Request, ctx: Ctx, flow: Flow, account: Account) -> Response:
        await self._open(request, ctx, account)
        if flow.req is not None:
            return await self._consent(ctx, flow)
        return RedirectResponse(self._home(ctx), status_code=303)

    def _home(self, ctx: Ctx) -> str:
        """Where a signed-in person goes when no app is waiting: the web UI's home."""
        return f"{self.pages.home}?lang={ctx.lang}"

    async def _open(self, request: Request, ctx: Ctx, account: Account) -> None:
        old = request.cookies.get(SESSION_COOKIE)
        hours = self.settings.strong_session_hours

        def work(session: Any) -> tuple[str, WebSession]:
            close_session(session, old)
            return open_session(session, account.id, now_ms=ctx.now_ms, hours=hours)

        cookie, web = await self.api.db.run(work)
        ctx.web, ctx.account = web, account
        ctx.cookies.append((SESSION_COOKIE, cookie, max(1, int(hours * 3600))))

    # -- consent ----------------------------------------------------------------------------------
    async def _consent(self, ctx: Ctx, flow: Flow, error: str | None = None, status: int = 200) -> Response:
        req, account = flow.req, ctx.account
        assert req is not None and account is not None
        choices: tuple[str, ...] | None = None
        if req.wants_patient:
            choices = await self.api.db.run(lambda s: patient_choices(s, account), write=False)
        kind = None
        if req.wants_patient and account.kind == "professional":
            kind = "text"
        elif choices is not None and len(choices) > 1:
            kind = "choice"
        return self.pages.consent_page(
            flow.action,
            self._hidden(ctx, flow),
            ctx.lang,
            app=req.client.name,
            who=account.display,
            scopes=req.scopes.text.split(),
            patient_field=kind,
            choices=choices or (),
            redirect_origin=_origin(req.redirect_uri),
            error=error,
            status=status,
        )

    async def _decide(self, ctx: Ctx, flow: Flow, form: dict[str, str]) -> Response:
        req, account, web = flow.req, ctx.account, ctx.web
        assert req is not None and account is not None and web is not None
        if form.get("decision") != "approve":
            denied = OAuthError("access_denied", "the user denied the request")
            refusal = RedirectError(denied, req.redirect_uri, req.state)
            return RedirectResponse(refusal.location(), status_code=303)
        chosen = form.get("patient", "").strip()[:64]
        pids, base = self.api.params, flow.base

        def work(session: Any) -> str | None:
            patient = None
            if req.wants_patient and account.kind in ("patient", "professional"):
                choices = patient_choices(session, account)
                if choices is not None and not chosen and len(choices) == 1:
                    patient = choices[0]
                elif chosen and may_launch(session, account, chosen, pids=pids, base=base, now_ms=ctx.now_ms):
                    patient = chosen
                else:
                    return None
            return grant_code(
                session, req, account, patient=patient, auth_time=web.auth_time, now_ms=ctx.now_ms
            )

        code = await self.api.db.run(work)
        if code is None:
            return await self._consent(ctx, flow, error="patient_required", status=400)
        return RedirectResponse(
            with_query(req.redirect_uri, {"code": code, "state": req.state}), status_code=303
        )

    # -- plumbing ---------------------------------------------------------------------------------
    def _signin(
        self,
        ctx: Ctx,
        flow: Flow,
        *,
        error: str | None = None,
        status: int = 200,
        username: str = "",
        app: str | None = None,
    ) -> Response:
        app = app or (flow.req.client.name if flow.req else None)
        hidden = self._hidden(ctx, flow)
        external = None
        if self.server.idp is not None:
            href = "/login/external?" + urlencode({**flow.params, "lang": ctx.lang})
            external = (self.server.idp.config.name, href)
        return self.pages.signin_form(
            flow.action,
            hidden,
            ctx.lang,
            app=app,
            error=error,
            username=username,
            status=status,
            external=external,
        )

    def _hidden(self, ctx: Ctx, flow: Flow) -> dict[str, str]:
        return {**flow.params, "lang": ctx.lang, "csrf": ctx.csrf}

    def _lang(self, request: Request, form: dict[str, str]) -> str:
        """The form's or URL's ``lang``, else the remembered choice, else Accept-Language."""
        chosen = form.get("lang") or request.query_params.get("lang")
        return self.pages.choose_language(
            chosen,
            request.cookies.get(LANG_COOKIE),
            request.headers.get("accept-language"),
            self.settings.default_language,
        )

    async def _form(self, request: Request) -> dict[str, str] | None:
        if request.method != "POST":
            return {}
        try:
            return await read_form(request, unique=False)
        except FormError:
            return None

    async def _context(self, request: Request, form: dict[str, str]) -> Ctx:
        ctx = Ctx(
            self._lang(request, form), self.server.now_ms(), request.client.host if request.client else "-"
        )
        cookie = request.cookies.get(SESSION_COOKIE)
        hours = self.settings.strong_session_hours
        if cookie:

            def work(session: Any) -> tuple[WebSession | None, Account | None]:
                web = find_session(session, cookie, now_ms=ctx.now_ms, hours=hours)
                account = accounts.get_account(session, web.account) if web is not None else None
                return web, account

            web, account = await self.api.db.run(work, write=False)
            if web is not None and account is not None and not account.disabled:
                ctx.web, ctx.account = web, account
        pre = request.cookies.get(CSRF_COOKIE, "")
        if len(pre) < 32 or len(pre) > 128:
            pre, ctx.new_pre_csrf = secrets.token_urlsafe(32), True
            ctx.cookies.append((CSRF_COOKIE, pre, None))
        ctx.pre_csrf = pre
        return ctx

    def _csrf_ok(self, ctx: Ctx, form: dict[str, str], *, session_only: bool = False) -> bool:
        sent = form.get("csrf", "").encode()  # bytes: compare_digest refuses non-ASCII str
        if not sent:
            return False
        if ctx.web is not None and hmac.compare_digest(sent, ctx.web.csrf.encode()):
            return True
        return not session_only and not ctx.new_pre_csrf and hmac.compare_digest(sent, ctx.pre_csrf.encode())

    def _set_pending(self, ctx: Ctx, account_id: str, step: str, secret: str | None = None) -> None:
        keys = self.api.keys
        now = ctx.now_ms // 1000
        claims: dict[str, Any] = {
            "iss": keys.instance,
            "aud": "hygie-signin",
            "sub": account_id,
            "step": step,
            "iat": now,
            "exp": now + PENDING_TTL_S,
        }
        if secret is not None:
            claims["secret"] = secret
        value = jwt.encode({"alg": "ES256", "typ": PENDING_TYP}, claims, keys.signing)
        ctx.cookies.append((PENDING_COOKIE, value, PENDING_TTL_S))

    def _pending(self, request: Request, ctx: Ctx, step: str) -> dict[str, Any] | None:
        claims = read_signed(
            self.api.keys, request.cookies.get(PENDING_COOKIE, ""), typ=PENDING_TYP, audience="hygie-signin",
            now_s=ctx.now_ms // 1000, max_chars=4096,
        )  # fmt: skip
        valid = claims is not None and claims.get("step") == step and isinstance(claims.get("sub"), str)
        return claims if valid else None

    def _finish(self, request: Request, ctx: Ctx, response: Response) -> Response:
        secure = request.url.scheme == "https" or (self.settings.base_url or "").startswith("https:")
        for name, value, max_age in ctx.cookies:
            if max_age == 0:
                response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")
            else:
                response.set_cookie(
                    name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax"
                )
        asked = request.query_params.get("lang")
        if asked == ctx.lang and request.cookies.get(LANG_COOKIE) != asked:  # remember ?lang=
            response.set_cookie(
                LANG_COOKIE,
                asked,
                max_age=LANG_MAX_AGE,
                path="/",
                secure=secure,
                httponly=True,
                samesite="lax",
            )
        response.headers["Cache-Control"] = "no-store"
        return response


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


_NOT_AN_OUTCOME = frozenset({"second_factor_required", "totp_enrollment_required"})


def _login_record(
    action: balp.Action,
    ctx: Ctx,
    account: Account | None,
    login: str,
    outcome: balp.Outcome,
    error: str | None,
) -> balp.AccessRecord:
    patients = (
        (account.fhir_id,) if account is not None and account.kind == "patient" and account.fhir_id else ()
    )
    return balp.AccessRecord(
        action=action,
        time_ms=ctx.now_ms,
        outcome=outcome,
        outcome_text=error,
        agent_ref=account.fhir_user if account is not None else None,
        agent_display=account.display if account is not None else None,
        agent_login=account.username if account is not None else login[:128],
        client_ip=ctx.ip,
        patients=patients,
    )
