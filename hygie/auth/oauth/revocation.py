"""Revocation of tokens: refresh-token families and access-token ids.

- Every token response of the authorization-code grant starts a **family**: its id is the digest
  of the authorization code; each rotated refresh token joins it (table ``oauth_refresh``).
- The access token issued with a grant has a **derived id** (``jti``): the first 32 hex digits of
  SHA-256 of ``access:`` + the digest of the code or refresh token it was issued for. Revoking a
  family therefore revokes every access token of the family too, without storing them: their ids
  are recomputed from the family's digests and put in ``revoked_token`` (and in the API's
  in-memory set, which the app loads from that table at start).
- Used by: a reused authorization code (RFC 6749 §4.1.2: "SHOULD revoke (when possible) all
  tokens previously issued based on that authorization code"), a reused refresh token (RFC 9700
  §4.14.2, refresh token rotation with reuse detection), and RFC 7009 revocation requests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from hygie.storage.database import Session


def digest(value: str) -> str:
    """SHA-256 (hex) of a code or refresh token: the stored form."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def access_jti(grant_digest: str) -> str:
    """The id of the access token issued for the code or refresh token of ``grant_digest``."""
    return hashlib.sha256(f"access:{grant_digest}".encode()).hexdigest()[:32]


def revoke_jtis(session: Session, jtis: Iterable[str], expires_ms: int) -> list[str]:
    """Record access-token ids as revoked until ``expires_ms`` (after which the tokens are dead)."""
    out = list(dict.fromkeys(jtis))
    for jti in out:
        session.execute(
            "INSERT INTO revoked_token (jti, expires) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING",
            (jti, expires_ms),
        )
    return out


def revoke_family(session: Session, family: str, *, until_ms: int) -> list[str]:
    """Revoke every refresh token of ``family`` and the access tokens issued with them; returns the
    revoked access-token ids (for the in-memory set)."""
    digests = [str(r[0]) for r in session.all("SELECT digest FROM oauth_refresh WHERE family = ?", (family,))]
    session.execute("UPDATE oauth_refresh SET revoked = TRUE WHERE family = ?", (family,))
    return revoke_jtis(session, [access_jti(family), *(access_jti(d) for d in digests)], until_ms)


def load_revoked(session: Session, now_ms: int) -> set[str]:
    """Forget revocations of tokens that have expired anyway, then return the live ones."""
    session.execute("DELETE FROM revoked_token WHERE expires < ?", (now_ms,))
    return {str(r[0]) for r in session.all("SELECT jti FROM revoked_token")}


def live_revoked(session: Session, now_ms: int) -> set[str]:
    """The revoked access-token ids that have not expired yet (read only)."""
    return {str(r[0]) for r in session.all("SELECT jti FROM revoked_token WHERE expires >= ?", (now_ms,))}


def purge(session: Session, now_ms: int) -> None:
    """Delete what can no longer serve: expired assertion ids, refresh tokens, old codes."""
    session.execute("DELETE FROM oauth_jti WHERE expires < ?", (now_ms,))
    session.execute("DELETE FROM oauth_refresh WHERE expires < ?", (now_ms,))
    # Used codes are kept a day past their expiry so that a late replay still revokes its tokens.
    session.execute("DELETE FROM oauth_code WHERE expires < ?", (now_ms - 86_400_000,))
    session.execute("DELETE FROM web_session WHERE expires < ?", (now_ms,))
