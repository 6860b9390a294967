"""Database connections for both backends: one contract, two dialects.

All SQL in Hygie is written once with ``?`` placeholders and runs through :class:`Session`;
the PostgreSQL backend rewrites placeholders to ``%s``. Work is a synchronous function of a
session run in one database transaction:

- SQLite (embedded default): one connection in WAL mode; work runs inline on the caller's
  thread (the event loop), which serialises writers without lock hand-offs — the fastest shape
  for one core. A ``threading.Lock`` keeps it safe when called from other threads (CLI, tests).
- PostgreSQL: a psycopg connection pool; work runs in a worker thread so requests overlap.
  A background thread (:class:`PostgresStatistics`) refreshes the planner's statistics of the
  tables that changed a lot since their last ``ANALYZE`` (bulk loads outrun autovacuum).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import anyio
import anyio.to_thread

from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.logging import get_logger
from hygie.storage.migrations import MIGRATIONS, Dialect

T = TypeVar("T")
COPY_THRESHOLD = 100  # rows from which PostgreSQL inserts use COPY
register(
    {
        "concurrent_write": {
            "fr": "Écriture concurrente sur la même ressource ; réessayez.",
            "en": "Concurrent write on the same resource; please retry.",
        }
    }
)
Row = tuple[Any, ...]


@lru_cache(maxsize=4096)
def _to_pyformat(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class Session:
    """A connection inside one transaction, with dialect-neutral helpers."""

    __slots__ = ("_conn", "before_commit", "dialect")

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self._conn = conn
        self.dialect: Dialect = dialect
        self.before_commit: list[Callable[[], None]] = []

    def finish(self) -> None:
        """Run the before-commit hooks (buffered writes)."""
        for hook in self.before_commit:
            hook()

    def _sql(self, sql: str) -> str:
        return sql if self.dialect == "sqlite" else _to_pyformat(sql)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self.dialect == "sqlite":
            self._conn.executemany(sql, rows)
        else:
            with self._conn.cursor() as cur:
                cur.executemany(_to_pyformat(sql), list(rows))

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows; PostgreSQL takes large batches through COPY (not inside a pipeline)."""
        if self.dialect == "postgresql" and len(rows) >= COPY_THRESHOLD:
            with (
                self._conn.cursor() as cur,
                cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" * len(columns))
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        rows: list[Row] = self.execute(sql, params).fetchall()
        return rows

    def all_binary(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """:meth:`all`, with PostgreSQL sending the result in binary format: the same Python
        values, but ``bytea`` travels as its bytes instead of hex text (half the bytes, no
        encoding on the server nor decoding here). For reads of many stored bodies."""
        if self.dialect == "sqlite":
            return self.all(sql, params)
        with self._conn.cursor(binary=True) as cur:
            cur.execute(_to_pyformat(sql), params)
            rows: list[Row] = cur.fetchall()
            return rows

    def pipeline(self) -> AbstractContextManager[Any]:
        """Batch statements in one round trip where the driver can (psycopg pipeline mode)."""
        return self._conn.pipeline() if self.dialect == "postgresql" else nullcontext()

    def savepoint(self, name: str) -> None:
        self.execute(f"SAVEPOINT {name}")

    def release(self, name: str) -> None:
        self.execute(f"RELEASE SAVEPOINT {name}")

    def rollback_to(self, name: str) -> None:
        self.execute(f"ROLLBACK TO SAVEPOINT {name}")


class Database(ABC):
    """A database backend. ``run`` executes work in one transaction (commit or roll back)."""

    dialect: Dialect
    url: str

    @abstractmethod
    def run_sync(self, work: Callable[[Session], T], *, write: bool = True) -> T: ...

    @abstractmethod
    async def run(self, work: Callable[[Session], T], *, write: bool = True) -> T: ...

    @abstractmethod
    def close(self) -> None: ...

    def upgrade(self, target: int | None = None) -> list[int]:
        """Apply pending migrations (up to ``target``); return the numbers applied."""

        def work(s: Session) -> list[int]:
            if s.dialect == "postgresql":  # servers starting together migrate one at a time
                s.execute("SELECT pg_advisory_xact_lock(8675309)")
            s.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
            done = {r[0] for r in s.all("SELECT version FROM schema_version")}
            applied = []
            for number, migration in enumerate(MIGRATIONS, start=1):
                if number in done or (target is not None and number > target):
                    continue
                for statement in migration[self.dialect]:
                    s.execute(statement)
                s.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
                applied.append(number)
            return applied

        return self.run_sync(work)

    def schema_version(self) -> int:
        def work(s: Session) -> int:
            try:
                row = s.one("SELECT max(version) FROM schema_version")
            except Exception:  # table missing: an empty database
                return 0
            return int(row[0] or 0) if row else 0

        return self.run_sync(work, write=False)

    def ping(self) -> bool:
        try:
            return self.run_sync(lambda s: s.one("SELECT 1"), write=False) is not None
        except Exception:
            return False


# Rows written (inserted, updated, deleted) after which SQLite's statistics are refreshed at once:
# after a bulk import, plans made with the old statistics would scan whole types.
BULK_CHANGES = 50_000


class SQLiteDatabase(Database):
    dialect: Dialect = "sqlite"

    def __init__(self, url: str, synchronous: str = "NORMAL") -> None:
        self.url = url
        path = sqlite_path(url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "journal_mode=WAL",
            f"synchronous={synchronous}",
            "foreign_keys=ON",
            "busy_timeout=10000",
            "temp_store=MEMORY",
            "cache_size=-65536",
            "mmap_size=268435456",
        ):
            self._conn.execute(f"PRAGMA {pragma}")
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if path != ":memory:":
            # Checkpoints (which fsync) run in a background thread with their own connection,
            # so the event loop never waits on the disk for them.
            self._conn.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, args=(path,), name="hygie-sqlite-checkpoint", daemon=True
            )
            self._checkpointer.start()

    def _checkpoint_loop(self, path: str, interval: float = 0.5, optimize_every: int = 600) -> None:
        """Checkpoint the WAL every ``interval`` s; refresh planner statistics now and then."""
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=1000")
        conn.execute("PRAGMA analysis_limit=1000")  # bounded ANALYZE: milliseconds, not a table scan
        ticks = optimize_every - 4  # first statistics shortly after start
        analysed_at = 0  # the main connection's total_changes at the last successful ANALYZE
        try:
            while not self._closing.wait(interval):
                ticks += 1
                with contextlib.suppress(sqlite3.Error):  # busy: try again at the next tick
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    changes = self._conn.total_changes  # a counter read: no statement, no lock
                    if ticks >= optimize_every or changes - analysed_at >= BULK_CHANGES:
                        conn.execute("ANALYZE")  # sampled (analysis_limit): query planner statistics
                        ticks, analysed_at = 0, changes  # only once it succeeded (busy: next tick)
        finally:
            conn.close()

    def run_sync(self, work: Callable[[Session], T], *, write: bool = True) -> T:
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                session = Session(conn, "sqlite")
                result = work(session)
                session.finish()
            except sqlite3.IntegrityError as exc:
                conn.execute("ROLLBACK")
                raise conflict() from exc
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

    async def run(self, work: Callable[[Session], T], *, write: bool = True) -> T:
        return self.run_sync(work, write=write)

    def checkpoint(self) -> None:
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self._closing.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=5)
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()


