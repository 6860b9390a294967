"""HTTP hardening for every response: security headers, request-rate and URL-size limits.

A pure ASGI middleware (no per-request objects beyond the header list), in front of every route:

- **Headers** (OWASP Secure Headers Project, https://owasp.org/www-project-secure-headers/):
  ``Content-Security-Policy`` (nothing may load, be framed or post elsewhere unless the route set
  its own policy — the sign-in pages do), ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: no-referrer``, ``X-Frame-Options: DENY``,
  ``Cross-Origin-Opener-Policy: same-origin``, ``Cross-Origin-Resource-Policy: same-origin`` unless
  CORS opened the origin, ``Permissions-Policy`` denying powerful features,
  ``Cache-Control: no-store`` on anything that did not choose (health data must not sit in shared
  caches; ETags still work), and ``Strict-Transport-Security`` when the request came over HTTPS.
- **CORS** is closed unless ``HYGIE_CORS_ORIGINS`` lists origins (browser SMART apps); that part
  is Starlette's CORSMiddleware, added by the app.
- **Rate limit** per client address (token bucket, ``HYGIE_RATE_LIMIT_PER_SECOND``; 0 turns it
  off): over it, 429 with ``Retry-After``. Sign-in attempts have their own, much stricter limits
  (hygie.auth.accounts).
- **URL size**: a query string longer than ``HYGIE_MAX_URL_BYTES`` is a 414.

Errors are OperationOutcomes like every other error (hygie.errors).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from hygie.auth.throttle import Throttle
from hygie.errors import error_response
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

register(
    {
        "rate_limited_requests": {
            "fr": "Trop de requêtes : réessayez dans {seconds} s.",
            "en": "Too many requests: try again in {seconds} s.",
        },
        "url_too_long": {
            "fr": "Adresse trop longue (plus de {limit} octets de paramètres) : utilisez POST _search.",
            "en": "URL too long (over {limit} bytes of parameters): use POST _search.",
        },
    }
)

DEFAULT_CSP = (
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'"
)
_STATIC_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
]
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class Hardening:
    """The ASGI middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, rate_per_s: float, max_url_bytes: int, cors: bool) -> None:
        self.app = app
        self.max_url_bytes = max_url_bytes
        self.cors = cors
        burst = max(1, int(rate_per_s * 2))
        self.throttle = Throttle(rate_per_s, burst, 100_000) if rate_per_s > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._headers(list(message.get("headers", [])), https)
            await send(message)

        if refusal is not None:
            await refusal(scope, receive, with_headers)
            return
        await self.app(scope, receive, with_headers)

    def _refusal(self, scope: Scope) -> Any:
        if len(scope.get("query_string", b"")) > self.max_url_bytes:
            return error_response(FhirError.of(414, "too-costly", "url_too_long", limit=self.max_url_bytes))
        if self.throttle is not None:
            client = scope.get("client")
            key = client[0] if client else "-"
            now = time.monotonic()
            if not self.throttle.allow(key, now):
                seconds = max(1, math.ceil(self.throttle.retry_after(key, now)))
                error = FhirError.of(429, "throttled", "rate_limited_requests", seconds=seconds)
                response = error_response(error)
                response.headers["Retry-After"] = str(seconds)
                return response
        return None

    def _headers(self, headers: list[tuple[bytes, bytes]], https: bool) -> list[tuple[bytes, bytes]]:
        present = {name.lower() for name, _ in headers}
        out = list(headers)
        if b"content-security-policy" not in present:
            out.append((b"content-security-policy", DEFAULT_CSP.encode()))
        if b"cache-control" not in present:
            out.append((b"cache-control", b"no-store"))
        if not self.cors and b"cross-origin-resource-policy" not in present:
            out.append((b"cross-origin-resource-policy", b"same-origin"))
        out.extend(h for h in _STATIC_HEADERS if h[0] not in present)
        if https:
            out.append(_HSTS)
        return out
