"""An external OpenID Connect identity provider for professionals (Pro Santé Connect, a hospital IdP).

OpenID Connect Core 1.0, authorization code flow (§3.1,
https://openid.net/specs/openid-connect-core-1_0.html) with PKCE S256 (RFC 7636) and
``client_secret_basic``; the provider's endpoints and keys come from its discovery document
(OpenID Connect Discovery 1.0 §4, ``{issuer}/.well-known/openid-configuration``).

- The ID token is verified here: signature with a key of the provider's JWKS (RS256/RS384/RS512,
  PS256, ES256/ES384 — never ``none`` or HMAC), ``iss`` = the configured issuer, ``aud`` = our
  client id, ``exp`` in the future, ``nonce`` = the one sent (ID Token Validation, §3.1.3.7).
- The provider's ``sub`` must already be linked to a professional account
  (``account.external_subject``, ``hygie user link-external``): nobody gets an account by
  signing in elsewhere. The authentication level the provider reports (``acr``, e.g. ``eidas1``
  for Pro Santé Connect's e-CPS) is recorded in ``account.auth_level`` at each sign-in.
- The provider's own second factor replaces the local TOTP for that sign-in.

Network calls use the standard library (no extra dependency) with a timeout; the discovery
document and the JWKS are cached (the JWKS is fetched again once when a token names an unknown
``kid``: key rotation).
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from hygie.auth.accounts import Account, get_account
from hygie.storage.database import Session

ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
TIMEOUT_S = 10.0
MAX_RESPONSE_BYTES = 1_000_000
LEEWAY_S = 60


class IdpError(Exception):
    """The provider's answer cannot be trusted or used (message for the logs, not the user)."""


@dataclass(frozen=True, slots=True)
class IdpConfig:
    issuer: str
    client_id: str
    client_secret: str
    scope: str = "openid"
    acr_values: str | None = None
    name: str = "Pro Santé Connect"


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    subject: str
    acr: str | None
    auth_time: int | None  # seconds


def http_call(
    method: str, url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
) -> Any:
    """A JSON answer from ``url`` (http(s) only); :class:`IdpError` on any failure."""
    if urlsplit(url).scheme not in ("https", "http"):
        raise IdpError(f"refusing URL scheme of {url[:80]!r}")
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # noqa: S310
            body = answer.read(MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as error:
        raise IdpError(f"{url[:80]} answered {error.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise IdpError(f"{url[:80]} unreachable: {error}") from None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise IdpError(f"{url[:80]} did not answer JSON") from None


class ExternalIdp:
    """One configured provider (metadata and keys cached)."""

    def __init__(self, config: IdpConfig) -> None:
        self.config = config
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            issuer = self.config.issuer.rstrip("/")
            found = http_call("GET", f"{issuer}/.well-known/openid-configuration")
            if not isinstance(found, dict) or found.get("issuer", "").rstrip("/") != issuer:
                raise IdpError("discovery document of another issuer")
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(found.get(name), str):
                    raise IdpError(f"discovery document without {name}")
            self._metadata = found
        return self._metadata

    def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, challenge: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.config.scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if self.config.acr_values:
            params["acr_values"] = self.config.acr_values
        endpoint = str(self.metadata()["authorization_endpoint"])
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"

    def exchange(
        self, *, code: str, redirect_uri: str, verifier: str, nonce: str, now_s: int
    ) -> ExternalIdentity:
        """Redeem ``code`` at the provider and verify the ID token it returns."""
        credentials = f"{_form_escape(self.config.client_id)}:{_form_escape(self.config.client_secret)}"
        headers = {
            "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode(),
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        body = urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            }
        ).encode()
        answer = http_call("POST", str(self.metadata()["token_endpoint"]), data=body, headers=headers)
        id_token = answer.get("id_token") if isinstance(answer, dict) else None
        if not isinstance(id_token, str):
            raise IdpError("token response without id_token")
        return self.verify_id_token(id_token, nonce=nonce, now_s=now_s)

    def verify_id_token(self, id_token: str, *, nonce: str, now_s: int) -> ExternalIdentity:
        claims = self._decode(id_token)
        if str(claims.get("iss", "")).rstrip("/") != self.config.issuer.rstrip("/"):
            raise IdpError("id_token of another issuer")
        aud = claims.get("aud")
        if self.config.client_id not in (aud if isinstance(aud, list) else [aud]):
            raise IdpError("id_token for another client")
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp + LEEWAY_S < now_s:
            raise IdpError("id_token expired")
        if claims.get("nonce") != nonce:
            raise IdpError("id_token nonce mismatch (replay?)")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 255:
            raise IdpError("id_token without sub")
        acr = claims.get("acr")
        auth_time = claims.get("auth_time")
        return ExternalIdentity(
            subject,
            str(acr)[:64] if isinstance(acr, str) else None,
            auth_time if isinstance(auth_time, int) else None,
        )

    def _decode(self, id_token: str) -> dict[str, Any]:
        for refresh in (False, True):
            keys = self._key_set(refresh)
            try:
                return dict(jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS).claims)
            except (JoseError, ValueError, TypeError):
                continue
        raise IdpError("id_token signature does not verify with the provider's keys")

    def _key_set(self, refresh: bool) -> KeySet:
        if self._keys is None or refresh:
            found = http_call("GET", str(self.metadata()["jwks_uri"]))
            try:
                self._keys = KeySet.import_key_set(found)
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise IdpError("unusable JWKS") from exc
        return self._keys


def _form_escape(value: str) -> str:
    """RFC 6749 §2.3.1: client credentials are form-encoded before HTTP Basic."""
    from urllib.parse import quote_plus

    return quote_plus(value)


def link_subject(session: Session, account: Account, subject: str) -> None:
    """Link an account to the provider's ``sub`` (``hygie user link-external``)."""
    session.execute("UPDATE account SET external_subject = ? WHERE id = ?", (subject, account.id))


def signed_in_externally(session: Session, identity: ExternalIdentity, now_ms: int) -> Account | None:
    """The enabled professional account linked to ``identity`` (its ``auth_level`` updated to the
    provider's ``acr``), or None."""
    row = session.one("SELECT id FROM account WHERE external_subject = ?", (identity.subject,))
    account = get_account(session, str(row[0])) if row is not None else None
    if account is None or account.disabled or account.kind != "professional":
        return None
    session.execute(
        "UPDATE account SET auth_level = ?, failed = 0, locked_until = 0, updated = ? WHERE id = ?",
        (identity.acr, now_ms, account.id),
    )
    return get_account(session, account.id)
