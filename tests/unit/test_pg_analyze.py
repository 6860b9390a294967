"""PostgreSQL planning (hygie/storage/database.py): statistics after bulk writes
(``PostgresStatistics``: the tables that changed a lot are analysed by the server itself, off the
request path, instead of waiting for autovacuum) and plans made for the actual values.
PostgreSQL only: SQLite refreshes its statistics in its checkpoint thread
(tests/unit/test_database.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from hygie.storage.database import PostgresDatabase, PostgresStatistics, Session, open_database
from tests.conftest import PostgresDatabases

pytestmark = pytest.mark.postgres
ROWS = 5_000


@pytest.fixture
def pg_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database whose tables autovacuum leaves alone (so that every
    analyse the tests see is the server's own)."""
    url = postgres_databases.create()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            tables = [r[0] for r in conn.execute("SELECT relname FROM pg_stat_user_tables")]
            for table in tables:
                conn.execute(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)')
        yield url
    finally:
        postgres_databases.drop(url)


def _analyses(url: str) -> dict[str, int]:
    return _counts(url, "analyze_count")


def _counts(url: str, column: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(f"SELECT relname, {column} FROM pg_stat_user_tables").fetchall()
    return {str(name): int(count) for name, count in rows}


def _changes_visible(url: str, table: str, at_least: int) -> bool:
    """Row changes reach pg_stat_user_tables a little after commit (backends flush their counters
    at most once a second): wait until they do, so the test does not race the statistics."""
    deadline = time.monotonic() + 30
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = %s", (table,)
            ).fetchone()
            if row is not None and row[0] >= at_least:
                return True
            time.sleep(0.2)
    return False


def _bulk_insert(db: PostgresDatabase) -> None:
    rows = [(rk, 1, f"family{rk % 97}", f"Family{rk % 97}") for rk in range(ROWS)]

    _write(db, lambda s: s.insert_many("idx_string", ("rk", "pid", "folded", "exact"), rows))


def _write(db: PostgresDatabase, work: Callable[[Session], object]) -> None:
    """Run ``work`` in a transaction whose backend publishes its row counters at commit rather
    than up to 10 s later (PostgreSQL 15 batches them)."""

    def run(s: Session) -> None:
        work(s)
        s.execute("SELECT pg_stat_force_next_flush()")

    db.run_sync(run)


def test_bulk_insert_is_analysed_then_nothing_more(pg_url: str) -> None:
    db = PostgresDatabase(pg_url, analyze_every=0)  # no thread: the test runs the rounds
    try:
        db.upgrade()
        before = _analyses(pg_url)
        vacuums = _counts(pg_url, "vacuum_count")["idx_string"]
        _bulk_insert(db)
        assert _changes_visible(pg_url, "idx_string", ROWS)

        assert "idx_string" in db.statistics.analyze_changed()
        after = _analyses(pg_url)
        assert after["idx_string"] == before["idx_string"] + 1
        # inserted rows: vacuumed too, so that index-only scans can skip the new heap pages
        assert _counts(pg_url, "vacuum_count")["idx_string"] == vacuums + 1
        with psycopg.connect(pg_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT last_analyze IS NOT NULL, n_mod_since_analyze FROM pg_stat_user_tables "
                "WHERE relname = 'idx_string'"
            ).fetchone()
        assert row == (True, 0)

        assert db.statistics.analyze_changed() == []  # nothing changed since
        assert _analyses(pg_url) == after
    finally:
        db.close()


def test_small_changes_are_left_to_autovacuum(pg_url: str) -> None:
    db = PostgresDatabase(pg_url, analyze_every=0)
    try:
        _bulk_insert(db)
        assert _changes_visible(pg_url, "idx_string", ROWS)
        db.statistics.analyze_changed()
        _write(db, lambda s: s.execute("INSERT INTO idx_string VALUES (?, ?, ?, ?)", (ROWS, 1, "x", "X")))
        assert _changes_visible(pg_url, "idx_string", 1)
        before = _analyses(pg_url)
        assert db.statistics.analyze_changed() == []  # 1 row of 5,001: under the threshold
        assert _analyses(pg_url) == before
    finally:
        db.close()


def test_background_thread_analyses_and_stops_on_close(pg_url: str) -> None:
    db = open_database(pg_url)  # as the server opens it: the thread runs
    assert isinstance(db, PostgresDatabase)
    assert db.statistics.running
    try:
        before = _analyses(pg_url)["idx_string"]
        _bulk_insert(db)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _analyses(pg_url)["idx_string"] == before:
            time.sleep(0.2)
        assert _analyses(pg_url)["idx_string"] == before + 1
    finally:
        db.close()
    assert not db.statistics.running
    assert not _analyze_connections(pg_url)  # its connection is closed too


def _analyze_connections(url: str) -> int:
    """The maintenance connections open on this database (a closed one leaves within moments)."""
    deadline = time.monotonic() + 10
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'hygie-analyze'"
            ).fetchone()
            count = int(row[0]) if row else 0
            if count == 0 or time.monotonic() > deadline:
                return count
            time.sleep(0.1)


def test_round_errors_are_logged_not_raised(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A round that fails (here: the database is unreachable) is logged; the thread goes on."""
    bad_url = pg_url.rsplit("/", 1)[0] + "/hygie_no_such_database"
    stats = PostgresStatistics(bad_url, every=0.1)
    logged = ""
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and logged.count("analyze_failed") < 2:
            time.sleep(0.1)
            logged += capsys.readouterr().out
        assert logged.count("analyze_failed") >= 2  # one per round: the thread went on after the first
        assert stats.running
    finally:
        stats.close()
    assert not stats.running


def test_updates_are_analysed_without_a_vacuum(pg_url: str) -> None:
    """Changed (not inserted) rows only need new statistics; their dead rows are autovacuum's."""
    db = PostgresDatabase(pg_url, analyze_every=0)
    try:
        _bulk_insert(db)
        assert _changes_visible(pg_url, "idx_string", ROWS)
        db.statistics.analyze_changed()
        _write(db, lambda s: s.execute("UPDATE idx_string SET exact = upper(exact)"))
        assert _changes_visible(pg_url, "idx_string", ROWS)
        analyses, vacuums = _analyses(pg_url), _counts(pg_url, "vacuum_count")
        assert db.statistics.analyze_changed() == ["idx_string"]
        assert _analyses(pg_url)["idx_string"] == analyses["idx_string"] + 1
        assert _counts(pg_url, "vacuum_count") == vacuums
    finally:
        db.close()


def test_connections_plan_with_the_actual_values(pg_url: str) -> None:
    """Statements psycopg prepares (after 5 runs on a connection) are still planned for the values
    they run with, not with a generic plan; HYGIE_POSTGRES_OPTIONS can say otherwise."""
    for options, mode in (
        ("-c random_page_cost=1.1", "force_custom_plan"),
        ("-c plan_cache_mode=auto", "auto"),
    ):
        db = open_database(pg_url, postgres_options=options)
        try:
            assert db.run_sync(lambda s: s.one("SHOW plan_cache_mode"), write=False) == (mode,)
        finally:
            db.close()
