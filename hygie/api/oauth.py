"""HTTP binding of the OAuth 2.0 / SMART App Launch 2.2 authorization server (docs/smart.md).

https://hl7.org/fhir/smart-app-launch/ (2.2), RFC 6749, RFC 7636 (PKCE), RFC 7662 (introspection),
RFC 7009 (revocation), RFC 7523 (JWT client assertions):

- ``GET /.well-known/smart-configuration`` and ``/fhir/.well-known/smart-configuration``:
  SMART discovery (https://hl7.org/fhir/smart-app-launch/conformance.html);
  ``/fhir/.well-known/openid-configuration``: OpenID Connect discovery of the same issuer;
- ``GET /oauth/jwks``: the public key that signs access and ID tokens;
- ``POST /oauth/token``, ``/oauth/introspect``, ``/oauth/revoke``: form-encoded requests, JSON
  answers with ``Cache-Control: no-store``; every refusal is an RFC 6749 §5.2 error object;
- ``/oauth/authorize``, ``/login``, ``/logout``: the sign-in and consent pages
  (:mod:`hygie.api.signin`).

:class:`OAuthServer` holds what the endpoints share: the FHIR API (database, search-parameter
catalog, keys, and the in-memory set of revoked access-token ids, to which every revocation is
added as soon as it is committed), the sign-in throttle and the clock.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from hygie.api.checks import is_count
from hygie.api.http import FhirApi
from hygie.auth.external_idp import ExternalIdp, IdpConfig
from hygie.auth.oauth.errors import OAuthError
from hygie.auth.oauth.grants import Outcome, TokenRequest, authenticate_client, token
from hygie.auth.oauth.introspection import introspect, revoke
from hygie.auth.oauth.issuing import Issuer
from hygie.auth.oauth.revocation import live_revoked, load_revoked, purge
from hygie.auth.throttle import Throttle
from hygie.logging import get_logger
from hygie.settings import Settings

log = get_logger("hygie.oauth")
REVOCATION_POLL_S = 2.0  # how soon a revocation recorded by another server is enforced here
MAX_FORM_BYTES = 64 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
CAPABILITIES = [
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "context-standalone-patient",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
    "sso-openid-connect",
]
SCOPES_SUPPORTED = [
    "openid",
    "fhirUser",
    "profile",
    "launch/patient",
    "offline_access",
    "online_access",
    "patient/*.cruds",
    "patient/*.rs",
    "user/*.cruds",
    "user/*.rs",
    "system/*.cruds",
    "system/*.rs",
    "patient/*.read",
    "user/*.read",
    "system/*.read",
]


class FormError(ValueError):
    """A request body that is not an acceptable form."""


class OAuthServer:
    """State shared by the OAuth endpoints and the sign-in pages."""

    def __init__(self, settings: Settings, api: FhirApi, clock: Callable[[], float] | None = None) -> None:
        self.settings = settings
        self.api = api
        self.clock = clock or time.time
        self.throttle = Throttle(settings.login_attempts_per_minute / 60.0, settings.login_burst, 100_000)
        self.idp: ExternalIdp | None = None
        self._watch: asyncio.Task[None] | None = None
        if settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret:
            config = IdpConfig(
                issuer=settings.oidc_issuer,
                client_id=settings.oidc_client_id,
                client_secret=settings.oidc_client_secret,
                scope=settings.oidc_scope,
                acr_values=settings.oidc_acr_values,
                name=settings.oidc_name,
            )
            self.idp = ExternalIdp(config)

    # -- shared helpers ---------------------------------------------------------------------------
    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def fhir_base(self, request: Request) -> str:
        return self.api.base_url(request)

    def root(self, request: Request) -> str:
        return self.fhir_base(request).removesuffix("/fhir")

    def issuer(self, request: Request) -> Issuer:
        return Issuer(
            keys=self.api.keys,
            base=self.fhir_base(request),
            now_ms=self.now_ms(),
            access_ttl_s=self.settings.access_token_minutes * 60,
            refresh_ttl_s=self.settings.refresh_token_days * 86_400,
            strong_hours=self.settings.strong_session_hours,
        )

    async def start(self) -> None:
        """At start-up: purge what expired, load the revoked access-token ids into the API."""
        now = self.now_ms()

        def work(session: Any) -> set[str]:
            purge(session, now)
            return load_revoked(session, now)

        self.api.revoked.update(await self.api.db.run(work))
        self._watch = asyncio.get_running_loop().create_task(self._watch_revocations())

    async def _watch_revocations(self) -> None:
        """Every :data:`REVOCATION_POLL_S`, take up the revocations other servers on the same
        database recorded (RFC 7009 revocation is immediate on the server that received it)."""
        while True:
            await asyncio.sleep(REVOCATION_POLL_S)
            now = self.now_ms()
            try:
                live = await self.api.db.run(partial(live_revoked, now_ms=now), write=False)
            except Exception as exc:  # the database is restarting...: next round
                log.warning("revocations_unread", error=type(exc).__name__)
                continue
            self.api.revoked.update(live)

    async def close(self) -> None:
        """Stop watching revocations."""
        if self._watch is not None:
            self._watch.cancel()
            with suppress(asyncio.CancelledError):
                await self._watch

    # -- discovery --------------------------------------------------------------------------------
    async def smart_configuration(self, request: Request) -> Response:
        """SMART App Launch 2.2 §"SMART on FHIR Well-Known Uniform Resource Identifiers"."""
        root, base = self.root(request), self.fhir_base(request)
        body = {
            "issuer": base,
            "jwks_uri": f"{root}/oauth/jwks",
            "authorization_endpoint": f"{root}/oauth/authorize",
            "token_endpoint": f"{root}/oauth/token",
            "introspection_endpoint": f"{root}/oauth/introspect",
            "revocation_endpoint": f"{root}/oauth/revoke",
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            "scopes_supported": SCOPES_SUPPORTED,
            "response_types_supported": ["code"],
            "capabilities": CAPABILITIES,
            "code_challenge_methods_supported": ["S256"],
        }
        return _json(body, 200, {"Cache-Control": "public, max-age=3600"})

    async def openid_configuration(self, request: Request) -> Response:
        """OpenID Connect Discovery 1.0 §3 for the issuer of ID tokens (the FHIR base URL)."""
        root, base = self.root(request), self.fhir_base(request)
        body = {
            "issuer": base,
            "authorization_endpoint": f"{root}/oauth/authorize",
            "token_endpoint": f"{root}/oauth/token",
            "jwks_uri": f"{root}/oauth/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "scopes_supported": ["openid", "fhirUser", "profile"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser", "name"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "none"],
            "code_challenge_methods_supported": ["S256"],
        }
        return _json(body, 200, {"Cache-Control": "public, max-age=3600"})

    async def jwks(self, _: Request) -> Response:
        return _json(self.api.keys.jwks(), 200, {"Cache-Control": "public, max-age=3600"})

    # -- token endpoints ----------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        """``POST /oauth/token`` (:mod:`hygie.auth.oauth.grants`)."""

        async def answer(form: dict[str, str], issuer: Issuer) -> Outcome:
            req = self._token_request(request, form)
            return await self.api.db.run(lambda s: token(s, issuer, req))

        return await self._endpoint(request, answer)

    async def introspect(self, request: Request) -> Response:
        """``POST /oauth/introspect`` (RFC 7662; who may ask: :mod:`hygie.auth.oauth.introspection`)."""

        async def answer(form: dict[str, str], issuer: Issuer) -> Outcome:
            req = self._token_request(request, form)
            header = request.headers.get("authorization") or ""
            bearer = header[7:].strip() if header[:7].lower() == "bearer " else None
            wants_client = bearer is None or any(k in form for k in ("client_assertion", "client_id"))

            def work(session: Any) -> Outcome:
                caller = None
                if wants_client:
                    found = authenticate_client(session, issuer, req)
                    if isinstance(found, OAuthError):
                        return Outcome(error=found)
                    caller = found
                return introspect(session, issuer, caller, bearer, form, self.api.revoked)

            return await self.api.db.run(work)

        return await self._endpoint(request, answer)

    async def revoke(self, request: Request) -> Response:
        """``POST /oauth/revoke`` (RFC 7009)."""

        async def answer(form: dict[str, str], issuer: Issuer) -> Outcome:
            req = self._token_request(request, form)

            def work(session: Any) -> Outcome:
                client = authenticate_client(session, issuer, req)
                if isinstance(client, OAuthError):
                    return Outcome(error=client)
                return revoke(session, issuer, client, form, self.api.revoked)

            return await self.api.db.run(work)

        return await self._endpoint(request, answer)

    def _token_request(self, request: Request, form: dict[str, str]) -> TokenRequest:
        root = self.root(request)
        audiences = (f"{root}/oauth/token", f"{root}{request.url.path}")
        return TokenRequest(form, request.headers.get("authorization"), audiences)

    async def _endpoint(self, request: Request, answer: Callable[..., Any]) -> Response:
        if request.method != "POST":
            return _error(OAuthError("invalid_request", "use POST"), 405)
        try:
            form = await read_form(request, unique=True)
            outcome: Outcome = await answer(form, self.issuer(request))
        except FormError as exc:
            return _error(OAuthError("invalid_request", str(exc)))
        except Exception:  # a bug, never bad input: still an OAuth error object, not a stack trace
            from hygie.logging import get_logger

            get_logger("hygie.oauth").exception("token endpoint failure")
            return _error(OAuthError("server_error", "unexpected error"), 500)
        self.api.revoked.update(outcome.revoked)
        if outcome.error is not None:
            return _error(outcome.error)
        return _json(outcome.body or {}, 200, NO_STORE)


async def read_form(request: Request, *, unique: bool) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (RFC 6749 §3.2: a parameter sent
    twice is an error when ``unique``; otherwise the first value wins; a NUL character is always
    an error)."""
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise FormError("the body must be application/x-www-form-urlencoded")
    declared = request.headers.get("content-length")
    if declared is not None and (not is_count(declared, 18) or int(declared) > MAX_FORM_BYTES):
        raise FormError("body too large")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM_BYTES:
            raise FormError("body too large")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError("malformed form body") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:  # no OAuth parameter holds one (RFC 6749 Appendix A)
            raise FormError("NUL character in the form")
        if key in form:
            if unique:
                raise FormError(f"parameter {key[:40]!r} repeated")
            continue
        form[key] = value
    return form


def _json(body: Any, status: int, headers: dict[str, str]) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _error(error: OAuthError, status: int | None = None) -> Response:
    headers = dict(NO_STORE)
    if error.error == "invalid_client":
        headers["WWW-Authenticate"] = 'Basic realm="hygie"'
    return _json(error.body(), status or error.status, headers)


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
