"""Token introspection (RFC 7662) and revocation (RFC 7009).

https://www.rfc-editor.org/rfc/rfc7662 and https://www.rfc-editor.org/rfc/rfc7009

**Who may introspect** (RFC 7662 §2.1 leaves it to the server; Hygie's choice):

- an authenticated **confidential or backend client** (``client_secret_basic`` or
  ``private_key_jwt``) — a resource server or an app's back end — may introspect any access
  token, and the refresh tokens issued to itself;
- **anyone holding an access token** may introspect that same token by also presenting it as
  ``Authorization: Bearer`` (a public app learning its own token's scope and expiry reveals
  nothing it does not already hold).

Anything else is refused with ``invalid_client`` (401), so the endpoint cannot be used to probe
tokens. An inactive, unknown, expired or revoked token answers ``{"active": false}`` and nothing
more (§2.2).

**Revocation** needs client authentication (public apps send their ``client_id``), and a token
issued to the caller (else ``unauthorized_client``, RFC 7009 §2.1):

- a refresh token → its whole family (every refresh token and the access tokens issued with them);
- an access token → its ``jti`` joins ``revoked_token`` and the API's in-memory set, so the very
  next FHIR request with it is refused (401).

Unknown or already invalid tokens answer 200 (§2.2). Refresh tokens and JWT access tokens are
told apart by shape (a JWT has two dots; refresh tokens are base64url), whatever
``token_type_hint`` says (§2.1 allows ignoring it).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from hygie.auth.oauth.clients import Client
from hygie.auth.oauth.errors import OAuthError
from hygie.auth.oauth.grants import Outcome
from hygie.auth.oauth.issuing import Issuer
from hygie.auth.oauth.revocation import digest, revoke_family, revoke_jtis
from hygie.auth.tokens import LEEWAY_S, Principal, TokenError, verify
from hygie.storage.database import Session

INACTIVE: dict[str, Any] = {"active": False}


def _is_jwt(token: str) -> bool:
    return token.count(".") == 2


def _access(issuer: Issuer, token: str, revoked: Collection[str]) -> Principal | None:
    try:
        return verify(
            issuer.keys,
            token,
            audiences=(issuer.keys.instance, issuer.base),
            now=issuer.now_s,
            revoked=revoked,
        )
    except TokenError:
        return None


def introspect(
    session: Session,
    issuer: Issuer,
    caller: Client | None,
    bearer: str | None,
    form: Mapping[str, str],
    revoked: Collection[str],
) -> Outcome:
    """Answer an introspection request (see the module docstring for who may ask)."""
    token = form.get("token", "")
    if not token:
        return Outcome(error=OAuthError("invalid_request", "token is required"))
    trusted = caller is not None and caller.auth_method != "none"
    if not trusted and not (bearer and bearer == token):
        return Outcome(
            error=OAuthError(
                "invalid_client",
                "authenticate as a confidential client, or present the token itself as Bearer",
            )
        )
    if not _is_jwt(token):
        if caller is None or len(token) > 256:
            return Outcome(body=INACTIVE)
        return Outcome(body=_refresh_state(session, issuer, caller, token))
    principal = _access(issuer, token, revoked)
    if principal is None:
        return Outcome(body=INACTIVE)
    body: dict[str, Any] = {
        "active": True,
        "scope": principal.scopes.text,
        "client_id": principal.client_id,
        "sub": principal.subject,
        "exp": principal.expires,
        "iss": issuer.keys.instance,
        "token_type": "Bearer",
        "jti": principal.token_id,
    }
    optional = {"patient": principal.launch_patient, "fhirUser": principal.fhir_user}
    body.update({k: v for k, v in optional.items() if v})
    return Outcome(body={k: v for k, v in body.items() if v is not None})


def _refresh_state(session: Session, issuer: Issuer, caller: Client, token: str) -> dict[str, Any]:
    row = session.one(
        "SELECT client_id, account, scope, patient, expires, used, revoked FROM oauth_refresh"
        " WHERE digest = ?",
        (digest(token),),
    )
    if row is None:
        return INACTIVE
    cid, account, scope, patient, expires, used, revoked = row
    if cid != caller.client_id or used or revoked or int(expires) <= issuer.now_ms:
        return INACTIVE
    body = {"active": True, "scope": scope, "client_id": cid, "sub": account, "exp": int(expires) // 1000}
    if patient:
        body["patient"] = patient
    return body


def revoke(
    session: Session, issuer: Issuer, client: Client, form: Mapping[str, str], revoked: Collection[str]
) -> Outcome:
    """Answer a revocation request (see the module docstring)."""
    token = form.get("token", "")
    if not token:
        return Outcome(error=OAuthError("invalid_request", "token is required"))
    until = issuer.now_ms + (issuer.access_ttl_s + LEEWAY_S) * 1000
    if not _is_jwt(token):
        row = session.one("SELECT family, client_id FROM oauth_refresh WHERE digest = ?", (digest(token),))
        if row is None:
            return Outcome(body={})
        if row[1] != client.client_id:
            return Outcome(error=OAuthError("unauthorized_client", "this token was not issued to you"))
        return Outcome(body={}, revoked=revoke_family(session, str(row[0]), until_ms=until))
    principal = _access(issuer, token, revoked)
    if principal is None or principal.token_id is None:
        return Outcome(body={})
    if principal.client_id != client.client_id:
        return Outcome(error=OAuthError("unauthorized_client", "this token was not issued to you"))
    expires = ((principal.expires or issuer.now_s) + LEEWAY_S) * 1000
    return Outcome(body={}, revoked=revoke_jtis(session, [principal.token_id], expires))
