"""Migration 8: the OpenID Connect ``nonce`` of an authorization request, kept with its code.

OpenID Connect Core §3.1.2.1/§3.1.3.6 (https://openid.net/specs/openid-connect-core-1_0.html):
when the authorization request carries a ``nonce``, the ID token issued for its code must echo it.
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgresql"]

OAUTH_NONCE_MIGRATION: dict[Dialect, list[str]] = {
    "sqlite": ["ALTER TABLE oauth_code ADD COLUMN nonce TEXT"],
    "postgresql": ["ALTER TABLE oauth_code ADD COLUMN nonce TEXT"],
}
