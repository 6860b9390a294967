"""Start and stop a fresh Hygie server (and its fresh database) for one benchmark run.

The server is ``hygie serve`` (the public contract in /work/shared/design/ARCHITECTURE.md), pinned to
one core with ``taskset -c 0`` and configured by ``HYGIE_DATABASE_URL``: a fresh SQLite file under
``var/bench/`` or a fresh PostgreSQL database created from an admin URL
(``HYGIE_BENCH_POSTGRES_URL``, ``HYGIE_TEST_POSTGRES_URL``, or the URL printed by ``scripts/pg.sh start``).
Readiness is ``GET /readyz`` → 200. Also holds a trivial HTTP/1.1 server (RFC 9112) used to measure
the load generator's own ceiling.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench import loadgen

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
SERVER_CORE = 0
LOADGEN_CORE = 1


def stamp() -> str:
    """UTC timestamp used in file and database names."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def free_port() -> int:
    """A currently free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def hygie_command() -> list[str]:
    """The ``hygie`` executable of this venv (falls back to ``python -m hygie``)."""
    exe = Path(sys.executable).parent / "hygie"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "hygie"]


def taskset_prefix(core: int) -> list[str]:
    """``taskset -c CORE`` when available and the core exists, else nothing."""
    if shutil.which("taskset") and core < (os.cpu_count() or 1):
        return ["taskset", "-c", str(core)]
    return []


# --------------------------------------------------------------------------- databases


@dataclass
class Database:
    """A fresh benchmark database and how to measure its size."""

    kind: str  # "sqlite" | "postgresql"
    url: str
    path: Path | None = None  # SQLite file
    admin_url: str | None = None  # PostgreSQL maintenance URL
    name: str | None = None  # PostgreSQL database name
    baseline_bytes: int = 0  # size right after the server created the schema

    def size_bytes(self) -> int:
        """Bytes on disk now (SQLite: after a TRUNCATE checkpoint; stop the server first)."""
        if self.kind == "sqlite":
            assert self.path is not None
            return sqlite_size(self.path)
        return pg_database_size(self.url)

    def drop(self) -> None:
        """Remove the database (PostgreSQL) or keep the SQLite file for inspection."""
        if self.kind == "postgresql" and self.admin_url and self.name:
            with _pg_admin(self.admin_url) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def sqlite_size(path: Path) -> int:
    """Checkpoint the WAL into the main file, then return db + -wal + -shm sizes."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


def pg_database_size(url: str) -> int:
    """``pg_database_size`` of the database ``url`` points at (after a CHECKPOINT when allowed)."""
    with psycopg.connect(url, autocommit=True) as conn:
        with contextlib.suppress(psycopg.Error):
            conn.execute("CHECKPOINT")
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        assert row is not None
        return int(row[0])


