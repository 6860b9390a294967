"""Migration 14: the record a web session is looking at (docs/web.md "Proxy access").

An account that acts for other patients (a parent for a child) chooses the record the web UI
shows; ``web_session.profile`` keeps that choice with the session, so that every server process
serving the browser knows it (it was kept in one process's memory before). NULL: the account's
own record.
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgresql"]

PROFILE_MIGRATION: dict[Dialect, list[str]] = {
    "sqlite": ["ALTER TABLE web_session ADD COLUMN profile TEXT"],
    "postgresql": ["ALTER TABLE web_session ADD COLUMN profile TEXT"],
}
