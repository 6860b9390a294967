"""``private_key_jwt`` client authentication — SMART Backend Services and RFC 7523.

https://hl7.org/fhir/smart-app-launch/backend-services.html#request-access-token and
https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html. The client signs a JWT
with a private key whose public half is registered (``hygie client add … --jwks FILE``):

- ``client_assertion_type`` = ``urn:ietf:params:oauth:client-assertion-type:jwt-bearer``;
- header ``alg`` **RS384 or ES384** only (the two SMART requires; anything else — RS256, HS256,
  ``none`` — is refused before any key is touched, so a public key can never be used as an HMAC
  secret);
- ``iss`` = ``sub`` = the ``client_id``; ``aud`` = this server's token endpoint URL;
- ``exp`` in the future and **at most 5 minutes** ahead;
- ``jti`` never seen before for this client: it is recorded in ``oauth_jti`` until the assertion
  expires (then purged), so a captured assertion cannot be replayed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson
from joserfc import jws, jwt
from joserfc.errors import JoseError

from hygie.auth.oauth.clients import Client, find_client
from hygie.auth.oauth.errors import OAuthError
from hygie.storage.database import Session

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
MAX_AHEAD_S = 300
LEEWAY_S = 30
MAX_ASSERTION_CHARS = 16_384


def _refuse(description: str) -> OAuthError:
    return OAuthError("invalid_client", description)


def _unverified(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    obj = jws.extract_compact(assertion.encode("ascii"))
    claims = orjson.loads(obj.payload)
    if not isinstance(claims, dict):
        raise ValueError("claims are not an object")
    return dict(obj.headers()), claims


def _signed_by(assertion: str, client: Client, alg: str, kid: Any) -> bool:
    """True if one registered key of the algorithm's type (the one named by ``kid``, when the
    header names one) verifies the signature."""
    kty = "RSA" if alg.startswith("RS") else "EC"
    for key in client.key_set().keys:
        if key.key_type != kty or (kid is not None and key.kid != kid):
            continue
        try:
            jwt.decode(assertion, key, algorithms=[alg])
        except (JoseError, ValueError, TypeError):
            continue
        return True
    return False


def verify_assertion(
    session: Session, assertion: str, *, audiences: Collection[str], now_s: int
) -> Client | OAuthError:
    """The client a valid assertion authenticates (its ``jti`` is then recorded), or the error."""
    if not assertion or len(assertion) > MAX_ASSERTION_CHARS or assertion.count(".") != 2:
        return _refuse("malformed client_assertion")
    try:
        header, claims = _unverified(assertion)
    except (JoseError, ValueError, TypeError, UnicodeError):
        return _refuse("malformed client_assertion")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        return _refuse("client_assertion alg must be RS384 or ES384")
    iss, sub = claims.get("iss"), claims.get("sub")
    client = find_client(session, iss if isinstance(iss, str) else None)
    if client is None or client.jwks is None:
        return _refuse("unknown client or no registered keys")
    if not _signed_by(assertion, client, str(alg), header.get("kid")):
        return _refuse("client_assertion signature does not verify with the registered keys")
    if sub != iss:
        return _refuse("client_assertion iss and sub must both be the client_id")
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if not any(a in audiences for a in auds):
        return _refuse("client_assertion aud must be the token endpoint URL")
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        return _refuse("client_assertion exp missing")
    if exp + LEEWAY_S < now_s:
        return _refuse("client_assertion expired")
    if exp > now_s + MAX_AHEAD_S:
        return _refuse("client_assertion exp is more than 5 minutes ahead")
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if value is not None and (not isinstance(value, int) or value > now_s + LEEWAY_S):
            return _refuse(f"client_assertion {name} is in the future")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 1 <= len(jti) <= 256:
        return _refuse("client_assertion jti missing")
    session.execute("DELETE FROM oauth_jti WHERE expires < ?", (now_s * 1000,))
    fresh = session.execute(
        "INSERT INTO oauth_jti (client_id, jti, expires) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (client.client_id, jti, (exp + LEEWAY_S) * 1000),
    )
    if not fresh.rowcount:
        return _refuse("client_assertion jti already used (replay)")
    return client
