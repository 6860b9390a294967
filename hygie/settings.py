"""Settings, read from ``HYGIE_*`` environment variables (pydantic-settings).

Every setting is documented in docs/settings.md; a test checks the two stay in sync.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_database_url() -> str:
    return f"sqlite:///{(Path.cwd() / 'var' / 'hygie.db').as_posix()}"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class Settings(BaseSettings):
    """Hygie configuration. Field names map to ``HYGIE_<NAME>`` variables."""

    model_config = SettingsConfigDict(env_prefix="HYGIE_", extra="ignore", frozen=True)

    database_url: str = Field(
        default_factory=default_database_url,
        description="Database: `sqlite:///path/file.db` (embedded, default ./var/hygie.db) "
        "or `postgresql://user:pass@host:port/db`.",
    )
    base_url: str | None = Field(
        default=None,
        description="Public base URL of the server (e.g. https://fhir.example.org); by default "
        "derived from each request's Host header.",
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, description="Largest accepted request body, in bytes (413 above)."
    )
    max_json_depth: int = Field(
        default=64,
        description="Deepest accepted JSON nesting of patch bodies (400 above); resources are "
        "limited to 64 levels by the validator.",
    )
    default_page_size: int = Field(default=50, description="Default `_count` for history and search.")
    max_page_size: int = Field(default=1000, description="Largest accepted `_count` (server cap).")
    search_total_limit: int = Field(
        default=10_000,
        description="Most matches a search counts for `Bundle.total` when `_total` is absent or "
        "`estimate`; above it `total` is left out (PostgreSQL `estimate`: the planner's estimate). "
        "`_total=accurate` and `_summary=count` always count exactly.",
    )
    max_bundle_entries: int = Field(
        default=10_000, description="Most entries accepted in one batch/transaction Bundle."
    )
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        default="NORMAL",
        description="SQLite `synchronous` pragma. NORMAL (WAL) keeps every acknowledged write "
        "across a process crash (kill -9); FULL also across power loss, at a cost in write speed.",
    )
    postgres_pool_size: int = Field(default=10, description="PostgreSQL connection pool size.")
    postgres_options: str = Field(
        default="-c random_page_cost=1.1",
        description="libpq `options` for every PostgreSQL connection; the default tells the "
        "planner that storage is an SSD, which keeps chained and `_has` searches on indexes.",
    )
    default_language: Literal["fr", "en"] = Field(
        default="fr", description="Language of diagnostics when Accept-Language does not choose."
    )
    timezone: str = Field(
        default="Europe/Paris",
        description="Server time zone, used for dates without a time zone in searches.",
    )
    log_level: str = Field(default="INFO", description="Log level: DEBUG, INFO, WARNING or ERROR (any case).")
    log_json: bool = Field(default=False, description="Log as JSON lines instead of console format.")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = value.partition("://")[0] if "://" in value else ""
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("must be sqlite:///path/to/file.db or postgresql://user@host:port/db")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    auth_required: bool = Field(
        default=True,
        description="Require an OAuth2 bearer token (SMART on FHIR) on the FHIR API. Only for a "
        "closed test bench: with `false` every request acts as a system client with "
        "`system/*.cruds` (it is logged loudly at start-up).",
    )
    keys_dir: Path = Field(
        default_factory=lambda: Path.cwd() / "var" / "keys",
        description="Directory of the server's secret keys (token signing key, audit HMAC key, "
        "instance id), created with mode 0700 on first start. Keep it outside the database and "
        "its backups; every server process of one installation must share it.",
    )
    access_token_minutes: int = Field(
        default=60, description="Lifetime of access tokens issued to users' apps, in minutes."
    )
    strong_session_hours: float = Field(
        default=4.0,
        description="How long one strong sign-in (password + TOTP) lasts before the user must "
        "authenticate again; within it, single sign-on across the web UI and SMART apps.",
    )
    audit_retention_days: int = Field(
        default=365, description="Audit entries older than this are purged (≥ 183: 6 months minimum)."
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated origins allowed to call the API from a browser (CORS), e.g. "
        "`https://app.example.org`; empty: CORS closed.",
    )
    rate_limit_per_second: float = Field(
        default=600.0,
        description="Requests per second allowed per client address (token bucket, bursts of "
        "twice that); above it 429 with Retry-After. 0 turns the limit off (behind a proxy that "
        "limits already, or for benchmarks).",
    )
    max_url_bytes: int = Field(
        default=16_384, description="Longest accepted query string, in bytes (414 above: use POST _search)."
    )
    refresh_token_days: int = Field(
        default=30,
        description="Lifetime of refresh tokens granted with `offline_access`, in days (rotation "
        "keeps the family's end); `online_access` ones end with the strong session.",
    )
    login_attempts_per_minute: float = Field(
        default=10.0,
        description="Sign-in attempts (password or second factor) allowed per minute per client "
        "address and per username, checked before any password hashing; bursts of "
        "HYGIE_LOGIN_BURST.",
    )
    login_burst: int = Field(
        default=10, description="Sign-in attempts allowed at once per client address and per username."
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="Issuer URL of an external OpenID Connect identity provider for professionals "
        "(Pro Santé Connect, a hospital IdP); with the client id and secret below, the sign-in "
        "page offers it (docs/smart.md). Unset: local accounts only.",
    )
    oidc_client_id: str | None = Field(default=None, description="Client id of Hygie at that provider.")
    oidc_client_secret: str | None = Field(
        default=None, description="Client secret of Hygie at that provider (client_secret_basic)."
    )
    oidc_scope: str = Field(default="openid", description="Scopes asked of that provider.")
    oidc_acr_values: str | None = Field(
        default=None,
        description="`acr_values` asked of that provider (e.g. `eidas1` for Pro Santé Connect's e-CPS).",
    )
    oidc_name: str = Field(
        default="Pro Santé Connect", description="Name of that provider on the sign-in page."
    )
    bulk_dir: Path = Field(
        default_factory=lambda: Path.cwd() / "var" / "bulk",
        description="Directory of the Bulk Data jobs' files (`$export` output, `$import` input), "
        "one sub-directory per job (docs/bulk-data.md).",
    )
    bulk_retention_hours: float = Field(
        default=24.0,
        description="How long the files of a finished Bulk Data job are kept before the worker "
        "deletes the job and its files.",
    )
    bulk_chunk_size: int = Field(
        default=1000,
        description="Resources read per database transaction by a Bulk Data export or loaded per "
        "batch by an import (memory stays flat whatever the job's size).",
    )
    bulk_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a Bulk Data job stays with the worker running it without news from "
        "it: after a crash or a kill, another server process (or this one restarted) takes the job "
        "up again this long after the last news; a clean stop hands it over at once.",
    )
    bulk_import_url_prefixes: str = Field(
        default="",
        description="Comma-separated URL prefixes that `$import` may fetch input files from "
        "(e.g. `https://files.example.org/exports/`); empty: none, only NDJSON bodies are accepted. "
        "A URL the server fetches is a server-side request forgery risk (docs/bulk-data.md).",
    )
    subscription_poll_seconds: float = Field(
        default=0.2,
        description="How often the Subscription worker looks for changes and due notifications, in "
        "seconds (docs/subscriptions.md); the latency from a write to its notification is about this.",
    )
    subscription_lookback_seconds: float = Field(
        default=60.0,
        description="Window of recent changes the Subscription worker scans again, in seconds, so a "
        "transaction committed out of order (PostgreSQL) is still notified once.",
    )
    subscription_allowed_hosts: str = Field(
        default="",
        description="Comma-separated host names a rest-hook Subscription may reach over plain http or "
        "at a loopback/private address (e.g. `localhost,10.0.0.5`); empty: https to public addresses "
        "only (server-side request forgery guard).",
    )
    subscription_max_failures: int = Field(
        default=5,
        description="Consecutive failed deliveries after which a Subscription's status becomes "
        "`error` (retries go on with backoff; a success makes it `active` again).",
    )
    subscription_retry_seconds: float = Field(
        default=2.0,
        description="Delay before the first retry of a failed notification, in seconds; it doubles "
        "at each failure, up to 300 s.",
    )
    monitoring_interval_seconds: float = Field(
        default=60.0,
        description="How often the monitoring rounds evaluate the alert rules for the patients with new "
        "device data, new NEWS2 scores or open alerts, in seconds (docs/monitoring.md); data sent to "
        "`$ingest` is checked at once besides; 0 switches the rounds and those checks off.",
    )
    ingest_max_bytes: int = Field(
        default=1024 * 1024 * 1024,
        description="Largest Apple Health export `POST /fhir/Patient/{id}/$ingest` accepts, in bytes "
        "(streamed to a temporary file, never held in memory; docs/monitoring.md).",
    )