@contextlib.contextmanager
def _pg_admin(admin_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        yield conn


def postgres_admin_url() -> str | None:
    """Admin URL from the environment, else from ``scripts/pg.sh`` (which starts a cluster)."""
    for var in ("HYGIE_BENCH_POSTGRES_URL", "HYGIE_TEST_POSTGRES_URL"):
        if os.environ.get(var):
            return os.environ[var]
    script = ROOT / "scripts" / "pg.sh"
    if script.exists():
        out = subprocess.run(
            ["bash", str(script), "start"], capture_output=True, text=True, timeout=120, check=False
        )
        for line in reversed(out.stdout.splitlines()):
            if line.strip().startswith(("postgresql://", "postgres://")):
                url = line.strip()
                os.environ["HYGIE_BENCH_POSTGRES_URL"] = url
                return url
        print(f"scripts/pg.sh gave no URL (rc={out.returncode}): {out.stderr[-500:]}", file=sys.stderr)
    return None


def fresh_database(kind: str, label: str) -> Database:
    """Create an empty database for one run: an SQLite file under var/bench/ or a new PG database."""
    if kind == "sqlite":
        VAR.mkdir(parents=True, exist_ok=True)
        path = VAR / f"{label}-{stamp()}.db"
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
        return Database("sqlite", f"sqlite:///{path}", path=path)
    if kind != "postgresql":
        raise ValueError(f"unknown database kind {kind!r}")
    admin = postgres_admin_url()
    if admin is None:
        raise RuntimeError(
            "no PostgreSQL: set HYGIE_BENCH_POSTGRES_URL (or HYGIE_TEST_POSTGRES_URL), or add scripts/pg.sh"
        )
    name = f"hygie_bench_{label}_{stamp()}".lower()
    with _pg_admin(admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    return Database("postgresql", url, admin_url=admin, name=name)


# --------------------------------------------------------------------------- the server


@dataclass
class Server:
    """A running ``hygie serve`` process."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, wait, then SIGKILL if it did not exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)


def core_ticks() -> dict[int, tuple[int, int, int]]:
    """Per core (busy, iowait, total) jiffies from /proc/stat; busy excludes idle and iowait."""
    ticks: dict[int, tuple[int, int, int]] = {}
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return ticks
    for line in lines:
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            numbers = [int(v) for v in values[:8]]  # user nice system idle iowait irq softirq steal
            total = sum(numbers)
            ticks[int(name[3:])] = (total - numbers[3] - numbers[4], numbers[4], total)
    return ticks


def background_load(seconds: float = 1.0, wait_quiet: float = 0.0) -> dict[str, float]:
    """How busy each core is with nothing of ours running (other processes skew the figures).

    With ``wait_quiet`` > 0, keep sampling for up to that many seconds until every core is
    under 10 % busy.
    """
    give_up = time.monotonic() + wait_quiet
    while True:
        before = core_ticks()
        time.sleep(seconds)
        load = {}
        for core, (busy, _, total) in core_ticks().items():
            busy0, _, total0 = before.get(core, (0, 0, 0))
            if total > total0:
                load[f"core{core}_busy"] = round((busy - busy0) / (total - total0), 3)
        if all(v <= 0.1 for v in load.values()) or time.monotonic() >= give_up:
            break
    if any(v > 0.1 for v in load.values()):
        print(f"warning: the machine is busy before the run ({load}); figures will be low", file=sys.stderr)
    return load


class CpuSampler:
    """CPU used during a window: the server process, and how busy each core was.

    Core busy time includes kernel work not charged to any process (loopback softirqs), so
    ``core0_busy`` close to 1.0 means the server's core was saturated.
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self.proc_from = 0.0
        self.cores_from: dict[int, tuple[int, int, int]] = {}
        self.t_from = 0.0

    def start(self) -> None:
        """Open the window."""
        self.proc_from = self.server.cpu_seconds()
        self.cores_from = core_ticks()
        self.t_from = time.monotonic()

    def stop(self) -> dict[str, float]:
        """Close the window: server process CPU fraction and per-core busy fractions."""
        wall = time.monotonic() - self.t_from
        used = self.server.cpu_seconds() - self.proc_from
        block = {"cpu_seconds": round(used, 3), "cpu_fraction": round(used / wall, 3) if wall else 0.0}
        for core, (busy, iowait, total) in core_ticks().items():
            busy0, iowait0, total0 = self.cores_from.get(core, (0, 0, 0))
            if total > total0:
                block[f"core{core}_busy"] = round((busy - busy0) / (total - total0), 3)
                block[f"core{core}_iowait"] = round((iowait - iowait0) / (total - total0), 3)
        return block


def wait_ready(host: str, port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Poll ``/readyz`` until 200; raise if the process died or the timeout passed."""
    deadline = time.monotonic() + timeout
    url = f"http://{host}:{port}/readyz"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before becoming ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"server not ready after {timeout} s ({url})")


def start_server(database: Database, label: str, extra_env: dict[str, str] | None = None) -> Server:
    """Start ``hygie serve`` on a free loopback port, pinned to core 0, and wait until ready."""
    VAR.mkdir(parents=True, exist_ok=True)
    host, port = "127.0.0.1", free_port()
    log_path = VAR / f"server-{label}-{database.kind}-{stamp()}.log"
    env = {
        **os.environ,
        "HYGIE_DATABASE_URL": database.url,
        "HYGIE_KEYS_DIR": str(VAR / "keys"),
        "HYGIE_RATE_LIMIT_PER_SECOND": "0",  # the load generator is one client address
        **(extra_env or {}),
    }
    loadgen.use_token(
        _operator_token() if env.get("HYGIE_AUTH_REQUIRED", "true").lower() != "false" else None
    )
    cmd = [*taskset_prefix(SERVER_CORE), *hygie_command(), "serve", "--host", host, "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(host, port, process)
    except BaseException:
        Server(process, host, port, log_path).stop()
        print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    return Server(process, host, port, log_path, extra_env or {})


def _operator_token() -> str:
    """A system/*.cruds token, as ``hygie token issue`` prints it, for the server's key dir."""
    from hygie.auth.keys import load_keys
    from hygie.auth.operator import operator_token

    return operator_token(
        load_keys(VAR / "keys"), "system/*.cruds", patient=None, ttl=86_400, now=int(time.time())
    )


@contextlib.contextmanager
def running_server(database: Database, label: str) -> Iterator[Server]:
    """Context manager around :func:`start_server` / :meth:`Server.stop`."""
    server = start_server(database, label)
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- trivial server

_TRIVIAL_BODY = b'{"status":"ok"}'
_TRIVIAL_RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(_TRIVIAL_BODY),
    _TRIVIAL_BODY,
)


class _TrivialProtocol(asyncio.Protocol):
    """Answers every complete request head with a fixed 200 (requests carry no body)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        count = self.buffer.count(b"\r\n\r\n")
        if count and self.transport is not None:
            self.buffer = self.buffer[self.buffer.rindex(b"\r\n\r\n") + 4 :]
            self.transport.write(_TRIVIAL_RESPONSE * count)


def serve_trivial(port: int) -> None:
    """Serve the fixed response on 127.0.0.1:port forever (run as a pinned subprocess)."""
    from bench.loadgen import new_event_loop

    loop = new_event_loop()
    server = loop.run_until_complete(loop.create_server(_TrivialProtocol, "127.0.0.1", port))
    print(f"trivial server on 127.0.0.1:{port}", flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.close()


def start_trivial() -> Server:
    """Start the trivial server as a subprocess pinned to core 0."""
    VAR.mkdir(parents=True, exist_ok=True)
    host, port = "127.0.0.1", free_port()
    log_path = VAR / f"trivial-{stamp()}.log"
    code = f"from bench.server import serve_trivial; serve_trivial({port})"
    cmd = [*taskset_prefix(SERVER_CORE), sys.executable, "-c", code]
    with log_path.open("wb") as log:
        process = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return Server(process, host, port, log_path)
        time.sleep(0.05)
    Server(process, host, port, log_path).stop()
    raise TimeoutError("trivial server did not start")
