"""Device-data ingestion benchmark: Open mHealth heart-rate batches to ``$ingest``.

Scenario: each virtual user owns one patient and loops ``POST /fhir/Patient/{id}/$ingest`` with
a JSON array of :data:`BATCH` heart-rate data points one minute apart (a watch syncing an hour),
every batch new (the time moves on), through the full path: conversion and schema validation,
idempotency keys, the sample table and its hourly aggregates, the Device upsert, audit. The
figure is samples stored per second (requests × batch). https://www.openmhealth.org/ (data
point format), docs/monitoring.md ($ingest).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import orjson

from bench.loadgen import Client, Scenario

BATCH = 60
START = datetime(2026, 1, 1, tzinfo=UTC)


def batch(patient: str, number: int, rng: random.Random) -> bytes:
    """``BATCH`` heart-rate points for hour ``number`` of ``patient``."""
    points = []
    for i in range(BATCH):
        at = (START + timedelta(hours=number, minutes=i)).isoformat()
        points.append(
            {
                "header": {
                    "id": f"{patient}-{number}-{i}",
                    "creation_date_time": at,
                    "schema_id": {"namespace": "omh", "name": "heart-rate", "version": "2.0"},
                    "acquisition_provenance": {"source_name": "Bench watch", "modality": "sensed"},
                },
                "body": {
                    "heart_rate": {"value": rng.randint(50, 110), "unit": "beats/min"},
                    "effective_time_frame": {"date_time": at},
                },
            }
        )
    return orjson.dumps(points)


SERIES_BATCH = 600


def series_batch(number: int, rng: random.Random) -> bytes:
    """Hygie's compact series format: ``SERIES_BATCH`` one-second heart-rate values."""
    start = START + timedelta(seconds=SERIES_BATCH * number)
    values = [rng.randint(50, 110) for _ in range(SERIES_BATCH)]
    body = {"kind": "heart-rate", "unit": "/min", "device": {"model": "Bench watch", "identifier": "bw-1"},
            "start": start.isoformat(), "period": 1, "values": values}  # fmt: skip
    return orjson.dumps(body)


def size(fmt: str) -> int:
    """Samples per request of a format."""
    return SERIES_BATCH if fmt == "series" else BATCH


def scenario(seed: int, fmt: str = "openmhealth") -> Scenario:
    """Each user creates its patient, then sends batch after batch of heart rate."""

    async def run(client: Client, index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        patient = f"bench-{seed}-{index}"
        body = orjson.dumps({"resourceType": "Patient", "id": patient})
        await client.request("put Patient", "PUT", f"/fhir/Patient/{patient}", body)
        number = 0
        while client.running:
            payload = series_batch(number, rng) if fmt == "series" else batch(patient, number, rng)
            await client.request("ingest", "POST", f"/fhir/Patient/{patient}/$ingest", payload)
            number += 1

    return run
