"""Access tokens: signed JWTs (RFC 9068 profile, ES256) and the :class:`Principal` they carry.

A token is checked without a database round trip — signature, ``iss``, ``aud``, ``exp``/``nbf``
(30 s leeway), then the revoked-id set held in memory (``revoked_token`` rows, loaded at start and
updated on revocation). The claims say who the caller is (``sub``, ``kind``, ``fhirUser``, the
organisation of a professional, the patients a patient account may act for) and what they may do
(``scope``, the launch context ``patient``); the access policy (:mod:`hygie.auth.policy`) turns
that into SQL conditions.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from hygie.auth.keys import Keys
from hygie.auth.scopes import ScopeError, Scopes, parse_scopes

Kind = Literal["system", "professional", "patient", "admin"]
KINDS: tuple[Kind, ...] = ("system", "professional", "patient", "admin")
LEEWAY_S = 30
MAX_TOKEN_CHARS = 8192


class TokenError(Exception):
    """A bearer token that cannot be accepted; ``reason`` is safe to show (RFC 6750 §3)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling and what they were granted."""

    kind: Kind
    subject: str  # account id, or the client id of a backend service
    scopes: Scopes
    client_id: str | None = None
    fhir_user: str | None = None  # "Practitioner/123", "Patient/9"
    organization: str | None = None  # Organization id of a professional
    patients: tuple[str, ...] = ()  # a patient account: itself and the patients it acts for
    launch_patient: str | None = None  # SMART launch context
    auth_time: int | None = None  # seconds, strong authentication time
    token_id: str | None = None
    expires: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def practitioner(self) -> str | None:
        """The Practitioner id of a professional (None otherwise)."""
        if self.fhir_user and self.fhir_user.startswith("Practitioner/"):
            return self.fhir_user.split("/", 1)[1]
        return None


def principal_claims(principal: Principal) -> dict[str, Any]:
    """The claims :func:`principal_from_claims` rebuilds ``principal`` from (kind, subject,
    scopes, token id and expiry, and whichever of client, FHIR user, organisation, patients,
    launch patient and authentication time it has) — for tokens and for stored principals (Bulk
    Data jobs, Subscription owners)."""
    claims: dict[str, Any] = {
        "kind": principal.kind,
        "sub": principal.subject,
        "scope": principal.scopes.text,
        "jti": principal.token_id or "",
        "exp": principal.expires or 0,
    }
    optional = {
        "client_id": principal.client_id,
        "fhirUser": principal.fhir_user,
        "org": principal.organization,
        "patients": list(principal.patients) or None,
        "patient": principal.launch_patient,
        "auth_time": principal.auth_time,
    }
    claims.update({k: v for k, v in optional.items() if v is not None})
    return claims


def issue(
    keys: Keys,
    principal: Principal,
    *,
    audience: str,
    now: int,
    ttl: int,
) -> str:
    """A signed access token for ``principal``, valid ``ttl`` seconds from ``now``."""
    claims = principal_claims(principal)
    claims.update(
        iss=keys.instance,
        aud=audience,
        iat=now,
        nbf=now,
        exp=now + ttl,
        jti=principal.token_id or secrets.token_urlsafe(16),
    )
    header = {"alg": "ES256", "typ": "at+jwt", "kid": keys.kid}
    from joserfc import jwt  # here: commands that never sign a token skip loading it

    return jwt.encode(header, claims, keys.signing)


def verify(
    keys: Keys,
    token: str,
    *,
    audiences: Collection[str],
    now: int,
    revoked: Collection[str] = (),
) -> Principal:
    """The principal of a valid token; :class:`TokenError` otherwise."""
    claims = decode(keys, token)
    check_claims(keys, claims, audiences=audiences, now=now, revoked=revoked)
    return principal_from_claims(claims)


def decode(keys: Keys, token: str) -> dict[str, Any]:
    """The claims of a well-formed access token signed with our key (signature checked)."""
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise TokenError("malformed token")
    from joserfc import jwt
    from joserfc.errors import JoseError

    try:
        decoded = jwt.decode(token, keys.signing, algorithms=["ES256"])
    except (JoseError, ValueError, TypeError) as exc:
        raise TokenError("invalid token") from exc
    if decoded.header.get("typ") != "at+jwt":
        raise TokenError("not an access token")
    return dict(decoded.claims)


def check_claims(
    keys: Keys, claims: dict[str, Any], *, audiences: Collection[str], now: int, revoked: Collection[str]
) -> None:
    """Issuer, audience, time window and revocation of decoded claims."""
    if claims.get("iss") != keys.instance:
        raise TokenError("wrong issuer")
    if claims.get("aud") not in audiences:
        raise TokenError("wrong audience")
    exp, nbf = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(exp, int) or not isinstance(nbf, int):
        raise TokenError("invalid token")
    if now > exp + LEEWAY_S:
        raise TokenError("token expired")
    if now + LEEWAY_S < nbf:
        raise TokenError("token not yet valid")
    jti = claims.get("jti")
    if not isinstance(jti, str) or jti in revoked:
        raise TokenError("token revoked")


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    kind = claims.get("kind")
    if kind not in KINDS:
        raise TokenError("invalid token")
    try:
        scopes = parse_scopes(str(claims.get("scope", "")))
    except ScopeError as exc:
        raise TokenError("invalid scope") from exc
    patients = claims.get("patients") or []
    return Principal(
        kind=kind,
        subject=str(claims.get("sub", "")),
        scopes=scopes,
        client_id=_text(claims.get("client_id")),
        fhir_user=_text(claims.get("fhirUser")),
        organization=_text(claims.get("org")),
        patients=tuple(str(p) for p in _list(patients)),
        launch_patient=_text(claims.get("patient")),
        auth_time=claims.get("auth_time") if isinstance(claims.get("auth_time"), int) else None,
        token_id=str(claims["jti"]),
        expires=int(claims["exp"]),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _list(value: Any) -> Iterable[Any]:
    return value if isinstance(value, list) else ()


class VerifiedTokens:
    """Tokens whose signature was already checked, by their exact text.

    An app sends the same token on every call; checking its ES256 signature costs ~0.15 ms, so the
    decoded claims and principal are remembered per token string (the signature is part of the
    key: any change makes a different key, checked in full). Everything that can change between
    two calls is checked on every call: expiry, not-before, audience, revocation. Bounded: the
    oldest half is dropped when full.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._known: dict[str, tuple[dict[str, Any], Principal]] = {}

    def verify(
        self, keys: Keys, token: str, *, audiences: Collection[str], now: int, revoked: Collection[str] = ()
    ) -> Principal:
        known = self._known.get(token)
        if known is None:
            claims = decode(keys, token)
            check_claims(keys, claims, audiences=audiences, now=now, revoked=revoked)
            principal = principal_from_claims(claims)
            if len(self._known) >= self.size:
                for stale in list(self._known)[: self.size // 2]:
                    del self._known[stale]
            self._known[token] = (claims, principal)
            return principal
        claims, principal = known
        check_claims(keys, claims, audiences=audiences, now=now, revoked=revoked)
        return principal