ANALYZE_EVERY = 5.0  # seconds between two looks at pg_stat_user_tables
ANALYZE_MIN_ROWS = 1_000  # rows changed before a table is worth a new ANALYZE ...
ANALYZE_FRACTION = 0.1  # ... and the share of its rows that must have changed
# psycopg prepares a statement run 5 times on a connection; PostgreSQL then plans it once for
# any parameter value (a generic plan), blind to how selective this code or date window is: a
# search repeated on a warm server got the plan of an average value (2-3x slower on the search
# benchmark's chained, date-window and category shapes). Plan with the actual values; a later
# ``-c plan_cache_mode=…`` in ``HYGIE_POSTGRES_OPTIONS`` overrides it.
CUSTOM_PLANS = "-c plan_cache_mode=force_custom_plan"
_ANALYZE_LOCK = 8675310  # advisory lock: one ANALYZE round at a time across servers
_STALE_TABLES = """SELECT relname, n_ins_since_vacuum >= threshold FROM (
    SELECT relname, n_mod_since_analyze, n_ins_since_vacuum, greatest(%s, %s * n_live_tup) AS threshold
    FROM pg_stat_user_tables WHERE schemaname = current_schema()) t
    WHERE n_mod_since_analyze >= threshold OR n_ins_since_vacuum >= threshold
    ORDER BY greatest(n_mod_since_analyze, n_ins_since_vacuum) DESC"""


class PostgresDatabase(Database):
    dialect: Dialect = "postgresql"

    def __init__(
        self, url: str, pool_size: int = 10, options: str = "", *, analyze_every: float = ANALYZE_EVERY
    ) -> None:
        from psycopg_pool import ConnectionPool

        self.url = url
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(pool_size, 1),
            kwargs={"autocommit": True, "options": f"{CUSTOM_PLANS} {options}".strip()},
            open=True,
            name="hygie",
        )
        self._pool.wait(timeout=30)
        self._limiter = anyio.CapacityLimiter(max(pool_size, 1))
        self.statistics = PostgresStatistics(url, every=analyze_every)

    def run_sync(self, work: Callable[[Session], T], *, write: bool = True) -> T:
        from psycopg import errors

        try:
            with self._pool.connection() as conn:
                session = Session(conn, "postgresql")
                if not write:  # READ COMMITTED: a transaction would add round trips, no consistency
                    return work(session)
                with conn.transaction():  # commits, or rolls back on error
                    result = work(session)
                    session.finish()
                return result
        except (errors.UniqueViolation, errors.SerializationFailure, errors.DeadlockDetected) as exc:
            raise conflict() from exc

    async def run(self, work: Callable[[Session], T], *, write: bool = True) -> T:
        return await anyio.to_thread.run_sync(lambda: self.run_sync(work, write=write), limiter=self._limiter)

    def close(self) -> None:
        self.statistics.close()
        self._pool.close()


