"""Device samples storage (hygie/storage/samples.py) on both databases: idempotent writes,
corrections, out-of-order arrival, exact hourly aggregates, minutes and local days."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from hygie.storage import samples
from hygie.storage.database import Database, open_database
from hygie.storage.samples import HOUR_MS, MINUTE_MS, SampleRow

T0 = int(datetime(2026, 11, 20, 22, 0, tzinfo=UTC).timestamp() * 1000)  # 23:00 in Paris


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    database.upgrade()
    try:
        yield database
    finally:
        database.close()


def hr(i: int, value: float, minute: int | None = None, patient: str = "p1") -> SampleRow:
    at = T0 + (minute if minute is not None else i) * MINUTE_MS
    return SampleRow(f"k{patient}{i}", patient, "heart-rate", at, None, value, None, "dev1")


def test_writes_are_idempotent_and_corrections_replace(db: Database) -> None:
    rows = [hr(i, 60 + i) for i in range(120)]  # two hours, one sample a minute
    first = db.run_sync(lambda s: samples.write(s, rows, now_ms=1))
    assert (first.inserted, first.updated, first.unchanged) == (120, 0, 0)
    again = db.run_sync(lambda s: samples.write(s, rows, now_ms=2))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 120)
    fixed = db.run_sync(lambda s: samples.write(s, [hr(5, 99)], now_ms=3))
    assert (fixed.inserted, fixed.updated) == (0, 1)
    series = db.run_sync(lambda s: samples.series(s, "p1", "heart-rate", T0, T0 + 2 * HOUR_MS), write=False)
    assert len(series) == 120 and series[5].value == 99


def test_hourly_aggregates_stay_exact_with_late_and_corrected_samples(db: Database) -> None:
    db.run_sync(lambda s: samples.write(s, [hr(i, 60.0) for i in range(0, 60, 2)], now_ms=1))
    # late samples of the same hour, out of order, and a correction
    late = [hr(i, 80.0) for i in range(59, 0, -2)]
    db.run_sync(lambda s: samples.write(s, [*late, hr(0, 50.0)], now_ms=2))
    hours = db.run_sync(lambda s: samples.hours(s, "p1", "heart-rate", T0, T0 + HOUR_MS), write=False)
    assert len(hours) == 1
    h = hours[0]
    assert (h.start, h.n, h.low, h.high) == (T0, 60, 50.0, 80.0)
    assert h.total == pytest.approx(50 + 29 * 60 + 30 * 80)
    # a sample moved to another hour (corrected time) leaves the first hour's aggregate
    moved = SampleRow("kp10", "p1", "heart-rate", T0 + HOUR_MS + 5 * MINUTE_MS, None, 50.0, None, "dev1")
    db.run_sync(lambda s: samples.write(s, [moved], now_ms=3))
    hours = db.run_sync(lambda s: samples.hours(s, "p1", "heart-rate", T0, T0 + 2 * HOUR_MS), write=False)
    assert [(b.start, b.n) for b in hours] == [(T0, 59), (T0 + HOUR_MS, 1)]
    assert hours[0].low == 60.0


def test_minutes_and_local_days(db: Database) -> None:
    rows = [hr(i, 60.0 + (i % 2), minute=i // 2) for i in range(240)]  # two samples a minute, 2 h
    db.run_sync(lambda s: samples.write(s, rows, now_ms=1))
    minutes = db.run_sync(
        lambda s: samples.minutes(s, "p1", "heart-rate", T0, T0 + 10 * MINUTE_MS), write=False
    )
    assert len(minutes) == 10 and all(m.n == 2 and m.mean == 60.5 for m in minutes)
    paris = ZoneInfo("Europe/Paris")
    days = db.run_sync(
        lambda s: samples.days(s, "p1", "heart-rate", T0, T0 + 2 * HOUR_MS, paris), write=False
    )
    # 22:00-23:00 UTC is 23:00-00:00 in Paris (the 20th), 23:00-00:00 UTC is the 21st
    assert [(datetime.fromtimestamp(d.start / 1000, paris).day, d.n) for d in days] == [(20, 120), (21, 120)]


def test_patients_and_measures_are_apart(db: Database) -> None:
    db.run_sync(lambda s: samples.write(s, [hr(i, 70.0) for i in range(5)], now_ms=1))
    db.run_sync(lambda s: samples.write(s, [hr(i, 90.0, patient="p2") for i in range(3)], now_ms=1))
    one = db.run_sync(lambda s: samples.series(s, "p1", "heart-rate", 0, 2**62), write=False)
    two = db.run_sync(lambda s: samples.series(s, "p2", "heart-rate", 0, 2**62), write=False)
    assert {r.value for r in one} == {70.0} and {r.value for r in two} == {90.0}
    assert db.run_sync(lambda s: samples.series(s, "p1", "spo2", 0, 2**62), write=False) == []
    seen = db.run_sync(lambda s: samples.last_seen(s, "p2"), write=False)
    assert seen == {"heart-rate": T0 + 2 * MINUTE_MS}


def test_a_failed_batch_writes_nothing(db: Database) -> None:
    bad = [hr(1, 70.0), SampleRow("bad", "p1", "heart-rate", T0, None, float("nan"), None, "")]
    with pytest.raises(ValueError, match="finite"):
        db.run_sync(lambda s: samples.write(s, bad, now_ms=1))

    def work(s: object) -> None:
        samples.write(s, [hr(1, 70.0)], now_ms=1)  # type: ignore[arg-type]
        raise RuntimeError("the caller's check failed after the write")

    with pytest.raises(RuntimeError):
        db.run_sync(work)
    assert db.run_sync(lambda s: samples.series(s, "p1", "heart-rate", 0, 2**62), write=False) == []


def test_days_across_a_daylight_saving_change(db: Database) -> None:
    paris = ZoneInfo("Europe/Paris")
    # 2026-03-29: clocks go forward in Paris (a 23-hour day); one sample an hour for three days
    start = int(datetime(2026, 3, 27, 23, 0, tzinfo=UTC).timestamp() * 1000)  # 00:00 on the 28th
    rows = [
        SampleRow(f"d{i}", "p1", "heart-rate", start + i * HOUR_MS, None, 70.0, None, "") for i in range(71)
    ]
    db.run_sync(lambda s: samples.write(s, rows, now_ms=1))
    days = db.run_sync(
        lambda s: samples.days(s, "p1", "heart-rate", start, start + 71 * HOUR_MS, paris), write=False
    )
    assert [(datetime.fromtimestamp(d.start / 1000, paris).day, d.n) for d in days] == [
        (28, 24),
        (29, 23),
        (30, 24),
    ]


def test_incremental_hour_aggregates_equal_a_full_recount(db: Database) -> None:
    """New samples are merged into their hours' aggregates without reading the hour again; after
    random batches (new samples, repeats, corrections, empty values) every hour equals a count
    over the stored samples."""
    import random

    rng = random.Random(7)
    for batch in range(12):
        rows = []
        for _ in range(40):
            minute = rng.randrange(0, 300)  # five hours
            value = None if rng.random() < 0.1 else float(rng.randint(40, 180))
            rows.append(SampleRow(f"k{minute}", "p1", "heart-rate", T0 + minute * MINUTE_MS, None, value))
        db.run_sync(lambda s, rows=rows, batch=batch: samples.write(s, rows, now_ms=batch))
    stored = db.run_sync(lambda s: samples.series(s, "p1", "heart-rate", T0, T0 + 5 * HOUR_MS), write=False)
    expected: dict[int, list[float]] = {}
    last: dict[int, int] = {}
    for r in stored:
        if r.value is not None:
            hour = r.t // HOUR_MS * HOUR_MS
            expected.setdefault(hour, []).append(r.value)
            last[hour] = max(last.get(hour, 0), r.t)
    got = db.run_sync(lambda s: samples.hours(s, "p1", "heart-rate", T0, T0 + 5 * HOUR_MS), write=False)
    assert [b.start for b in got] == sorted(expected)
    for b in got:
        values = expected[b.start]
        assert (b.n, b.low, b.high) == (len(values), min(values), max(values))
        assert b.total == pytest.approx(sum(values))
    seen = db.run_sync(lambda s: samples.last_seen(s, "p1"), write=False)
    assert seen == {"heart-rate": max(last.values())}
