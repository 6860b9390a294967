"""Routes of the authorization server and sign-in pages (mounted by :func:`hygie.app.create_app`).

Public contracts (docs/smart.md): ``/.well-known/smart-configuration`` and
``/fhir/.well-known/smart-configuration``, endpoints under ``/oauth/``, the sign-in page at
``/login``. The ``/fhir/.well-known/…`` routes must come before the FHIR catch-all route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hygie.api.external_login import ExternalLogin
from hygie.api.login_pages import PLAIN, LoginPages
from hygie.api.oauth import OAuthServer
from hygie.api.signin import SignIn

Endpoint = Callable[[Request], Awaitable[Response]]


def auth_routes(server: Callable[[], OAuthServer], login_pages: LoginPages = PLAIN) -> list[Route]:
    """The routes, resolving the server (created at start-up) on each request; the sign-in flow
    renders ``login_pages`` (the web UI's, when the app mounts it)."""

    def bind(name: str, *, pages: type[SignIn] | None = None) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            target: object = pages(server(), login_pages) if pages is not None else server()
            method: Endpoint = getattr(target, name)
            return await method(request)

        return endpoint

    smart = bind("smart_configuration")
    return [
        Route("/.well-known/smart-configuration", smart, methods=["GET"]),
        Route("/fhir/.well-known/smart-configuration", smart, methods=["GET"]),
        Route("/fhir/.well-known/openid-configuration", bind("openid_configuration"), methods=["GET"]),
        Route("/oauth/jwks", bind("jwks"), methods=["GET"]),
        Route("/oauth/token", bind("token"), methods=["POST"]),
        Route("/oauth/introspect", bind("introspect"), methods=["POST"]),
        Route("/oauth/revoke", bind("revoke"), methods=["POST"]),
        Route("/oauth/authorize", bind("authorize", pages=SignIn), methods=["GET", "POST"]),
        Route("/login", bind("login", pages=SignIn), methods=["GET", "POST"]),
        Route("/logout", bind("logout", pages=SignIn), methods=["GET", "POST"]),
        Route("/login/external", bind("start", pages=ExternalLogin), methods=["GET"]),
        Route("/login/external/callback", bind("callback", pages=ExternalLogin), methods=["GET"]),
    ]
