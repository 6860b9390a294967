"""Shared pytest fixtures: the two database backends, an in-process client, a live server.

How the suite is organised and run: docs/testing.md. FHIR R4 REST API under test:
https://hl7.org/fhir/R4/http.html

Fixtures for every test file of the project:

- ``database_url``: the URL of a fresh database that no other test uses, parametrized over the two
  backends — each test asking for it runs as ``test_x[sqlite]`` and ``test_x[postgresql]``.
  SQLite: a file in the test's ``tmp_path`` (not created yet). PostgreSQL: a database created for
  the test on the server of ``HYGIE_TEST_POSTGRES_URL`` and dropped afterwards; for speed it is
  cloned from a template database that the app migrated once per session, so its schema is
  already there. Either way, opening it through the app (or the idempotent migrations) gives the
  current schema. Without ``HYGIE_TEST_POSTGRES_URL`` the PostgreSQL cases fail — they are never
  skipped — unless ``HYGIE_TEST_BACKENDS=sqlite`` deselects them explicitly.
- ``client``: ``starlette.testclient.TestClient`` over ``create_app(Settings(database_url=…))``,
  entered as a context manager so the lifespan (schema migration, pools) runs.
- ``live_server``: ``python -m hygie serve`` in a subprocess on a free port of 127.0.0.1 with
  ``HYGIE_DATABASE_URL=database_url``; the value is the server's root URL
  (``http://127.0.0.1:PORT``; FHIR base ``f"{live_server}/fhir"``), ready (``/readyz`` answered 200).
- ``live_server_factory``: ``factory(database_url) -> LiveServer`` for tests that kill and restart
  servers (``.kill()`` is SIGKILL, ``.start()`` starts again on the same database).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from psycopg import sql
from starlette.testclient import TestClient  # uses httpx2 (the [test] extra)

from hygie.app import create_app
from hygie.settings import Settings
from tests.support import open_client

BACKENDS = ("sqlite", "postgresql")
POSTGRES_URL_ENV = "HYGIE_TEST_POSTGRES_URL"
BACKENDS_ENV = "HYGIE_TEST_BACKENDS"
SERVER_START_TIMEOUT = 60.0


# --- backend selection -------------------------------------------------------------------------


def selected_backends() -> tuple[str, ...]:
    """Backends chosen by ``HYGIE_TEST_BACKENDS`` (comma-separated); both when unset."""
    raw = os.environ.get(BACKENDS_ENV, "")
    chosen = tuple(name.strip() for name in raw.split(",") if name.strip())
    unknown = sorted(set(chosen) - set(BACKENDS))
    if unknown:
        raise pytest.UsageError(f"{BACKENDS_ENV}: unknown backend(s) {unknown}; choose among {BACKENDS}")
    return chosen or BACKENDS


def pytest_configure(config: pytest.Config) -> None:
    selected_backends()  # fail fast on a typo


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (never skip) the cases of backends left out by ``HYGIE_TEST_BACKENDS``."""
    chosen = selected_backends()
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec is not None else None
        (dropped if backend is not None and backend not in chosen else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# --- PostgreSQL databases ----------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _create_sql(name: str, template: str) -> sql.Composable:
    return sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))


def _drop_sql(name: str) -> sql.Composable:
    return sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))


