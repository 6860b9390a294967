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


def scenario(seed: int) -> Scenario:
    """Each user creates its patient, then sends hour after hour of heart rate."""

    async def run(client: Client, index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        patient = f"bench-{seed}-{index}"
        body = orjson.dumps({"resourceType": "Patient", "id": patient})
        await client.request("put Patient", "PUT", f"/fhir/Patient/{patient}", body)
        number = 0
        while client.running:
            await client.request(
                "ingest 60", "POST", f"/fhir/Patient/{patient}/$ingest", batch(patient, number, rng)
            )
            number += 1

    return run
