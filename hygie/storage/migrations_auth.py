"""Schema of identity, OAuth2/SMART, access grants and the audit ledger (one migration).

Times are integer milliseconds since the epoch (UTC), like ``resource.last_updated``. Secrets are
never stored in clear: passwords as Argon2id hashes, recovery codes, authorization codes, refresh
tokens and web sessions as SHA-256 digests of random values (the clear value only ever travels
to its owner). See docs/security.md.

- ``account``: a person who signs in — ``kind`` ``professional`` | ``patient`` | ``admin``;
  ``fhir_type``/``fhir_id`` the Practitioner or Patient it is; ``organization`` the Organization
  id a professional works for; TOTP secret and the last time step used (replay protection);
  failed-login counter and lock time (progressive lockout); ``auth_level`` reported by an
  external identity provider.
- ``recovery_code``: one-time 2FA recovery codes (digests).
- ``account_proxy``: patients an account may act for (a child, a dependent).
- ``oauth_client``: registered SMART apps and backend services (``jwks`` for private_key_jwt).
- ``oauth_code``: authorization codes (single use, PKCE S256 challenge, launch context).
- ``oauth_refresh``: refresh tokens, rotated; ``family`` ties the chain so a reused one revokes
  the whole family.
- ``oauth_jti``: client assertion ids seen (private_key_jwt replay check) until they expire.
- ``revoked_token``: revoked access-token ids until they expire.
- ``web_session``: browser sessions (strong authentication time, expiry, CSRF secret).
- ``btg_grant``: break-the-glass access of one account to one patient, with justification.
- ``audit_log``: the append-only audit trail, one AuditEvent per row, hash-chained
  (``hash = SHA-256(prev_hash || canonical body)``); ``patient`` and ``agent`` are copied out of
  the body for the patient's "who accessed my record" search.
- ``audit_checkpoint``: signed (HMAC) chain heads, so a rewrite of the whole chain is detected.
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgresql"]

_TABLES = [
    """CREATE TABLE account (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        display TEXT NOT NULL,
        password_hash TEXT,
        totp_secret TEXT,
        totp_last_step {bigint} NOT NULL DEFAULT 0,
        fhir_type TEXT,
        fhir_id TEXT,
        organization TEXT,
        failed {int} NOT NULL DEFAULT 0,
        locked_until {bigint} NOT NULL DEFAULT 0,
        disabled {bool} NOT NULL DEFAULT {false},
        external_subject TEXT UNIQUE,
        auth_level TEXT,
        created {bigint} NOT NULL,
        updated {bigint} NOT NULL
    )""",
    "CREATE INDEX account_fhir ON account (fhir_type, fhir_id)",
    """CREATE TABLE recovery_code (
        account TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
        digest TEXT NOT NULL,
        used {bigint},
        PRIMARY KEY (account, digest)
    )""",
    """CREATE TABLE account_proxy (
        account TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
        patient TEXT NOT NULL,
        relationship TEXT NOT NULL,
        PRIMARY KEY (account, patient)
    )""",
    """CREATE TABLE oauth_client (
        client_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        secret_digest TEXT,
        redirect_uris TEXT NOT NULL,
        jwks TEXT,
        scope TEXT NOT NULL,
        created {bigint} NOT NULL,
        disabled {bool} NOT NULL DEFAULT {false}
    )""",
    """CREATE TABLE oauth_code (
        digest TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
        account TEXT NOT NULL,
        scope TEXT NOT NULL,
        redirect_uri TEXT NOT NULL,
        challenge TEXT NOT NULL,
        patient TEXT,
        auth_time {bigint} NOT NULL,
        expires {bigint} NOT NULL,
        used {bool} NOT NULL DEFAULT {false}
    )""",
    """CREATE TABLE oauth_refresh (
        digest TEXT PRIMARY KEY,
        family TEXT NOT NULL,
        client_id TEXT NOT NULL,
        account TEXT,
        scope TEXT NOT NULL,
        patient TEXT,
        auth_time {bigint} NOT NULL,
        expires {bigint} NOT NULL,
        used {bool} NOT NULL DEFAULT {false},
        revoked {bool} NOT NULL DEFAULT {false}
    )""",
    "CREATE INDEX oauth_refresh_family ON oauth_refresh (family)",
    """CREATE TABLE oauth_jti (
        client_id TEXT NOT NULL,
        jti TEXT NOT NULL,
        expires {bigint} NOT NULL,
        PRIMARY KEY (client_id, jti)
    )""",
    """CREATE TABLE revoked_token (
        jti TEXT PRIMARY KEY,
        expires {bigint} NOT NULL
    )""",
    """CREATE TABLE web_session (
        digest TEXT PRIMARY KEY,
        account TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
        auth_time {bigint} NOT NULL,
        expires {bigint} NOT NULL,
        csrf TEXT NOT NULL,
        created {bigint} NOT NULL
    )""",
    """CREATE TABLE btg_grant (
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
        patient TEXT NOT NULL,
        reason TEXT NOT NULL,
        since {bigint} NOT NULL,
        until {bigint} NOT NULL
    )""",
    "CREATE INDEX btg_grant_account ON btg_grant (account, until)",
    """CREATE TABLE audit_log (
        seq {bigint} PRIMARY KEY,
        recorded {bigint} NOT NULL,
        patient TEXT,
        agent TEXT,
        body {blob} NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE INDEX audit_log_patient ON audit_log (patient, seq)",
    "CREATE INDEX audit_log_recorded ON audit_log (recorded)",
    """CREATE TABLE audit_checkpoint (
        seq {bigint} PRIMARY KEY,
        hash TEXT NOT NULL,
        signed {bigint} NOT NULL,
        signature TEXT NOT NULL
    )""",
]

_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {"bigint": "INTEGER", "int": "INTEGER", "bool": "INTEGER", "false": "0", "blob": "BLOB"},
    "postgresql": {
        "bigint": "BIGINT",
        "int": "INTEGER",
        "bool": "BOOLEAN",
        "false": "FALSE",
        "blob": "BYTEA",
    },
}

AUTH_MIGRATION: dict[Dialect, list[str]] = {
    dialect: [statement.format(**types) for statement in _TABLES] for dialect, types in _TYPES.items()
}
