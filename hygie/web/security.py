"""Security of the web pages: headers, the CSRF check and form parsing.

- **Content-Security-Policy** without any inline script or style: scripts, styles and images come
  from this server's ``/static`` files only (CSP Level 3, https://www.w3.org/TR/CSP3/); forms post
  to this server only (plus, on the SMART consent page, the app's redirect origin); nothing may
  frame the pages (``frame-ancestors 'none'``, and ``X-Frame-Options: DENY`` from
  :mod:`hygie.api.hardening`, which also sets ``Referrer-Policy: no-referrer``, ``nosniff``…).
- **Cache-Control: no-store** on every page: they carry personal data.
- **CSRF**: every POST form carries the web session's secret (``csrf``, hygie.auth.sessions:
  the synchronizer token pattern of the OWASP CSRF Prevention Cheat Sheet), compared in constant
  time; the session cookie is also ``SameSite=Lax``.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import TypeVar
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

MAX_FORM_BYTES = 64 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
R = TypeVar("R", bound=Response)


def content_security_policy(form_targets: Iterable[str] = ()) -> str:
    targets = " ".join(["'self'", *form_targets])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
        f"connect-src 'self'; form-action {targets}; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    )


def secure_page(response: R, form_targets: Iterable[str] = ()) -> R:
    """The headers every HTML page of the web UI carries."""
    response.headers["Content-Security-Policy"] = content_security_policy(form_targets)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def csrf_ok(sent: str | None, expected: str) -> bool:
    """The form's token is the session's (constant-time comparison of bytes)."""
    if not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


class FormError(ValueError):
    """A form body that cannot be read (wrong type, too large, malformed)."""


class Form:
    """A posted form: :meth:`get` the first value of a field, :meth:`getlist` all of them."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.pairs:
            if key == name:
                return value
        return default

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def __contains__(self, name: object) -> bool:
        return any(key == name for key, _ in self.pairs)


async def read_form(request: Request) -> Form:
    """The ``application/x-www-form-urlencoded`` body (at most 64 KiB, no NUL character)."""
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype != FORM_TYPE:
        raise FormError("not a form")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM_BYTES:
            raise FormError("form too large")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError("malformed form") from exc
    if any("\x00" in key or "\x00" in value for key, value in pairs):
        raise FormError("NUL character")
    return Form(pairs)
