"""The benchmark load generator's bookkeeping, against a tiny local HTTP/1.1 server (RFC 9112)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from bench.loadgen import CONNECTION_ERROR, Client, Response, RunResult, percentile, run


class TinyServer:
    """Keep-alive HTTP/1.1 server: /ok → 200, /fail → 500, /chunked → chunked 200, /drop → hang up."""

    def __init__(self) -> None:
        self.served: Counter[str] = Counter()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> TinyServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.served[path] += 1
                if path == "/drop":
                    break
                if path == "/chunked":
                    writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                                 b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
                else:
                    status = b"200 OK" if path == "/ok" else b"500 Internal Server Error"
                    payload = b"%d" % len(body)
                    writer.write(b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n%s"
                                 % (status, len(payload), payload))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            await writer.wait_closed()


async def _mixed(client: Client, index: int, mismatches: list[str]) -> None:
    """Each user: ok, fail (with a body), chunked; user 0 also drops its connection once."""
    dropped = False
    while client.running:
        r = await client.request("ok", "GET", "/ok")
        _expect(r, 200, b"0", mismatches)
        body = b"x" * (10 + index)
        r = await client.request("fail", "POST", "/fail", body)
        _expect(r, 500, str(len(body)).encode(), mismatches)
        r = await client.request("chunked", "GET", "/chunked")
        _expect(r, 200, b"abcde", mismatches)
        if index == 0 and not dropped:
            dropped = True
            r = await client.request("drop", "GET", "/drop")
            _expect(r, CONNECTION_ERROR, None, mismatches)


def _expect(r: Response, status: int, body: bytes | None, mismatches: list[str]) -> None:
    if r.status != status or (body is not None and r.body != body):
        mismatches.append(f"{r.status} {r.body!r}")


async def _drive(**kwargs: float | int | None) -> tuple[RunResult, Counter[str], list[str]]:
    mismatches: list[str] = []

    async def scenario(client: Client, index: int) -> None:
        await _mixed(client, index, mismatches)

    async with TinyServer() as srv:
        result = await run("127.0.0.1", srv.port, scenario, connections=4, **kwargs)  # type: ignore[arg-type]
    return result, srv.served, mismatches


def test_counts_and_latencies_are_consistent() -> None:
    result, served, mismatches = asyncio.run(_drive(duration=1.0))
    summary = result.summary()
    per_op = summary["per_op"]

    assert mismatches == []
    for op in ("ok", "fail", "chunked", "drop"):
        assert per_op[op]["requests"] == served[f"/{op}"] > 0
        assert len(result.recorder.ops[op].latencies_ns) == served[f"/{op}"]
    assert per_op["drop"]["requests"] == 1
    assert summary["requests"] == sum(served.values())
    assert summary["errors"] == served["/fail"] + served["/drop"]
    assert summary["statuses"] == {
        "0": 1, "200": served["/ok"] + served["/chunked"], "500": served["/fail"],
    }
    assert per_op["fail"]["statuses"] == {"500": served["/fail"]}
    for block in (summary, *per_op.values()):
        assert 0 < block["p50_ms"] <= block["p95_ms"] <= block["p99_ms"] <= block["max_ms"]
    assert summary["ops_per_s"] == round(summary["requests"] / result.wall_s, 1)


def test_request_budget_stops_the_run() -> None:
    result, served, mismatches = asyncio.run(_drive(duration=30.0, max_requests=50))
    assert mismatches == []
    assert sum(served.values()) == 50
    assert result.summary()["requests"] == 50
    assert result.wall_s < 30.0


def test_warmup_requests_are_not_recorded() -> None:
    result, served, _ = asyncio.run(_drive(duration=0.4, warmup=0.4))
    recorded = result.summary()["requests"]
    assert 0 < recorded < sum(served.values())


def test_only_loopback_targets_are_accepted() -> None:
    async def idle(client: Client, index: int) -> None:
        del client, index

    for host in ("10.0.0.1", "192.168.1.10", "example.org"):
        with pytest.raises(ValueError, match="loopback"):
            asyncio.run(run(host, 80, idle, connections=1, duration=0.1))


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7], 1) == 7.0
