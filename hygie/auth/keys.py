"""The server's secret keys, kept in files outside the database (``HYGIE_KEYS_DIR``).

- ``signing.json``: the EC P-256 private key (JWK) that signs access tokens (ES256,
  RFC 7518 §3.4); its public half is served at ``/oauth/jwks``.
- ``audit.key``: 32 random bytes, the HMAC-SHA256 key of the audit checkpoints.
- ``instance``: a random identifier of this installation, the ``iss`` of its tokens and the
  audience of tokens printed by ``hygie token issue`` (valid whatever host name serves the API).

Files are created on first use with mode 0600 in a 0700 directory. A database dump alone
(a stolen backup, an SQL injection) therefore cannot forge tokens or re-sign a rewritten audit
chain: see docs/security.md.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from joserfc.jwk import ECKey

_SIGNING = "signing.json"
_AUDIT = "audit.key"
_INSTANCE = "instance"


@dataclass(frozen=True, slots=True)
class Keys:
    signing: ECKey
    audit: bytes
    instance: str

    @property
    def kid(self) -> str:
        return str(self.signing.thumbprint())

    def jwks(self) -> dict[str, list[dict[str, object]]]:
        """The public signing key as a JWK Set (https://www.rfc-editor.org/rfc/rfc7517)."""
        public = self.signing.as_dict(private=False)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "ES256"}]}


def _write_new(path: Path, data: bytes) -> bytes:
    """Create ``path`` with ``data`` unless another process won the race (then read theirs)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return data


def load_audit_key(directory: Path) -> bytes:
    """The audit key alone, created when missing: what commands that only write audit entries
    (imports, exports) need, without the JOSE library that :func:`load_keys` loads (50 ms of a
    command's start-up)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / _AUDIT
    return path.read_bytes() if path.exists() else _write_new(path, secrets.token_bytes(32))


def load_keys(directory: Path) -> Keys:
    """Load the keys from ``directory``, creating any that is missing."""
    from joserfc.jwk import ECKey

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    signing_path = directory / _SIGNING
    if signing_path.exists():
        signing_data = signing_path.read_bytes()
    else:
        fresh = ECKey.generate_key("P-256", private=True)
        signing_data = _write_new(signing_path, orjson.dumps(fresh.as_dict(private=True)))
    signing = ECKey.import_key(orjson.loads(signing_data))
    audit = load_audit_key(directory)
    instance_path = directory / _INSTANCE
    instance = (
        instance_path.read_bytes()
        if instance_path.exists()
        else _write_new(instance_path, f"urn:hygie:{secrets.token_hex(16)}".encode())
    )
    return Keys(signing, audit, instance.decode().strip())


def read_signed(
    keys: Keys, value: str, *, typ: str, audience: str, now_s: int, max_chars: int
) -> dict[str, Any] | None:
    """The claims of a short-lived value this server signed (a cookie between two steps of a
    sign-in): ES256 with our key, the given ``typ`` header and ``aud``, not expired; else None."""
    from joserfc import jwt
    from joserfc.errors import JoseError

    if not value or len(value) > max_chars:
        return None
    try:
        decoded = jwt.decode(value, keys.signing, algorithms=["ES256"])
    except (JoseError, ValueError, TypeError):
        return None
    claims = decoded.claims
    exp = claims.get("exp")
    if (
        decoded.header.get("typ") != typ
        or claims.get("aud") != audience
        or not isinstance(exp, int)
        or exp <= now_s
    ):
        return None
    return dict(claims)
