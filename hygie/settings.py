"""Settings, read from ``HYGIE_*`` environment variables (pydantic-settings).

Every setting is documented in docs/settings.md; a test checks the two stay in sync.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_database_url() -> str:
    return f"sqlite:///{(Path.cwd() / 'var' / 'hygie.db').as_posix()}"


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
    log_level: str = Field(default="INFO", description="Log level (DEBUG, INFO, WARNING, ERROR).")
    log_json: bool = Field(default=False, description="Log as JSON lines instead of console format.")
