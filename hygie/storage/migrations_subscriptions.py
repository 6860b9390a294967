"""Migration 10: delivery state of topic-based Subscriptions — hygie/api/subscriptions/.

Subscriptions R5 Backport IG STU 1.1 (http://hl7.org/fhir/uv/subscriptions-backport/). The
Subscription resources themselves are ordinary FHIR resources; these tables hold what the
background worker needs (docs/subscriptions.md):

- ``subscription_cursor``: one row (``main``): the highest ``resource_version.seq`` scanned, and
  the lease (``holder``, ``lease_until``) that lets one server process at a time scan and deliver;
- ``subscription_state``: per Subscription id: the principal that wrote it (JSON claims; its
  access policy filters every notification), the FHIR base URL it was written at,
  ``since_seq`` (changes after activation only), the event counter, consecutive failures,
  the next attempt time and the last contact time;
- ``subscription_scan``: the seqs already scanned above the cursor (PostgreSQL may commit
  transactions out of seq order: the cursor waits at a gap, rows past it are scanned once);
- ``subscription_event``: one row per (subscription, seq) — the deduplication key — with the
  event number, state (``pending``, ``sent``), attempts and the next attempt time;
- ``subscription_seen``: resources a subscription was notified about (a deletion is notified
  only to subscriptions that saw the resource, since a deleted resource has no index rows);
- ``subscription_ws_token``: websocket binding tokens (``$get-ws-binding-token``).
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgresql"]


def _tables(big: str) -> list[str]:
    return [
        f"""CREATE TABLE subscription_cursor (name TEXT PRIMARY KEY, seq {big} NOT NULL,
            holder TEXT, lease_until {big} NOT NULL)""",
        "INSERT INTO subscription_cursor (name, seq, holder, lease_until) "
        "SELECT 'main', coalesce(max(seq), 0), NULL, 0 FROM resource_version",
        f"""CREATE TABLE subscription_state (id TEXT PRIMARY KEY, principal TEXT, base TEXT NOT NULL,
            since_seq {big}, events {big} NOT NULL, failures INTEGER NOT NULL,
            next_attempt {big} NOT NULL, last_contact {big} NOT NULL)""",
        f"CREATE TABLE subscription_scan (seq {big} PRIMARY KEY, scanned {big} NOT NULL)",
        "CREATE INDEX subscription_scan_time ON subscription_scan (scanned)",
        f"""CREATE TABLE subscription_event (sub TEXT NOT NULL, seq {big} NOT NULL,
            number {big} NOT NULL, rk {big} NOT NULL, at {big} NOT NULL, state TEXT NOT NULL,
            attempts INTEGER NOT NULL, next_attempt {big} NOT NULL, PRIMARY KEY (sub, seq))""",
        "CREATE INDEX subscription_event_due ON subscription_event (state, next_attempt)",
        f"CREATE TABLE subscription_seen (sub TEXT NOT NULL, rk {big} NOT NULL, PRIMARY KEY (sub, rk))",
        f"""CREATE TABLE subscription_ws_token (token TEXT PRIMARY KEY, sub TEXT NOT NULL,
            expires {big} NOT NULL)""",
    ]


SUBSCRIPTIONS_MIGRATION: dict[Dialect, list[str]] = {
    "sqlite": _tables("INTEGER"),
    "postgresql": _tables("BIGINT"),
}
