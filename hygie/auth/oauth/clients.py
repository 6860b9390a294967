"""Registered OAuth clients: SMART apps and backend services (table ``oauth_client``).

Kinds (SMART App Launch 2.2, https://hl7.org/fhir/smart-app-launch/client-authentication.html):

- ``public``: an app that cannot keep a secret (browser, mobile); authenticates with nothing but
  its ``client_id`` and PKCE (``token_endpoint_auth_method=none``).
- ``confidential``: a server-side app; either a **secret** (``client_secret_basic``; only the
  SHA-256 digest of 256 random bits is stored — a slow hash adds nothing to a random secret) or a
  **JWK Set** of public keys (``private_key_jwt``, "confidential asymmetric").
- ``backend``: a backend service (SMART Backend Services,
  https://hl7.org/fhir/smart-app-launch/backend-services.html): ``client_credentials`` with a
  ``private_key_jwt`` assertion signed by a key of its registered JWK Set, ``system/`` scopes only,
  no redirect URI.

Registration is by CLI (``hygie client add``). Redirect URIs must be absolute ``https`` URIs
(``http`` only for a loopback host, RFC 8252 §7.3), without a fragment; they are compared
**exactly** at authorization (RFC 9700 §2.1, OAuth 2.0 Security Best Current Practice).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from hygie.auth.scopes import ScopeError, Scopes, parse_scopes
from hygie.storage.database import Session

ClientKind = Literal["public", "confidential", "backend"]
CLIENT_KINDS: tuple[ClientKind, ...] = ("public", "confidential", "backend")
LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
ASSERTION_KEY_TYPES = frozenset({"RSA", "EC"})


class ClientError(ValueError):
    """A registration that is refused (message for the operator)."""


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    name: str
    kind: ClientKind
    secret_digest: str | None
    redirect_uris: tuple[str, ...]
    jwks: dict[str, Any] | None
    scope: str
    disabled: bool = False

    @property
    def scopes(self) -> Scopes:
        return parse_scopes(self.scope)

    @property
    def auth_method(self) -> str:
        """``token_endpoint_auth_method`` (RFC 7591 §2)."""
        if self.jwks is not None:
            return "private_key_jwt"
        return "client_secret_basic" if self.secret_digest else "none"

    def key_set(self) -> KeySet:
        return KeySet.import_key_set(self.jwks or {"keys": []})  # type: ignore[arg-type]

    def check_secret(self, secret: str) -> bool:
        """Constant-time comparison of a presented secret with the stored digest."""
        if not self.secret_digest:
            return False
        return hmac.compare_digest(self.secret_digest, secret_digest(secret))


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_redirect_uri(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment or "#" in uri:
        raise ClientError(f"redirect URI {uri!r}: absolute http(s) URI without fragment expected")
    if parts.scheme == "http" and (parts.hostname or "") not in LOOPBACK:
        raise ClientError(f"redirect URI {uri!r}: http is only allowed for a loopback host; use https")
    return uri


def check_jwks(jwks: Any) -> dict[str, Any]:
    """A public JWK Set of RSA or EC keys (no private parts, no symmetric keys)."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ClientError("JWKS: a JSON object with a non-empty 'keys' array expected")
    for key in jwks["keys"]:
        if not isinstance(key, dict) or key.get("kty") not in ASSERTION_KEY_TYPES:
            raise ClientError("JWKS: only RSA and EC public keys are accepted")
        if "d" in key:
            raise ClientError("JWKS: private key material found; register the PUBLIC keys only")
    try:
        KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError) as exc:
        raise ClientError(f"JWKS: {exc}") from None
    return jwks


def register_client(
    session: Session,
    *,
    name: str,
    kind: ClientKind,
    redirect_uris: Sequence[str],
    scope: str,
    now_ms: int,
    jwks: dict[str, Any] | None = None,
) -> tuple[Client, str | None]:
    """Register a client; returns it and, for a confidential client without JWKS, its secret
    (shown once, never stored in clear)."""
    if kind not in CLIENT_KINDS:
        raise ClientError(f"kind must be one of {CLIENT_KINDS}")
    if not name.strip() or len(name) > 200:
        raise ClientError("a name of 1 to 200 characters is required")
    try:
        scopes = parse_scopes(scope)
    except ScopeError as exc:
        raise ClientError(f"scope: {exc}") from None
    contexts = scopes.contexts()
    uris = tuple(check_redirect_uri(u) for u in redirect_uris)
    if kind == "backend":
        if uris:
            raise ClientError("backend services have no redirect URI")
        if jwks is None:
            raise ClientError("backend services need --jwks (their public keys)")
        if not scopes.grants or contexts != {"system"}:
            raise ClientError("backend services get system/ scopes only")
    else:
        if not uris:
            raise ClientError("apps need at least one --redirect-uri")
        if "system" in contexts:
            raise ClientError("system/ scopes are for backend services only")
        if kind == "public" and jwks is not None:
            raise ClientError("public apps have no keys; register a confidential client instead")
    keys = check_jwks(jwks) if jwks is not None else None
    secret = secrets.token_urlsafe(32) if kind == "confidential" and keys is None else None
    client = Client(
        client_id=secrets.token_urlsafe(12),
        name=name.strip(),
        kind=kind,
        secret_digest=secret_digest(secret) if secret else None,
        redirect_uris=uris,
        jwks=keys,
        scope=scopes.text,
    )
    session.execute(
        "INSERT INTO oauth_client (client_id, name, kind, secret_digest, redirect_uris, jwks, scope, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            client.client_id,
            client.name,
            client.kind,
            client.secret_digest,
            orjson.dumps(list(uris)).decode(),
            orjson.dumps(keys).decode() if keys is not None else None,
            client.scope,
            now_ms,
        ),
    )
    return client, secret


_COLUMNS = "client_id, name, kind, secret_digest, redirect_uris, jwks, scope, disabled"


def _client(row: Sequence[Any]) -> Client:
    cid, name, kind, digest, uris, jwks, scope, disabled = row
    return Client(
        str(cid),
        str(name),
        kind,
        digest,
        tuple(orjson.loads(uris)),
        orjson.loads(jwks) if jwks else None,
        str(scope),
        bool(disabled),
    )


def find_client(session: Session, client_id: str | None) -> Client | None:
    """An enabled client by id (None when unknown or disabled)."""
    if not client_id or len(client_id) > 200:
        return None
    row = session.one(f"SELECT {_COLUMNS} FROM oauth_client WHERE client_id = ?", (client_id,))
    if row is None:
        return None
    client = _client(row)
    return None if client.disabled else client


def list_clients(session: Session) -> list[Client]:
    return [_client(r) for r in session.all(f"SELECT {_COLUMNS} FROM oauth_client ORDER BY name, client_id")]
