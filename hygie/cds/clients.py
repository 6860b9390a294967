"""CDS clients (EHRs calling the CDS Hooks service) and the JWTs they authenticate with.

CDS Hooks 2.0, "Trusting CDS Clients" (https://cds-hooks.hl7.org/2.0/#trusting-cds-clients):
each request carries ``Authorization: Bearer <JWT>`` signed by the client. Keys are registered by
the operator (``hygie cds-client add NAME --jwks FILE [--issuer ISS]``, table ``cds_client``);
they are never fetched from the network, so a ``jku`` header is not followed (the registered keys
are the only ones trusted). A JWT is accepted when:

- the header ``alg`` is **ES384 or RS384** (anything else — ``none``, HS256, RS256 — is refused
  before a key is touched) and names a ``kid``;
- ``iss`` is the issuer of a registered client and a key of that client with that ``kid``
  verifies the signature;
- ``aud`` (a string or an array) contains the URL of the endpoint being called
  (``{base}/cds-services/{id}``);
- ``exp`` is not past and at most **5 minutes** ahead, ``iat`` is not in the future, both within
  ``CLOCK_SKEW_S`` seconds of tolerance for clocks that drift;
- ``jti`` was never seen from that issuer: it is kept in ``cds_jti`` until the JWT expires, so a
  captured JWT cannot be replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from hygie.auth.oauth.clients import ClientError, check_jwks
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError, Issue
from hygie.storage.database import Session

ALGORITHMS = ("ES384", "RS384")
MAX_AHEAD_S = 300  # exp at most 5 minutes after now (CDS Hooks 2.0)
CLOCK_SKEW_S = 60  # tolerance for the clocks of clients and server
MAX_JWT_CHARS = 16_384
MAX_NAME_CHARS = 200

register(
    {
        "cds_jwt_required": {
            "fr": "Authentification requise : présentez un JWT de client CDS (Authorization: Bearer).",
            "en": "Authentication required: present a CDS client JWT (Authorization: Bearer).",
        },
        "cds_jwt_invalid": {
            "fr": "JWT de client CDS refusé : {reason}.",
            "en": "CDS client JWT refused: {reason}.",
        },
    }
)


class CdsClientError(ValueError):
    """A registration that is refused (message for the operator)."""


@dataclass(frozen=True, slots=True)
class CdsClient:
    """A registered CDS client: its name, the ``iss`` of its JWTs and its public keys."""

    name: str
    issuer: str
    jwks: dict[str, Any]
    created_ms: int

    def key_set(self) -> KeySet:
        return KeySet.import_key_set(self.jwks)  # type: ignore[arg-type]


def _row(row: tuple[Any, ...]) -> CdsClient:
    return CdsClient(str(row[0]), str(row[1]), orjson.loads(row[2]), int(row[3]))


def add_client(
    session: Session, name: str, jwks: Any, *, issuer: str | None = None, now_ms: int
) -> CdsClient:
    """Register a client (its ``iss`` defaults to its name)."""
    name = name.strip()
    issuer = (issuer if issuer is not None else name).strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise CdsClientError(f"a name of 1 to {MAX_NAME_CHARS} characters is required")
    if not issuer or len(issuer) > 2000:
        raise CdsClientError("the issuer must be 1 to 2000 characters")
    try:
        keys = check_jwks(jwks)
    except ClientError as exc:
        raise CdsClientError(str(exc)) from None
    if any(not isinstance(k.get("kid"), str) or not k["kid"] for k in keys["keys"]):
        raise CdsClientError("JWKS: every key needs a 'kid' (CDS Hooks JWTs name their key)")
    if session.one("SELECT 1 FROM cds_client WHERE name = ?", (name,)) is not None:
        raise CdsClientError(f"a CDS client named {name!r} exists already (remove it first)")
    if session.one("SELECT 1 FROM cds_client WHERE issuer = ?", (issuer,)) is not None:
        raise CdsClientError(f"another CDS client has the issuer {issuer!r}")
    session.execute(
        "INSERT INTO cds_client (name, issuer, jwks, created) VALUES (?, ?, ?, ?)",
        (name, issuer, orjson.dumps(keys).decode(), now_ms),
    )
    return CdsClient(name, issuer, keys, now_ms)


def list_clients(session: Session) -> list[CdsClient]:
    rows = session.all("SELECT name, issuer, jwks, created FROM cds_client ORDER BY name")
    return [_row(r) for r in rows]


def remove_client(session: Session, name: str) -> bool:
    """Forget a client (its JWTs are refused from now on); False if there was none."""
    found = session.one("SELECT issuer FROM cds_client WHERE name = ?", (name,))
    if found is None:
        return False
    session.execute("DELETE FROM cds_jti WHERE issuer = ?", (found[0],))
    session.execute("DELETE FROM cds_client WHERE name = ?", (name,))
    return True


def find_by_issuer(session: Session, issuer: str) -> CdsClient | None:
    row = session.one("SELECT name, issuer, jwks, created FROM cds_client WHERE issuer = ?", (issuer,))
    return _row(row) if row is not None else None


def refuse(reason: str) -> FhirError:
    """401 with a Bearer challenge (RFC 6750 §3) naming why the JWT was refused."""
    challenge = f'Bearer realm="hygie-cds", error="invalid_token", error_description="{reason}"'
    return FhirError(
        401, Issue("login", "cds_jwt_invalid", {"reason": reason}), headers={"WWW-Authenticate": challenge}
    )


def bearer(header: str | None) -> str:
    """The JWT of an ``Authorization: Bearer`` header (401 when absent or malformed)."""
    if not header:
        challenge = 'Bearer realm="hygie-cds"'
        raise FhirError(401, Issue("login", "cds_jwt_required", {}), headers={"WWW-Authenticate": challenge})
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise refuse("malformed authorization header")
    if len(token) > MAX_JWT_CHARS or token.count(".") != 2:
        raise refuse("malformed JWT")
    return token


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        obj = jws.extract_compact(token.encode("ascii"))
        claims = orjson.loads(obj.payload)
        headers = dict(obj.headers())
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise refuse("malformed JWT") from None
    if not isinstance(claims, dict):
        raise refuse("malformed JWT")
    return headers, claims


def _signed_by(token: str, client: CdsClient, alg: str, kid: str) -> bool:
    kty = "RSA" if alg.startswith("RS") else "EC"
    for key in client.key_set().keys:
        if key.key_type != kty or key.kid != kid:
            continue
        try:
            jwt.decode(token, key, algorithms=[alg])
        except (JoseError, ValueError, TypeError):
            continue
        return True
    return False


def _integer(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise refuse(f"{name} missing or not a number")
    return value


def _check_claims(claims: dict[str, Any], audiences: tuple[str, ...], now_s: int) -> tuple[str, int]:
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(a, str) and a.rstrip("/") in audiences for a in auds):
        raise refuse(f"aud must be the URL of the CDS Service called ({audiences[0]})")
    exp, iat = _integer(claims, "exp"), _integer(claims, "iat")
    if exp + CLOCK_SKEW_S < now_s:
        raise refuse("JWT expired")
    if exp > now_s + MAX_AHEAD_S + CLOCK_SKEW_S:
        raise refuse("exp is more than 5 minutes ahead")
    if iat > now_s + CLOCK_SKEW_S:
        raise refuse("iat is in the future")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 1 <= len(jti) <= 256:
        raise refuse("jti missing")
    return jti, exp


def verify_jwt(session: Session, header: str | None, *, audiences: tuple[str, ...], now_s: int) -> CdsClient:
    """The registered client a request's JWT authenticates (its ``jti`` is then recorded);
    401 otherwise. ``audiences``: the endpoint's URL(s), without trailing slash, first the one
    to name in errors."""
    token = bearer(header)
    headers, claims = _unverified(token)
    alg, kid = headers.get("alg"), headers.get("kid")
    if alg not in ALGORITHMS:
        raise refuse("alg must be ES384 or RS384")
    if not isinstance(kid, str) or not kid:
        raise refuse("kid missing from the JWT header")
    iss = claims.get("iss")
    client = find_by_issuer(session, iss) if isinstance(iss, str) and iss else None
    if client is None:
        raise refuse("unknown issuer (no CDS client registered with this iss)")
    if not _signed_by(token, client, str(alg), kid):
        raise refuse("signature does not verify with the registered keys")
    jti, exp = _check_claims(claims, audiences, now_s)
    session.execute("DELETE FROM cds_jti WHERE expires < ?", (now_s * 1000,))
    fresh = session.execute(
        "INSERT INTO cds_jti (issuer, jti, expires) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (client.issuer, jti, (exp + CLOCK_SKEW_S) * 1000),
    )
    if not fresh.rowcount:
        raise refuse("jti already used (replay)")
    return client
