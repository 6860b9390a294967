"""Chart query over a year of one-minute heart rate (issue 6 target: daily aggregates < 50 ms).

One patient, 525,600 samples written through :func:`hygie.storage.samples.write` (in chunks of
10,000, the hourly aggregates maintained), then the daily aggregates of the whole year
(:func:`hygie.storage.samples.days`, what ``$samples?grain=day`` runs) timed 20 times, and the
hourly ones of one week. In-process, one core; write throughput reported too.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from bench import server
from hygie.storage import samples
from hygie.storage.database import open_database
from hygie.storage.samples import HOUR_MS, MINUTE_MS, SampleRow

YEAR_MINUTES = 365 * 24 * 60
START = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)


def run(db: str, chunk: int = 10_000) -> dict[str, Any]:
    database = server.fresh_database(db, "series")
    store = open_database(database.url)
    try:
        store.upgrade()
        began = time.perf_counter()
        for first in range(0, YEAR_MINUTES, chunk):
            rows = [
                SampleRow(
                    f"hr{i}", "p1", "heart-rate", START + i * MINUTE_MS, None, 60.0 + i % 40, None, "watch"
                )
                for i in range(first, min(first + chunk, YEAR_MINUTES))
            ]
            store.run_sync(partial(_write, rows=rows))
        write_s = time.perf_counter() - began
        paris = ZoneInfo("Europe/Paris")
        end = START + YEAR_MINUTES * MINUTE_MS
        days, week = [], []
        for _ in range(20):
            t = time.perf_counter()
            found = store.run_sync(
                lambda s: samples.days(s, "p1", "heart-rate", START, end, paris), write=False
            )
            days.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            store.run_sync(
                lambda s: samples.hours(s, "p1", "heart-rate", end - 7 * 24 * HOUR_MS, end), write=False
            )
            week.append((time.perf_counter() - t) * 1000)
        return {
            "samples": YEAR_MINUTES,
            "write_samples_per_s": round(YEAR_MINUTES / write_s),
            "year_daily_ms": {"median": round(statistics.median(days), 2), "max": round(max(days), 2)},
            "week_hourly_ms": {"median": round(statistics.median(week), 2), "max": round(max(week), 2)},
            "days": len(found),
        }
    finally:
        store.close()
        if database.kind == "postgresql":
            database.drop()


def _write(session: Any, rows: list[SampleRow]) -> None:
    samples.write(session, rows, now_ms=1)


def describe(db: str, f: dict[str, Any]) -> str:
    return (
        f"series/{db}: {f['samples']:,} samples written at {f['write_samples_per_s']:,}/s; "
        f"daily aggregates of a year ({f['days']} days) median {f['year_daily_ms']['median']} ms "
        f"(max {f['year_daily_ms']['max']}); hourly of a week median {f['week_hourly_ms']['median']} ms"
    )
