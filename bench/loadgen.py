"""Lean keep-alive HTTP/1.1 load generator on raw asyncio streams.

Implements just enough of HTTP/1.1 message framing (RFC 9112, https://www.rfc-editor.org/rfc/rfc9112)
to drive a server hard from one core: persistent connections, ``Content-Length`` request bodies,
``Content-Length`` or ``chunked`` response bodies. No HTTP client library sits in the hot loop.

A *scenario* is an async function ``scenario(client, index)`` run by each of N virtual users, one
connection each; it calls :meth:`Client.request` with an operation name (``"create Patient"``…) and
loops until :meth:`Client.running` turns false (duration elapsed or request budget spent). Every
request's latency is recorded under its operation name; any non-2xx status (or connection failure,
recorded as status ``0``) counts as an error. Only loopback targets are accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import os
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

CONNECTION_ERROR = 0
"""Pseudo status recorded when the connection failed (reset, refused, malformed response)."""

_HEADER_END = b"\r\n\r\n"
_CONTENT_TYPE = b"application/fhir+json"


@dataclass(slots=True)
class Response:
    """One HTTP response: status code, raw header block and body."""

    status: int
    head: bytes
    body: bytes

    def header(self, name: str) -> str | None:
        """Value of the first header called ``name`` (case-insensitive), or ``None``."""
        wanted = name.lower().encode("ascii") + b":"
        for line in self.head.split(b"\r\n")[1:]:
            if line[: len(wanted)].lower() == wanted:
                return line[len(wanted) :].strip().decode("latin-1")
        return None


@dataclass(slots=True)
class OpStats:
    """Latencies (ns) and status counts of one operation type."""

    latencies_ns: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0


class Recorder:
    """Per-operation latency bookkeeping, ignoring requests that started during the warm-up."""

    def __init__(self, record_from_ns: int = 0) -> None:
        self.record_from_ns = record_from_ns
        self.ops: dict[str, OpStats] = {}

    def record(self, op: str, started_ns: int, latency_ns: int, status: int) -> None:
        """Record one finished request (``started_ns`` is a ``time.perf_counter_ns()`` value)."""
        if started_ns < self.record_from_ns:
            return
        stats = self.ops.get(op)
        if stats is None:
            stats = self.ops[op] = OpStats()
        stats.latencies_ns.append(latency_ns)
        stats.statuses[status] += 1
        if not 200 <= status < 300:
            stats.errors += 1


class Budget:
    """Stops the run at a deadline or after a number of requests, whichever comes first."""

    def __init__(self, deadline: float, max_requests: int | None) -> None:
        self.deadline = deadline
        self.remaining = max_requests if max_requests is not None else -1

    def take(self) -> bool:
        """Reserve one request; false once the run is over."""
        if self.remaining == 0 or time.perf_counter() >= self.deadline:
            return False
        if self.remaining > 0:
            self.remaining -= 1
        return True


class BudgetExhaustedError(Exception):
    """Raised by :meth:`Client.request` when the run is over; ends the virtual user quietly."""


_AUTHORIZATION = b""


def use_token(token: str | None) -> None:
    """Send ``Authorization: Bearer token`` on every request of the clients created afterwards
    (the benchmark runs against a server with authentication on, as deployed)."""
    global _AUTHORIZATION  # noqa: PLW0603 — one setting for the whole benchmark process
    _AUTHORIZATION = f"Authorization: Bearer {token}\r\n".encode() if token else b""


class Client:
    """One virtual user: a persistent connection and the shared recorder and budget."""

    def __init__(
        self, host: str, port: int, recorder: Recorder, budget: Budget, timeout: float = 60.0
    ) -> None:
        self.host = host
        self.port = port
        self.recorder = recorder
        self.budget = budget
        self.timeout = timeout
        self._prefix = (
            f" HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/fhir+json\r\n".encode() + _AUTHORIZATION
        )
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def running(self) -> bool:
        """True while the run's deadline has not passed and requests remain."""
        return self.budget.remaining != 0 and time.perf_counter() < self.budget.deadline

    async def close(self) -> None:
        """Close the connection, if open."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def request(self, op: str, method: str, path: str, body: bytes | None = None) -> Response:
        """Send one request and record its latency under ``op``.

        Raises :class:`BudgetExhaustedError` when the run is over before the request is sent.
        Connection failures are recorded as status ``0`` and returned as such (the connection is
        reopened by the next request).
        """
        if not self.budget.take():
            raise BudgetExhaustedError
        if body is None:
            message = b"%s %s%s\r\n" % (method.encode(), path.encode(), self._prefix)
        else:
            message = b"%s %s%sContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
                method.encode(),
                path.encode(),
                self._prefix,
                _CONTENT_TYPE,
                len(body),
                body,
            )
        t0 = time.perf_counter_ns()
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._exchange(message)
        except (
            ConnectionError,
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            ValueError,
        ) as exc:
            await self.close()
            response = Response(CONNECTION_ERROR, b"", repr(exc).encode())
        self.recorder.record(op, t0, time.perf_counter_ns() - t0, response.status)
        return response

    async def _exchange(self, message: bytes) -> Response:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        reader, writer = self._reader, self._writer
        assert reader is not None
        writer.write(message)
        if len(message) > 65536:
            await writer.drain()
        head = await reader.readuntil(_HEADER_END)
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at >= 0:
            end = lower.index(b"\r\n", at + 2)
            body = await reader.readexactly(int(lower[at + 17 : end]))
        elif b"\r\ntransfer-encoding: chunked" in lower:
            body = await _read_chunked(reader)
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:  # body delimited by connection close
            body = await reader.read()
            await self.close()
            return Response(status, head, body)
        if b"\r\nconnection: close" in lower:
            await self.close()
        return Response(status, head, body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


Scenario = Callable[[Client, int], Awaitable[None]]


@dataclass(slots=True)
class RunResult:
    """Outcome of :func:`run`: the recorder plus the measured window and the generator's CPU use."""

    recorder: Recorder
    wall_s: float
    cpu_s: float
    connections: int

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: overall and per-operation throughput, percentiles, errors."""
        return summarize(self.recorder, self.wall_s, self.cpu_s, self.connections)


def percentile(sorted_values: list[int], q: float) -> float:
    """Nearest-rank percentile ``q`` (0–100) of already sorted values, in the values' unit."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def _latency_block(latencies_ns: list[int]) -> dict[str, float]:
    values = sorted(latencies_ns)
    ms = 1e-6
    return {
        "p50_ms": round(percentile(values, 50) * ms, 3),
        "p95_ms": round(percentile(values, 95) * ms, 3),
        "p99_ms": round(percentile(values, 99) * ms, 3),
        "max_ms": round(values[-1] * ms, 3) if values else math.nan,
        "mean_ms": round(sum(values) / len(values) * ms, 3) if values else math.nan,
    }


