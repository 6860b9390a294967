"""Database URLs and migrations (both backends)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

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


def test_sqlite_background_thread_checkpoints_and_gathers_statistics(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        db.upgrade()
        db.run_sync(
            lambda s: s.executemany(
                "INSERT INTO search_param (type, code) VALUES (?, ?)", [("T", f"c{i}") for i in range(200)]
            )
        )
        deadline = time.monotonic() + 20
        stats = 0
        while time.monotonic() < deadline and not stats:
            time.sleep(0.2)
            stats = db.run_sync(
                lambda s: s.one("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"), write=False
            )[0]
        assert stats == 1  # PRAGMA optimize ran in the background thread
        assert (tmp_path / "x.db-wal").stat().st_size < 4096 * 1000  # checkpoints keep the WAL small
    finally:
        db.close()
    assert not (tmp_path / "x.db-wal").exists() or (tmp_path / "x.db-wal").stat().st_size == 0


def test_migration_4_compacts_reference_urls(database_url: str) -> None:
    db = open_database(database_url)
    try:
        if db.dialect == "postgresql":  # test databases are cloned from a migrated template
            db.run_sync(lambda s: s.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.upgrade(target=3)
        rows = [
            (1, 1, "Patient", "p1", "Patient/p1"),
            (1, 1, "Patient", "p2", "http://x/fhir/Patient/p2"),
            (2, 1, "", "", "#contained"),
        ]
        db.run_sync(
            lambda s: s.executemany(
                "INSERT INTO idx_reference (rk, pid, target_type, target_id, url) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        )
        assert db.upgrade(target=4) == [4]
        got = db.run_sync(
            lambda s: s.all("SELECT target_id, url FROM idx_reference ORDER BY rk, target_id"), write=False
        )
        assert [tuple(r) for r in got] == [("p1", ""), ("p2", "http://x/fhir/Patient/p2"), ("", "#contained")]
    finally:
        db.close()


def test_migration_16_drops_last_updated_rows(database_url: str) -> None:
    """_lastUpdated is searched on resource.last_updated: its date rows of older databases go,
    every other parameter's stay."""
    db = open_database(database_url)
    try:
        if db.dialect == "postgresql":  # test databases are cloned from a migrated template
            db.run_sync(lambda s: s.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.upgrade(target=15)

        def seed(s: Any) -> None:
            s.executemany(
                "INSERT INTO search_param (pid, type, code) VALUES (?, ?, ?)",
                [
                    (1, "Patient", "_lastUpdated"),
                    (2, "Patient", "birthdate"),
                    (3, "Observation", "_lastUpdated"),
                ],
            )
            s.executemany(
                "INSERT INTO idx_date (rk, pid, low, high) VALUES (?, ?, ?, ?)",
                [(1, 1, 10, 11), (1, 2, 0, 86_400_000), (2, 3, 20, 21)],
            )

        db.run_sync(seed)
        assert db.upgrade(target=16) == [16]
        got = db.run_sync(lambda s: s.all("SELECT rk, pid FROM idx_date ORDER BY rk"), write=False)
        assert [tuple(r) for r in got] == [(1, 2)]
    finally:
        db.close()
