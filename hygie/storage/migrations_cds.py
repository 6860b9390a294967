"""Migration 12: the CDS Hooks service's own tables — hygie/cds/ (docs/cds-hooks.md).

CDS Hooks 2.0 (https://cds-hooks.hl7.org/2.0/): calling clients (EHRs) authenticate with JWTs
signed by keys the operator registered; the cards the service returns can be given feedback.

- ``cds_client``: one row per registered CDS client — ``name`` (chosen by the operator),
  ``issuer`` (the ``iss`` of its JWTs, unique), ``jwks`` (its public JWK Set, JSON text),
  ``created`` (epoch ms);
- ``cds_jti``: the ``jti`` of every accepted JWT until it expires (``expires``, epoch ms), per
  issuer, so that a captured JWT cannot be replayed;
- ``cds_card``: every card returned — ``uuid``, the ``service`` and ``hook_instance``, the
  ``client`` name ('' when authentication is off), the ``patient`` id, ``indicator``, ``kind``
  and ``level`` of its finding, ``summary``, ``created`` (epoch ms);
- ``cds_feedback``: one row per feedback entry — the ``card``, ``service``, ``client``,
  ``outcome`` (``accepted`` | ``overridden``), the accepted suggestion uuids (JSON array),
  the override reason (``reason_system``, ``reason_code``, ``reason_display``), the user's
  ``comment``, ``outcome_at`` (the client's ``outcomeTimestamp``, epoch ms) and ``received``.
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgresql"]


def _tables(big: str, serial: str) -> list[str]:
    return [
        f"""CREATE TABLE cds_client (name TEXT PRIMARY KEY, issuer TEXT NOT NULL UNIQUE,
            jwks TEXT NOT NULL, created {big} NOT NULL)""",
        f"""CREATE TABLE cds_jti (issuer TEXT NOT NULL, jti TEXT NOT NULL, expires {big} NOT NULL,
            PRIMARY KEY (issuer, jti))""",
        "CREATE INDEX cds_jti_expires ON cds_jti (expires)",
        f"""CREATE TABLE cds_card (uuid TEXT PRIMARY KEY, service TEXT NOT NULL,
            hook_instance TEXT NOT NULL, client TEXT NOT NULL, patient TEXT NOT NULL,
            indicator TEXT NOT NULL, kind TEXT NOT NULL, level TEXT NOT NULL,
            summary TEXT NOT NULL, created {big} NOT NULL)""",
        f"""CREATE TABLE cds_feedback (id {serial}, card TEXT NOT NULL, service TEXT NOT NULL,
            client TEXT NOT NULL, outcome TEXT NOT NULL, accepted TEXT NOT NULL,
            reason_system TEXT, reason_code TEXT, reason_display TEXT, comment TEXT,
            outcome_at {big} NOT NULL, received {big} NOT NULL)""",
        "CREATE INDEX cds_feedback_card ON cds_feedback (card)",
    ]


CDS_MIGRATION: dict[Dialect, list[str]] = {
    "sqlite": _tables("INTEGER", "INTEGER PRIMARY KEY"),
    "postgresql": _tables("BIGINT", "BIGSERIAL PRIMARY KEY"),
}