class PostgresDatabases:
    """One database per test, cloned from a template migrated once per session (and xdist worker).

    A clone costs ~0.1 s of fsync-bound I/O, so a background thread keeps ``PREFETCH`` clones
    ready and drops used databases while the tests run.
    """

    PREFETCH = 2

    def __init__(self, admin_url: str) -> None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.admin_url = admin_url
        self.prefix = f"hygie_test_{worker}_{uuid.uuid4().hex[:8]}"
        self._counter = itertools.count(1)
        self._template: str | None = None
        self._conn = psycopg.connect(admin_url, autocommit=True)
        self._jobs: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        self._worker: threading.Thread | None = None

    def _build_template(self) -> str:
        name = f"{self.prefix}_template"
        self._conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        with TestClient(create_app(Settings(database_url=with_database(self.admin_url, name)))):
            pass  # the lifespan migrates the schema
        # Nobody may connect to the template any more, or cloning it would fail.
        self._conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
        self._conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        return name

    def _work(self, template: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while (job := self._jobs.get()) is not None:
                action, name = job
                try:
                    conn.execute(_create_sql(name, template) if action == "create" else _drop_sql(name))
                except psycopg.Error as exc:
                    if action == "create":
                        self._ready.put(exc)  # raised in the test that takes it
                    continue
                if action == "create":
                    self._ready.put(name)

    def _order_one(self) -> None:
        self._jobs.put(("create", f"{self.prefix}_{next(self._counter)}"))

    def create(self) -> str:
        """Take a fresh database for one test; returns its URL."""
        if self._template is None:
            self._template = self._build_template()
            self._worker = threading.Thread(target=self._work, args=(self._template,), daemon=True)
            self._worker.start()
            for _ in range(self.PREFETCH):
                self._order_one()
        item = self._ready.get(timeout=300)
        self._order_one()
        if isinstance(item, BaseException):
            raise RuntimeError(f"could not create a test database from {self._template}") from item
        return with_database(self.admin_url, item)

    def drop(self, url: str) -> None:
        """Drop a database taken with :meth:`create` (in the background)."""
        self._jobs.put(("drop", urlsplit(url).path.lstrip("/")))

    def close(self) -> None:
        try:
            if self._worker is not None:
                self._jobs.put(None)
                self._worker.join(timeout=300)
            while not self._ready.empty():
                item = self._ready.get()
                if isinstance(item, str):
                    self._conn.execute(_drop_sql(item))
            if self._template is not None:
                self._conn.execute(_drop_sql(self._template))
        finally:
            self._conn.close()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """Session-wide creator of per-test PostgreSQL databases (needs HYGIE_TEST_POSTGRES_URL)."""
    admin_url = os.environ.get(POSTGRES_URL_ENV)
    if not admin_url:
        pytest.fail(
            f"{POSTGRES_URL_ENV} is not set, so the [postgresql] cases cannot run. Run scripts/test.sh "
            f'(it starts a throwaway cluster), or `eval "$(scripts/pg.sh start >/dev/null; '
            f'scripts/pg.sh env)"`, or set {BACKENDS_ENV}=sqlite to deselect them explicitly.',
            pytrace=False,
        )
    databases = PostgresDatabases(admin_url)
    try:
        yield databases
    finally:
        databases.close()


# --- the generic fixtures ----------------------------------------------------------------------


# The parameters of every ``database_url`` fixture (ids: ``HYGIE_TEST_BACKENDS`` selects by them).
BACKEND_PARAMS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def fresh_database_url(
    request: pytest.FixtureRequest, backend: str, directory: Path, name: str = "hygie.db"
) -> Iterator[str]:
    """A fresh database of ``backend`` for a fixture to yield from: SQLite, the file ``name`` in
    ``directory``; PostgreSQL, a new database dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{(directory / name).as_posix()}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    url = databases.create()
    try:
        yield url
    finally:
        databases.drop(url)


@pytest.fixture(params=BACKEND_PARAMS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL of each backend (see the module docstring)."""
    yield from fresh_database_url(request, request.param, tmp_path)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings on ``database_url`` with a key directory of the test's own."""
    return Settings(database_url=database_url, keys_dir=tmp_path / "keys")


@pytest.fixture
def client(settings: Settings) -> Iterator[Any]:
    """In-process HTTP client over the app (lifespan run), authenticated as an operator
    (``system/*.cruds``, the token ``hygie token issue`` prints)."""
    with open_client(settings) as test_client:
        yield test_client


# --- live server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """``python -m hygie serve`` as a subprocess (its own process group) on a free port."""

    def __init__(self, database_url: str, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0
        self.log_path = workdir / "server.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def fhir_url(self) -> str:
        return f"{self.base_url}/fhir"

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no server log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def start(self, timeout: float = SERVER_START_TIMEOUT) -> None:
        """Start (or restart) the server on the same database and wait for /readyz."""
        assert self.process is None or self.process.poll() is not None, "server already running"
        self.port = free_port()
        self.starts += 1
        env = {
            **os.environ,
            "HYGIE_DATABASE_URL": self.database_url,
            "PYTHONUNBUFFERED": "1",
            # Black-box tests of FHIR semantics run without tokens (every request acts as a
            # system client: the same SQL as a system/*.cruds token); the security tests
            # start their servers with HYGIE_AUTH_REQUIRED=true.
            "HYGIE_AUTH_REQUIRED": "false",
            **self.extra_env,
        }
        with self.log_path.open("ab") as log:
            log.write(f"--- start #{self.starts} on port {self.port}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hygie", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    pytest.fail(
                        f"hygie serve exited with {self.process.returncode} before being ready:\n"
                        f"{self.log_tail()}",
                        pytrace=False,
                    )
                with contextlib.suppress(httpx.TransportError):
                    if http.get(f"{self.base_url}/readyz").status_code == 200:
                        return
                time.sleep(0.05)
        self.kill()
        pytest.fail(f"hygie serve not ready after {timeout}s:\n{self.log_tail()}", pytrace=False)

    def _signal(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL the server's whole process group (a crash: no shutdown code runs)."""
        if self.process is None or self.process.poll() is not None:
            return
        self._signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Graceful stop (SIGTERM), SIGKILL after 15 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def live_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LiveServer]]:
    """``factory(database_url, env=None) -> LiveServer``, started; all stopped at teardown."""
    servers: list[LiveServer] = []

    def factory(database_url: str, env: dict[str, str] | None = None) -> LiveServer:
        server = LiveServer(database_url, tmp_path_factory.mktemp("live-server"), env)
        servers.append(server)
        server.start()
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture
def live_server(database_url: str, live_server_factory: Callable[..., LiveServer]) -> str:
    """Root URL of a running ``hygie serve`` on ``database_url`` (FHIR base: ``+ "/fhir"``)."""
    return live_server_factory(database_url).base_url
