"""Database URLs and migrations (both backends)."""

from __future__ import annotations

import pytest

from hygie.storage.database import open_database, sqlite_path
from hygie.storage.migrations import MIGRATIONS


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:////abs/x.db", "/abs/x.db"),
        ("sqlite:///rel/x.db", "rel/x.db"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite:///with%20space.db", "with space.db"),
    ],
)
def test_sqlite_path(url: str, path: str) -> None:
    assert sqlite_path(url) == path


def test_unknown_scheme() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        open_database("mysql://x")


def test_migrations_are_idempotent(database_url: str) -> None:
    db = open_database(database_url)
    try:
        db.upgrade()
        assert db.upgrade() == []
        assert db.schema_version() == len(MIGRATIONS)
        assert db.ping()
    finally:
        db.close()
