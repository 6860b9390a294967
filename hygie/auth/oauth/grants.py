"""The token endpoint — RFC 6749 §3.2, §4.1.3, §4.4, §6; SMART App Launch 2.2.

https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-access-token and
https://hl7.org/fhir/smart-app-launch/backend-services.html

Client authentication (SMART ``token_endpoint_auth_methods_supported``):
``client_secret_basic`` (confidential symmetric), ``private_key_jwt`` (confidential asymmetric and
backend services, :mod:`hygie.auth.oauth.assertions`), ``none`` (public apps: ``client_id`` only,
PKCE protects the code). ``client_secret_post`` is not offered.

Grants:

- ``authorization_code`` (apps): code + ``redirect_uri`` + PKCE ``code_verifier``.
- ``refresh_token`` (apps): **rotation with reuse detection** (RFC 9700 §4.14.2): every use returns
  a new refresh token and marks the old one used; a used token presented again revokes its whole
  family (all refresh tokens and the access tokens issued with them), since either the client or
  an attacker holds a stolen copy.
- ``client_credentials`` (backend services only): ``system/`` scopes only, access tokens of at
  most **300 s**, no refresh token.

Every function returns an :class:`Outcome` instead of raising, because some refusals must still
commit what they did (a consumed code, a revoked family, a recorded assertion ``jti``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from hygie.auth.oauth.assertions import ASSERTION_TYPE, verify_assertion
from hygie.auth.oauth.clients import Client, find_client
from hygie.auth.oauth.codes import redeem_code
from hygie.auth.oauth.errors import OAuthError
from hygie.auth.oauth.issuing import Issuer, UserGrant, user_tokens
from hygie.auth.oauth.revocation import digest, revoke_family
from hygie.auth.scopes import ScopeError, narrow, parse_scopes
from hygie.auth.tokens import LEEWAY_S, Principal, issue
from hygie.storage.database import Session

BACKEND_TOKEN_MAX_S = 300
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


@dataclass(slots=True)
class Outcome:
    """A token-endpoint answer: a JSON body or an error, plus access-token ids revoked meanwhile
    (to add to the API's in-memory set once committed)."""

    body: dict[str, Any] | None = None
    error: OAuthError | None = None
    revoked: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TokenRequest:
    form: Mapping[str, str]
    authorization: str | None
    assertion_audiences: tuple[str, ...]  # accepted ``aud`` of client assertions


def revoke_until(issuer: Issuer) -> int:
    """Until when a revoked access-token id must be remembered (the longest lifetime + leeway)."""
    return issuer.now_ms + (issuer.access_ttl_s + LEEWAY_S) * 1000


def authenticate_client(session: Session, issuer: Issuer, req: TokenRequest) -> Client | OAuthError:
    """The calling client (RFC 6749 §2.3), or ``invalid_client``."""
    form = req.form
    if "client_secret" in form:
        return OAuthError("invalid_client", "client_secret_post is not supported; use HTTP Basic")
    assertion_type = form.get("client_assertion_type")
    if assertion_type is not None or "client_assertion" in form:
        if assertion_type != ASSERTION_TYPE:
            return OAuthError("invalid_client", f"client_assertion_type must be {ASSERTION_TYPE}")
        client = verify_assertion(
            session, form.get("client_assertion", ""), audiences=req.assertion_audiences, now_s=issuer.now_s
        )
    elif req.authorization and req.authorization[:6].lower() == "basic ":
        client = _basic(session, req.authorization[6:].strip())
    else:
        found = find_client(session, form.get("client_id"))
        if found is None or found.auth_method != "none":
            return OAuthError("invalid_client", "client authentication failed")
        client = found
    if isinstance(client, Client) and form.get("client_id", client.client_id) != client.client_id:
        return OAuthError("invalid_request", "client_id differs from the authenticated client")
    return client


def _basic(session: Session, credentials: str) -> Client | OAuthError:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return OAuthError("invalid_client", "malformed HTTP Basic credentials")
    client_id, sep, secret = decoded.partition(":")
    client = find_client(session, unquote(client_id))
    if not sep or client is None or not client.check_secret(unquote(secret)):
        return OAuthError("invalid_client", "client authentication failed")
    return client


def token(session: Session, issuer: Issuer, req: TokenRequest) -> Outcome:
    """Answer a token request (see the module docstring)."""
    grant_type = req.form.get("grant_type")
    if grant_type not in GRANT_TYPES:
        return Outcome(
            error=OAuthError(
                "unsupported_grant_type", "use authorization_code, refresh_token or client_credentials"
            )
        )
    client = authenticate_client(session, issuer, req)
    if isinstance(client, OAuthError):
        return Outcome(error=client)
    backend = client.kind == "backend"
    if (grant_type == "client_credentials") != backend:
        return Outcome(
            error=OAuthError("unauthorized_client", f"{grant_type} is not allowed for this client")
        )
    if grant_type == "client_credentials":
        return client_credentials(issuer, client, req.form)
    if grant_type == "authorization_code":
        return authorization_code(session, issuer, client, req.form)
    return refresh_token(session, issuer, client, req.form)


def authorization_code(session: Session, issuer: Issuer, client: Client, form: Mapping[str, str]) -> Outcome:
    grant, revoked = redeem_code(
        session,
        form.get("code", ""),
        client_id=client.client_id,
        redirect_uri=form.get("redirect_uri"),
        verifier=form.get("code_verifier"),
        now_ms=issuer.now_ms,
        revoke_until_ms=revoke_until(issuer),
    )
    if isinstance(grant, OAuthError):
        return Outcome(error=grant, revoked=revoked)
    user = UserGrant(
        family=grant.digest,
        client_id=client.client_id,
        account=grant.account,
        scope=grant.scope,
        patient=grant.patient,
        auth_time=grant.auth_time,
        nonce=grant.nonce,
    )
    body = user_tokens(session, issuer, user, rotating=False)
    if body is None:
        return Outcome(error=OAuthError("invalid_grant", "the account is disabled"))
    return Outcome(body=body)


def refresh_token(session: Session, issuer: Issuer, client: Client, form: Mapping[str, str]) -> Outcome:
    presented = form.get("refresh_token", "")
    if not presented or len(presented) > 256:
        return Outcome(error=OAuthError("invalid_request", "refresh_token is required"))
    key = digest(presented)
    row = session.one(
        "SELECT family, client_id, account, scope, patient, auth_time, expires, revoked FROM oauth_refresh"
        " WHERE digest = ?",
        (key,),
    )
    if row is None:
        return Outcome(error=OAuthError("invalid_grant", "unknown refresh token"))
    family, cid, account, scope, patient, auth_time, expires, revoked = row
    if revoked:
        return Outcome(error=OAuthError("invalid_grant", "refresh token revoked"))
    if cid != client.client_id:
        return Outcome(error=OAuthError("invalid_grant", "refresh token issued to another client"))
    claimed = session.execute(
        "UPDATE oauth_refresh SET used = TRUE WHERE digest = ? AND NOT used AND NOT revoked", (key,)
    )
    if not claimed.rowcount:
        ids = revoke_family(session, str(family), until_ms=revoke_until(issuer))
        return Outcome(
            error=OAuthError("invalid_grant", "refresh token already used: its family is revoked"),
            revoked=ids,
        )
    if int(expires) <= issuer.now_ms:
        return Outcome(error=OAuthError("invalid_grant", "refresh token expired"))
    access_scope = None
    if form.get("scope"):
        try:
            asked = parse_scopes(form["scope"])
            kept = narrow(asked, parse_scopes(str(scope)))
        except ScopeError as exc:
            return Outcome(error=OAuthError("invalid_scope", str(exc)))
        if set(kept.text.split()) != set(asked.text.split()):
            return Outcome(error=OAuthError("invalid_scope", "a refresh cannot widen the granted scope"))
        access_scope = kept.text
    user = UserGrant(
        family=str(family),
        client_id=client.client_id,
        account=str(account),
        scope=str(scope),
        patient=patient,
        auth_time=int(auth_time),
        refresh_expires=int(expires),
        access_scope=access_scope,
    )
    body = user_tokens(session, issuer, user, rotating=True)
    if body is None:
        return Outcome(error=OAuthError("invalid_grant", "the account is disabled"))
    return Outcome(body=body)


def client_credentials(issuer: Issuer, client: Client, form: Mapping[str, str]) -> Outcome:
    """A backend service's token: ``system/`` scopes only, ≤ 300 s."""
    try:
        asked = parse_scopes(form.get("scope", ""))
    except ScopeError as exc:
        return Outcome(error=OAuthError("invalid_scope", str(exc)))
    if not asked.grants or asked.contexts() != {"system"} or asked.other:
        return Outcome(error=OAuthError("invalid_scope", "backend services may ask for system/ scopes only"))
    granted = narrow(asked, client.scopes)
    if not granted.grants:
        return Outcome(error=OAuthError("invalid_scope", "none of the requested scopes is registered"))
    ttl = min(BACKEND_TOKEN_MAX_S, issuer.access_ttl_s)
    principal = Principal(kind="system", subject=client.client_id, scopes=granted, client_id=client.client_id)
    access = issue(issuer.keys, principal, audience=issuer.base, now=issuer.now_s, ttl=ttl)
    body = {"access_token": access, "token_type": "Bearer", "expires_in": ttl, "scope": granted.text}
    return Outcome(body=body)