class PostgresStatistics:
    """Planner statistics kept fresh after bulk writes, off the request path.

    Autovacuum analyses a table once ``n_mod_since_analyze`` passes 10 % of its rows, but only at
    its next nap (up to a minute per database) and after its other work: right after an import
    the planner still believes the tables are small and picks scans. Every ``every`` seconds a
    daemon thread reads ``pg_stat_user_tables`` on a connection of its own and runs ``ANALYZE``
    on each table of the schema whose inserted, updated and deleted rows since its last analyse
    reach ``max(min_rows, fraction × live rows)`` — the same rule as autovacuum's, without the
    wait. A table whose *inserted* rows since its last vacuum reach that threshold gets
    ``VACUUM (ANALYZE)`` instead: the vacuum marks its new pages all-visible, without which the
    planner cannot count on index-only scans (``resource (type, deleted, rk)``, migration 6) and
    reads the heap. The threshold grows with the table, so a load that multiplies a table's size
    costs a logarithmic number of rounds (an ``ANALYZE`` samples a bounded number of rows; a
    vacuum reads the pages written since the last one). One round at a time: the thread runs
    them in turn and an advisory lock keeps other servers on the same database from running one
    at the same moment. Errors are logged, never raised; ``close`` stops the thread and cancels
    a running command.
    """

    def __init__(
        self,
        url: str,
        *,
        every: float = ANALYZE_EVERY,
        min_rows: int = ANALYZE_MIN_ROWS,
        fraction: float = ANALYZE_FRACTION,
    ) -> None:
        self._url = url
        self._every = every
        self._min_rows = min_rows
        self._fraction = fraction
        self._log = get_logger("hygie.storage.statistics")
        self._closing = threading.Event()
        self._round = threading.Lock()
        self._conn: Any = None
        self._thread: threading.Thread | None = None
        if every > 0:
            self._thread = threading.Thread(target=self._loop, name="hygie-pg-analyze", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        """True while the background thread runs (False when built with ``every=0``)."""
        return self._thread is not None and self._thread.is_alive()

    def analyze_changed(self) -> list[str]:
        """One round: analyse (and vacuum) every table over the threshold; the tables, in order.

        An empty list when nothing changed enough, when another server holds the round, or when
        the statistics are being closed."""
        from psycopg import sql

        with self._round:
            if self._closing.is_set():
                return []
            conn = self._connection()
            if not conn.execute("SELECT pg_try_advisory_lock(%s)", (_ANALYZE_LOCK,)).fetchone()[0]:
                return []
            try:
                stale = conn.execute(_STALE_TABLES, (self._min_rows, self._fraction)).fetchall()
                done = []
                for table, inserted in stale:
                    if self._closing.is_set():
                        break
                    command = "VACUUM (ANALYZE) {}" if inserted else "ANALYZE {}"
                    conn.execute(sql.SQL(command).format(sql.Identifier(table)))
                    done.append(str(table))
                return done
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_ANALYZE_LOCK,))

    def _connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, autocommit=True, application_name="hygie-analyze")
        return self._conn

    def _loop(self) -> None:
        failures = 0
        while not self._closing.wait(self._every * 2 ** min(failures, 6)):  # back off to ~5 min
            try:
                done = self.analyze_changed()
            except Exception as exc:  # the server restarted, no ANALYZE right...: a later round
                failures += 1
                if not self._closing.is_set():
                    self._log.warning("analyze_failed", error=f"{type(exc).__name__}: {exc}"[:300])
                self._disconnect()
                continue
            failures = 0
            if done:
                self._log.info("analyzed", count=len(done))

    def _disconnect(self) -> None:
        with contextlib.suppress(Exception):
            if self._conn is not None:
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        """Stop the thread (cancelling a running ``ANALYZE``) and close its connection."""
        self._closing.set()
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.cancel()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._round.acquire(timeout=10):
            try:
                self._disconnect()
            finally:
                self._round.release()


def conflict() -> FhirError:
    """A concurrent write won the race (same new id, deadlock): the client may retry."""
    return FhirError.of(409, "conflict", "concurrent_write")


def sqlite_path(url: str) -> str:
    """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite://:memory:``."""
    path = unquote(url.removeprefix("sqlite://").removeprefix("/"))
    return ":memory:" if path == ":memory:" else path


def open_database(
    url: str, *, sqlite_synchronous: str = "NORMAL", pool_size: int = 10, postgres_options: str = ""
) -> Database:
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        return SQLiteDatabase(url, sqlite_synchronous)
    if scheme in ("postgresql", "postgres"):
        return PostgresDatabase(url, pool_size, postgres_options)
    raise ValueError(f"unsupported database URL scheme: {scheme!r} (use sqlite:// or postgresql://)")