def summarize(recorder: Recorder, wall_s: float, cpu_s: float, connections: int) -> dict[str, Any]:
    """Summarise a recorder over a measured window of ``wall_s`` seconds."""
    per_op: dict[str, Any] = {}
    everything: list[int] = []
    statuses: Counter[int] = Counter()
    errors = 0
    for op, stats in recorder.ops.items():
        count = len(stats.latencies_ns)
        per_op[op] = {
            "requests": count,
            "ops_per_s": round(count / wall_s, 1) if wall_s > 0 else math.nan,
            "errors": stats.errors,
            "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
            **_latency_block(stats.latencies_ns),
        }
        everything.extend(stats.latencies_ns)
        statuses.update(stats.statuses)
        errors += stats.errors
    return {
        "requests": len(everything),
        "ops_per_s": round(len(everything) / wall_s, 1) if wall_s > 0 else math.nan,
        "errors": errors,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "wall_s": round(wall_s, 3),
        "connections": connections,
        "loadgen_cpu_fraction": round(cpu_s / wall_s, 3) if wall_s > 0 else math.nan,
        **_latency_block(everything),
        "per_op": per_op,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(
    host: str,
    port: int,
    scenario: Scenario,
    *,
    connections: int = 16,
    duration: float = 10.0,
    warmup: float = 0.0,
    max_requests: int | None = None,
    timeout: float = 60.0,
    on_window: Callable[[], object] | None = None,
) -> RunResult:
    """Run ``scenario`` on ``connections`` virtual users for ``warmup + duration`` seconds.

    Requests started during the warm-up are not recorded. ``max_requests`` caps the number of
    requests sent (warm-up included); the run then ends early and the window is the actual one.
    ``on_window`` is called when the measured window opens (e.g. to sample the server's CPU time).
    """
    require_loopback(host)
    start = time.perf_counter()
    recorder = Recorder(record_from_ns=time.perf_counter_ns() + int(warmup * 1e9))
    budget = Budget(start + warmup + duration, max_requests)
    clients = [Client(host, port, recorder, budget, timeout) for _ in range(connections)]

    async def user(client: Client, index: int) -> None:
        try:
            await scenario(client, index)
        except BudgetExhaustedError:
            pass
        finally:
            await client.close()

    tasks = [asyncio.create_task(user(c, i)) for i, c in enumerate(clients)]
    if warmup > 0:
        await asyncio.sleep(warmup)
    if on_window is not None:
        on_window()
    measured_from = time.perf_counter()
    cpu_from = _cpu_seconds()
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - measured_from
    return RunResult(recorder, wall, _cpu_seconds() - cpu_from, connections)


def require_loopback(host: str) -> None:
    """Refuse any target that is not on this machine's loopback interface."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the load generator only targets loopback addresses, not {host!r}")


def pin_to_core(core: int) -> bool:
    """Pin the calling process to one CPU core when the machine has it; true if pinned."""
    if core < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {core})
        return True
    return False


def new_event_loop() -> asyncio.AbstractEventLoop:
    """An event loop for the generator: uvloop when installed (it ships with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_sync(coro: Awaitable[RunResult]) -> RunResult:
    """Run a coroutine (usually :func:`run`) to completion on a fresh generator event loop."""
    loop = new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
