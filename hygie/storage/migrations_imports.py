"""Migration 13: the files ``hygie import`` loaded, recorded in the same transaction as their
resources (docs/import.md "Resuming").

The state file next to the database (hygie/transfer/state.py) is written after the commit: a
crash between the two would leave a committed file that the state does not know, and imported
again on the next run — a transaction Bundle of ``POST`` entries twice. ``import_file`` closes
that window: one row per file content (``sha256`` and ``size``), with the ``path`` it was read
from, the ``resources`` it held and when (``imported``, epoch ms).
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgresql"]


def _tables(big: str) -> list[str]:
    return [
        f"""CREATE TABLE import_file (sha256 TEXT NOT NULL, size {big} NOT NULL, path TEXT NOT NULL,
            resources {big} NOT NULL, imported {big} NOT NULL, PRIMARY KEY (sha256, size))""",
    ]


IMPORTS_MIGRATION: dict[Dialect, list[str]] = {
    "sqlite": _tables("INTEGER"),
    "postgresql": _tables("BIGINT"),
}
