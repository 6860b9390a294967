"""Token responses for people's apps: access token, refresh token, OpenID Connect ID token.

- The **access token** is the server's ES256 JWT (:mod:`hygie.auth.tokens`, RFC 9068 profile) for a
  principal built from the account: ``kind``, ``sub`` = account id, ``fhirUser``, the
  professional's organisation, the patients a patient account acts for
  (:func:`hygie.auth.accounts.patients_of`), the launch patient and ``auth_time``. Its ``jti`` is
  derived from the code or refresh token it was issued for (:mod:`hygie.auth.oauth.revocation`).
- A **refresh token** is issued when ``offline_access`` (lives ``refresh_token_days``) or
  ``online_access`` (lives until the strong session that authorised it ends) was granted. It is
  rotated at every use (:mod:`hygie.auth.oauth.grants`).
- The **ID token** (OpenID Connect Core §2, https://openid.net/specs/openid-connect-core-1_0.html)
  is issued when ``openid`` was granted: ES256, ``iss`` = the FHIR base URL (the ``issuer`` of the
  SMART configuration), ``aud`` = the client, ``auth_time``, ``nonce`` when the request had one,
  and ``fhirUser`` (absolute URL of the user's Patient or Practitioner) when ``fhirUser`` was
  granted (SMART App Launch 2.2 "Scopes for requesting identity data").
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

from joserfc import jwt

from hygie.auth.accounts import Account, get_account, patients_of
from hygie.auth.keys import Keys
from hygie.auth.oauth.revocation import access_jti, digest
from hygie.auth.scopes import Scopes, parse_scopes
from hygie.auth.tokens import Principal, issue
from hygie.storage.database import Session

ID_TOKEN_TTL_S = 3600


@dataclass(frozen=True, slots=True)
class Issuer:
    """What a token response needs to know about this server and this request."""

    keys: Keys
    base: str  # the FHIR base URL: audience of access tokens, issuer of ID tokens
    now_ms: int
    access_ttl_s: int
    refresh_ttl_s: int
    strong_hours: float

    @property
    def now_s(self) -> int:
        return self.now_ms // 1000


@dataclass(frozen=True, slots=True)
class UserGrant:
    """A grant to an app acting for a signed-in account (from a code or a refresh token)."""

    family: str
    client_id: str
    account: str
    scope: str
    patient: str | None
    auth_time: int  # ms
    nonce: str | None = None
    refresh_expires: int | None = None  # ms: keep the family's end when rotating
    access_scope: str | None = None  # a narrower scope asked for at refresh (RFC 6749 §6)


def account_principal(
    session: Session,
    account: Account,
    scopes: Scopes,
    *,
    client_id: str,
    patient: str | None,
    auth_time_s: int,
) -> Principal:
    """The principal of tokens issued to ``client_id`` for ``account``."""
    return Principal(
        kind=account.kind,
        subject=account.id,
        scopes=scopes,
        client_id=client_id,
        fhir_user=account.fhir_user,
        organization=account.organization if account.kind == "professional" else None,
        patients=patients_of(session, account),
        launch_patient=patient,
        auth_time=auth_time_s,
    )


def user_tokens(
    session: Session, issuer: Issuer, grant: UserGrant, *, rotating: bool
) -> dict[str, Any] | None:
    """The token response for ``grant`` (None when the account is gone or disabled).

    The access token's id is derived from the code (the family id) for a first response, from
    the new refresh token when ``rotating`` one (:mod:`hygie.auth.oauth.revocation`)."""
    account = get_account(session, grant.account)
    if account is None or account.disabled:
        return None
    scopes = parse_scopes(grant.access_scope or grant.scope)
    principal = account_principal(
        session,
        account,
        scopes,
        client_id=grant.client_id,
        patient=grant.patient,
        auth_time_s=grant.auth_time // 1000,
    )
    refresh = _refresh_token(session, issuer, grant, parse_scopes(grant.scope))
    source = refresh[1] if rotating and refresh is not None else grant.family
    principal = replace(principal, token_id=access_jti(source))
    body: dict[str, Any] = {
        "access_token": issue(
            issuer.keys, principal, audience=issuer.base, now=issuer.now_s, ttl=issuer.access_ttl_s
        ),
        "token_type": "Bearer",
        "expires_in": issuer.access_ttl_s,
        "scope": scopes.text,
    }
    if grant.patient:
        body["patient"] = grant.patient
        body["need_patient_banner"] = True
    if refresh is not None:
        body["refresh_token"] = refresh[0]
    if scopes.has("openid"):
        body["id_token"] = id_token(issuer, account, scopes, grant)
    return body


def _refresh_token(
    session: Session, issuer: Issuer, grant: UserGrant, scopes: Scopes
) -> tuple[str, str] | None:
    """A new refresh token of the grant's family and its digest (None when none is due)."""
    if grant.refresh_expires is not None:
        expires = grant.refresh_expires
    elif scopes.has("offline_access"):
        expires = issuer.now_ms + issuer.refresh_ttl_s * 1000
    elif scopes.has("online_access"):
        expires = grant.auth_time + int(issuer.strong_hours * 3_600_000)
    else:
        return None
    if expires <= issuer.now_ms:
        return None
    token = secrets.token_urlsafe(32)
    key = digest(token)
    session.execute(
        "INSERT INTO oauth_refresh (digest, family, client_id, account, scope, patient, auth_time, expires)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            key,
            grant.family,
            grant.client_id,
            grant.account,
            grant.scope,
            grant.patient,
            grant.auth_time,
            expires,
        ),
    )
    return token, key


def id_token(issuer: Issuer, account: Account, scopes: Scopes, grant: UserGrant) -> str:
    """An OpenID Connect ID token for ``account`` (see the module docstring)."""
    claims: dict[str, Any] = {
        "iss": issuer.base,
        "sub": account.id,
        "aud": grant.client_id,
        "iat": issuer.now_s,
        "exp": issuer.now_s + ID_TOKEN_TTL_S,
        "auth_time": grant.auth_time // 1000,
    }
    if grant.nonce:
        claims["nonce"] = grant.nonce
    if scopes.has("fhirUser") and account.fhir_user:
        claims["fhirUser"] = f"{issuer.base}/{account.fhir_user}"
    if scopes.has("profile"):
        claims["name"] = account.display
    header = {"alg": "ES256", "typ": "JWT", "kid": issuer.keys.kid}
    return jwt.encode(header, claims, issuer.keys.signing)
