"""Authorization codes with PKCE — RFC 6749 §4.1, RFC 7636, SMART App Launch 2.2.

https://www.rfc-editor.org/rfc/rfc7636 and
https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-authorization-code

- A code is 256 random bits, valid **60 seconds**, usable **once**; only its SHA-256 digest is
  stored (table ``oauth_code``), with the client, the account, the granted (narrowed) scope, the
  exact redirect URI, the PKCE challenge, the launch patient and the OpenID ``nonce``.
- PKCE: **S256 only** (SMART 2.2 requires S256 and forbids ``plain``): the token request must send
  the ``code_verifier`` whose BASE64URL(SHA-256) is the registered challenge (RFC 7636 §4.6).
- Redemption marks the code used in the same statement that checks it was not (so two
  concurrent redemptions cannot both win). A code presented again revokes every token issued
  from it (RFC 6749 §4.1.2; see :mod:`hygie.auth.oauth.revocation`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from hygie.auth.oauth.errors import OAuthError
from hygie.auth.oauth.revocation import digest, revoke_family
from hygie.storage.database import Session

CODE_TTL_MS = 60_000
VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 §4.1
CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")  # BASE64URL of 32 bytes, no padding


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """What a redeemed code carries to the token response."""

    digest: str
    client_id: str
    account: str
    scope: str
    patient: str | None
    nonce: str | None
    auth_time: int  # ms


def s256(verifier: str) -> str:
    """BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) — RFC 7636 §4.2."""
    raw = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def issue_code(
    session: Session,
    *,
    client_id: str,
    account: str,
    scope: str,
    redirect_uri: str,
    challenge: str,
    patient: str | None,
    nonce: str | None,
    auth_time: int,
    now_ms: int,
) -> str:
    """A new single-use code (the clear value goes to the client, only its digest is kept)."""
    code = secrets.token_urlsafe(32)
    session.execute(
        "INSERT INTO oauth_code (digest, client_id, account, scope, redirect_uri, challenge, patient,"
        " auth_time, expires, nonce) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            digest(code),
            client_id,
            account,
            scope,
            redirect_uri,
            challenge,
            patient,
            auth_time,
            now_ms + CODE_TTL_MS,
            nonce,
        ),
    )
    return code


def redeem_code(
    session: Session,
    code: str,
    *,
    client_id: str,
    redirect_uri: str | None,
    verifier: str | None,
    now_ms: int,
    revoke_until_ms: int,
) -> tuple[CodeGrant | OAuthError, list[str]]:
    """Check and consume a code; returns the grant (or the error) and the access-token ids revoked
    because the code was presented a second time."""
    if not code or len(code) > 256:
        return OAuthError("invalid_grant", "unknown authorization code"), []
    key = digest(code)
    row = session.one(
        "SELECT client_id, account, scope, redirect_uri, challenge, patient, auth_time, expires, used, nonce"
        " FROM oauth_code WHERE digest = ?",
        (key,),
    )
    if row is None:
        return OAuthError("invalid_grant", "unknown authorization code"), []
    cid, account, scope, uri, challenge, patient, auth_time, expires, _used, nonce = row
    claimed = session.execute("UPDATE oauth_code SET used = TRUE WHERE digest = ? AND NOT used", (key,))
    if not claimed.rowcount:
        revoked = revoke_family(session, key, until_ms=revoke_until_ms)
        return OAuthError("invalid_grant", "authorization code already used: its tokens are revoked"), revoked
    if int(expires) <= now_ms:
        return OAuthError("invalid_grant", "authorization code expired"), []
    if cid != client_id:
        return OAuthError("invalid_grant", "authorization code issued to another client"), []
    if redirect_uri != uri:
        return OAuthError("invalid_grant", "redirect_uri differs from the authorization request"), []
    if not verifier or not VERIFIER.fullmatch(verifier):
        return OAuthError("invalid_grant", "code_verifier missing or malformed (RFC 7636 §4.1)"), []
    if not hmac.compare_digest(s256(verifier), str(challenge)):
        return OAuthError("invalid_grant", "code_verifier does not match the code_challenge"), []
    grant = CodeGrant(key, str(cid), str(account), str(scope), patient, nonce, int(auth_time))
    return grant, []
