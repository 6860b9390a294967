"""Sign-in of professionals through an external OpenID Connect provider (``/login/external``).

OpenID Connect Core 1.0 §3.1 (https://openid.net/specs/openid-connect-core-1_0.html), provider
logic in :mod:`hygie.auth.external_idp`:

1. ``GET /login/external`` (linked from the sign-in page, carrying the pending SMART
   authorization request if any): a fresh ``state``, ``nonce`` and PKCE verifier go into a
   short-lived signed cookie (``hygie_external``, 10 min, ES256 with its own ``typ``), and the
   browser is sent to the provider.
2. ``GET /login/external/callback?code=…&state=…``: the ``state`` must match the cookie's; the code
   is redeemed at the provider and its ID token verified; the ``sub`` must be linked to an
   enabled professional account, whose ``auth_level`` takes the reported ``acr``. A strong web
   session opens (single sign-on, exactly as after a local sign-in) and the browser goes back to
   the SMART authorization request (its consent page) or to ``/login``.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from joserfc import jwt
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hygie.api.signin import SignIn
from hygie.auth.external_idp import IdpError, signed_in_externally
from hygie.auth.keys import read_signed
from hygie.auth.oauth.authorization import AUTHORIZE_PARAMS
from hygie.auth.oauth.codes import s256
from hygie.fhir.messages import register
from hygie.logging import get_logger

COOKIE = "hygie_external"
TTL_S = 600
TYP = "hygie-external+jwt"
log = get_logger("hygie.external_login")

register(
    {
        "external_unavailable": {
            "fr": "Le fournisseur d'identité externe n'est pas configuré ou ne répond pas.",
            "en": "The external identity provider is not configured or does not answer.",
        },
        "external_failed": {
            "fr": "La connexion par le fournisseur d'identité a échoué : recommencez.",
            "en": "Sign-in through the identity provider failed: start again.",
        },
        "external_no_account": {
            "fr": "Aucun compte professionnel actif n'est associé à cette identité.",
            "en": "No active professional account is linked to this identity.",
        },
    }
)


class ExternalLogin(SignIn):
    async def start(self, request: Request) -> Response:
        """``GET /login/external``: off to the provider."""
        ctx = await self._context(request, {})
        idp = self.server.idp
        if idp is None:
            return self.pages.error_page("external_unavailable", ctx.lang, 404)
        params = {k: request.query_params[k] for k in AUTHORIZE_PARAMS if k in request.query_params}
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        redirect_uri = f"{self.server.root(request)}/login/external/callback"
        try:
            url = await anyio.to_thread.run_sync(
                lambda: idp.authorization_url(
                    redirect_uri=redirect_uri, state=state, nonce=nonce, challenge=s256(verifier)
                )
            )
        except IdpError as error:
            log.warning("external identity provider unavailable", reason=str(error))
            return self.pages.error_page("external_unavailable", ctx.lang, 502)
        now = ctx.now_ms // 1000
        claims = {
            "aud": "hygie-external",
            "state": state,
            "nonce": nonce,
            "verifier": verifier,
            "params": params,
            "lang": ctx.lang,
            "exp": now + TTL_S,
        }
        value = jwt.encode({"alg": "ES256", "typ": TYP}, claims, self.api.keys.signing)
        ctx.cookies.append((COOKIE, value, TTL_S))
        return self._finish(request, ctx, RedirectResponse(url, status_code=303))

    async def callback(self, request: Request) -> Response:
        """``GET /login/external/callback``: check, redeem, sign in, go back."""
        ctx = await self._context(request, {})
        idp = self.server.idp
        if idp is None:
            return self.pages.error_page("external_unavailable", ctx.lang, 404)
        pending = self._started(request, ctx.now_ms // 1000)
        ctx.cookies.append((COOKIE, "", 0))
        code, state = request.query_params.get("code", ""), request.query_params.get("state", "")
        expected = str(pending["state"]).encode() if pending is not None else b""
        # bytes: compare_digest refuses str with non-ASCII characters (a 500 for a forged state)
        if pending is None or not state or not hmac.compare_digest(state.encode(), expected) or not code:
            return self._finish(request, ctx, self.pages.error_page("external_failed", ctx.lang, 400))
        ctx.lang = str(pending.get("lang") or ctx.lang)
        redirect_uri = f"{self.server.root(request)}/login/external/callback"
        try:
            identity = await anyio.to_thread.run_sync(
                lambda: idp.exchange(
                    code=code[:2048],
                    redirect_uri=redirect_uri,
                    verifier=str(pending["verifier"]),
                    nonce=str(pending["nonce"]),
                    now_s=ctx.now_ms // 1000,
                )
            )
        except IdpError as error:
            log.warning("external sign-in refused", reason=str(error))
            return self._finish(request, ctx, self.pages.error_page("external_failed", ctx.lang, 400))
        account = await self.api.db.run(lambda s: signed_in_externally(s, identity, ctx.now_ms))
        if account is None:
            return self._finish(request, ctx, self.pages.error_page("external_no_account", ctx.lang, 403))
        await self._open(request, ctx, account)
        params: dict[str, Any] = pending.get("params") or {}
        if params.get("client_id"):
            target = "/oauth/authorize?" + urlencode({**params, "lang": ctx.lang})
        else:
            target = f"/login?lang={ctx.lang}"
        return self._finish(request, ctx, RedirectResponse(target, status_code=303))

    def _started(self, request: Request, now_s: int) -> dict[str, Any] | None:
        claims = read_signed(
            self.api.keys, request.cookies.get(COOKIE, ""), typ=TYP, audience="hygie-external", now_s=now_s,
            max_chars=8192,
        )  # fmt: skip
        return claims if claims is not None and isinstance(claims.get("params"), dict) else None
