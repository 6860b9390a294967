"""Alert latency under ingestion load (issue 6 target: from ``$ingest`` to the Subscription
notification, p99 < 1 s under the ≥ 50,000 samples/s ingestion load).

One fresh server (``hygie serve`` pinned to core 0, deployed settings: monitoring rounds every
60 s, the Subscription worker polling every 0.2 s; only the loopback rest-hook host is allowed)
and, in this process on core 1:

- a rest-hook receiver (a minimal HTTP/1.1 server on loopback) and one Subscription to the
  ``monitoring-alert`` topic with ``full-resource`` content, created before the run;
- users 1…N-1: the ``ingest`` benchmark's load, compact series batches of normal heart rate
  (600 values each) for their own patients, as fast as the server takes them;
- user 0, the probe: every :data:`PROBE_EVERY_S` it creates a new patient and sends 12 minutes
  of SpO2 at 87 % ending now (the ``spo2-low`` rule). One latency sample is the time from sending
  that request to receiving the notification whose Task is for that patient.

docs/monitoring.md (alerts), docs/subscriptions.md (delivery path: the debounced check after
``$ingest``, then the change-feed poll).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from bench import ingest
from bench.loadgen import Client, Scenario

ALERT_TOPIC = "https://hygie.health/fhir/SubscriptionTopic/monitoring-alert"
IG = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
PROBE_EVERY_S = 1.0
LOW_SPO2 = 87
SERVER_ENV = {"HYGIE_SUBSCRIPTION_ALLOWED_HOSTS": "127.0.0.1"}


class Receiver:
    """A loopback HTTP/1.1 server taking rest-hook POSTs; records when each alert Task arrives."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}  # patient id → perf_counter at arrival
        self.notifications = 0
        self.server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                at = time.perf_counter()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                self._record(body, at)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def _record(self, body: bytes, at: float) -> None:
        try:
            bundle = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        self.notifications += 1
        for entry in bundle.get("entry", [])[1:]:
            resource = entry.get("resource") or {}
            if resource.get("resourceType") == "Task":
                patient = str((resource.get("for") or {}).get("reference", "")).removeprefix("Patient/")
                self.arrived.setdefault(patient, at)


def subscription(endpoint: str) -> bytes:
    """A rest-hook Subscription to every monitoring alert, full resources."""
    payload = {"extension": [{"url": f"{IG}/backport-payload-content", "valueCode": "full-resource"}]}
    return orjson.dumps(
        {
            "resourceType": "Subscription",
            "meta": {"profile": [f"{IG}/backport-subscription"]},
            "status": "requested",
            "reason": "alert latency benchmark",
            "criteria": ALERT_TOPIC,
            "channel": {
                "type": "rest-hook",
                "endpoint": endpoint,
                "payload": "application/fhir+json",
                "_payload": payload,
            },
        }
    )


def low_spo2(now: datetime) -> bytes:
    """12 minutes of SpO2 at 87 % ending at ``now`` (compact series format)."""
    start = (now - timedelta(minutes=11)).replace(microsecond=0)
    return orjson.dumps(
        {
            "kind": "spo2",
            "unit": "%",
            "device": {"model": "Bench oximeter", "identifier": "bo-1"},
            "start": start.isoformat(),
            "period": 60,
            "values": [LOW_SPO2] * 12,
        }
    )


class Probe:
    """The probe user's sent times (patient → perf_counter at send, and wall-clock time)."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.sent_wall: dict[str, float] = {}
        self.raised_wall: dict[str, float] = {}  # the alert Task's creation time (server clock)

    def split_ms(self, receiver: Receiver) -> tuple[list[float], list[float]]:
        """Latency split at the alert's creation: upload → Task written, Task → notification."""
        check, deliver = [], []
        for p, raised in self.raised_wall.items():
            if p in receiver.arrived and p in self.sent_wall:
                check.append((raised - self.sent_wall[p]) * 1000)
                deliver.append((receiver.arrived[p] - self.sent[p]) * 1000 - check[-1])
        return check, deliver

    def latencies_ms(self, receiver: Receiver) -> tuple[list[float], int]:
        """Latencies of the probes that were notified, and how many were not."""
        got = [(receiver.arrived[p] - t) * 1000 for p, t in self.sent.items() if p in receiver.arrived]
        return got, len(self.sent) - len(got)


def scenario(seed: int, probe: Probe) -> Scenario:
    """User 0 probes; the others load the server with heart-rate series."""

    async def run(client: Client, index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        if index == 0:
            await _probe(client, seed, probe)
            return
        patient = f"load-{seed}-{index}"
        body = orjson.dumps({"resourceType": "Patient", "id": patient})
        await client.request("put Patient", "PUT", f"/fhir/Patient/{patient}", body)
        number = 0
        while client.running:
            payload = ingest.series_batch(number, rng)
            await client.request("ingest", "POST", f"/fhir/Patient/{patient}/$ingest", payload)
            number += 1

    return run


async def _probe(client: Client, seed: int, probe: Probe) -> None:
    number = 0
    while client.running:
        began = time.perf_counter()
        patient = f"probe-{seed}-{number}"
        body = orjson.dumps({"resourceType": "Patient", "id": patient})
        await client.request("put Patient", "PUT", f"/fhir/Patient/{patient}", body)
        sent, wall = time.perf_counter(), time.time()
        answer = await client.request(
            "probe ingest", "POST", f"/fhir/Patient/{patient}/$ingest", low_spo2(datetime.now(UTC))
        )
        if answer.status == 200:
            probe.sent[patient], probe.sent_wall[patient] = sent, wall
        number += 1
        await asyncio.sleep(max(0.0, PROBE_EVERY_S - (time.perf_counter() - began)))


def raised_at(bundle: dict[str, Any]) -> dict[str, float]:
    """Patient id → the alert Task's ``meta.lastUpdated`` (epoch s) in a Task search Bundle."""
    out = {}
    for entry in bundle.get("entry", []):
        task = entry.get("resource") or {}
        patient = str((task.get("for") or {}).get("reference", "")).removeprefix("Patient/")
        stamp = (task.get("meta") or {}).get("lastUpdated")
        if patient.startswith("probe-") and stamp:
            out[patient] = datetime.fromisoformat(stamp).timestamp()
    return out


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p99/max (ms) of ``values``."""
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1),
        "max_ms": round(ordered[-1], 1),
    }


def summary(latencies: list[float], missed: int) -> dict[str, Any]:
    """p50/p95/p99/max of the notified probes (ms) and the count of probes never notified."""
    if not latencies:
        return {"probes": missed, "notified": 0, "missed": missed}
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {
        "probes": len(ordered) + missed,
        "notified": len(ordered),
        "missed": missed,
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1], 1),
    }
