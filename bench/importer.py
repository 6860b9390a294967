"""Import benchmark: POST Synthea transaction Bundles to the FHIR base, as they are.

Transaction interaction: https://hl7.org/fhir/R4/http.html#transaction (Bundle ``type =
transaction``, ``POST [base]``). Throughput is resources per second = entries in the bundles that
succeeded / wall time; a failed bundle is reported with the OperationOutcome the server returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.loadgen import Client, RunResult, run

SYNTHEA = Path("/work/shared/data/synthea-r4")


@dataclass(slots=True)
class BundleFile:
    """One bundle ready to send: its name, raw bytes and number of entries."""

    name: str
    body: bytes
    entries: int


@dataclass
class ImportOutcome:
    """What the import scenario observed, beyond the loadgen's latency bookkeeping."""

    posted: int = 0
    resources_ok: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)


def load_bundles(folder: Path = SYNTHEA, limit: int | None = None) -> list[BundleFile]:
    """Read the bundles (sorted by file name, at most ``limit``) and count their entries."""
    files = sorted(folder.glob("*.json"))
    if limit is not None:
        files = files[:limit]
    bundles = []
    for path in files:
        raw = path.read_bytes()
        entries = len(orjson.loads(raw).get("entry", []))
        bundles.append(BundleFile(path.name, raw, entries))
    return bundles


async def import_bundles(
    host: str, port: int, bundles: list[BundleFile], clients: int = 2, timeout: float = 600.0
) -> tuple[RunResult, ImportOutcome]:
    """POST every bundle to ``/fhir`` from ``clients`` concurrent connections."""
    queue = list(reversed(bundles))
    outcome = ImportOutcome()

    async def worker(client: Client, index: int) -> None:
        del index
        while queue:
            bundle = queue.pop()
            response = await client.request("transaction", "POST", "/fhir", bundle.body)
            outcome.posted += 1
            if 200 <= response.status < 300:
                outcome.resources_ok += bundle.entries
            else:
                outcome.failures.append({
                    "bundle": bundle.name,
                    "entries": bundle.entries,
                    "status": response.status,
                    "outcome": response.body[:4000].decode("utf-8", "replace"),
                })

    result = await run(host, port, worker, connections=clients, duration=24 * 3600.0, timeout=timeout)
    return result, outcome
