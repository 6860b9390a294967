"""Schema of device samples: every sample kept, compactly, with hourly aggregates (one migration).

Dense device streams (a watch's heart rate every minute, a CGM every 5 minutes) are not stored
as one Observation per sample: a year of one-minute heart rate would be half a million
resources on the hot path. Each sample is a narrow row instead (docs/monitoring.md, "Device
data storage"); FHIR sees them through hourly ``SampledData`` Observations and the ``$stats``
and ``$samples`` operations.

- ``sample``: one row per sample — ``patient`` (Patient id), ``measure`` (catalogue kind, e.g.
  ``heart-rate``), ``t`` start and ``t_end`` end (epoch ms; NULL for a point), ``value`` in the
  measure's canonical unit and ``value2`` (the diastolic of a blood pressure), ``device``
  (Device id or ''), ``key`` the idempotency key (a re-sent sample updates its row, never adds
  one), ``received`` (epoch ms).
- ``sample_hour``: per patient, measure and hour (epoch ms of the hour's start, UTC): count,
  sum, min and max of ``value`` — recomputed from ``sample`` for every hour a write touches, so
  late and corrected samples keep them exact. Days and longer spans add hours up; minutes are
  computed from the samples.
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgresql"]


def _tables(real: str, big: str) -> list[str]:
    return [
        f"""CREATE TABLE sample (
            key TEXT PRIMARY KEY,
            patient TEXT NOT NULL,
            measure TEXT NOT NULL,
            t {big} NOT NULL,
            t_end {big},
            value {real},
            value2 {real},
            device TEXT NOT NULL DEFAULT '',
            received {big} NOT NULL)""",
        "CREATE INDEX sample_series ON sample (patient, measure, t)",
        f"""CREATE TABLE sample_hour (
            patient TEXT NOT NULL,
            measure TEXT NOT NULL,
            hour {big} NOT NULL,
            n INTEGER NOT NULL,
            total {real} NOT NULL,
            low {real} NOT NULL,
            high {real} NOT NULL,
            last_t {big} NOT NULL,
            PRIMARY KEY (patient, measure, hour))""",
    ]


SAMPLES_MIGRATION: dict[Dialect, list[str]] = {
    "sqlite": _tables("REAL", "INTEGER"),
    "postgresql": _tables("DOUBLE PRECISION", "BIGINT"),
}
