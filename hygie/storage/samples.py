"""Device samples on a :class:`~hygie.storage.database.Session`: idempotent writes, series and
aggregates (schema: :mod:`hygie.storage.migrations_samples`).

Access control is the caller's: these functions take a patient id the caller was allowed to
see (the operations check it through the access policy before calling).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from hygie.storage.database import Session

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
_CHUNK = 500  # rows per statement


class SampleRow(NamedTuple):
    """One stored sample (a named tuple: cheap to build by the hundred thousand)."""

    key: str
    patient: str
    measure: str
    t: int  # epoch ms
    t_end: int | None
    value: float | None
    value2: float | None = None
    device: str = ""


@dataclass(frozen=True, slots=True)
class Written:
    inserted: int
    updated: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class Bucket:
    """Aggregate of ``value`` over ``[start, start + width)`` (epoch ms)."""

    start: int
    n: int
    total: float
    low: float
    high: float

    @property
    def mean(self) -> float:
        return self.total / self.n


def write(session: Session, rows: Sequence[SampleRow], now_ms: int) -> Written:
    """Store samples by key: new keys are inserted, known keys with other values updated,
    identical ones left alone; the hourly aggregates of every touched hour are recomputed.
    A value that is not a finite number refuses the whole batch (ValueError) before any write."""
    if not rows:
        return Written(0, 0, 0)
    for r in rows:
        for v in (r.value, r.value2):
            if v is not None and not math.isfinite(v):
                raise ValueError(f"sample {r.key}: the value must be a finite number")
    latest = {r.key: r for r in rows}  # a batch may carry a key twice: the last one wins
    existing: dict[str, tuple[object, ...]] = {}
    keys = sorted(latest)  # time-ordered keys: neighbouring index pages
    for i in range(0, len(keys), _CHUNK):
        part = keys[i : i + _CHUNK]
        for row in session.all(
            "SELECT key, patient, measure, t, t_end, value, value2, device FROM sample"
            f" WHERE key IN ({','.join('?' * len(part))})",
            part,
        ):
            existing[str(row[0])] = tuple(row[1:])
    inserts, updates, touched = [], [], set()
    added: dict[tuple[str, str, int], list[float]] = {}  # hour → [n, total, low, high, last_t]
    unchanged = 0
    acc: list[float] = []
    acc_hour: tuple[str, str, int] = ("", "", -1)
    for r in latest.values():
        key, patient, measure, t, _end, value, _value2, _device = r
        old = existing.get(key)
        if old is None:
            inserts.append((*r, now_ms))
            if value is None:
                continue
            start = t - t % HOUR_MS
            if start != acc_hour[2] or measure != acc_hour[1] or patient != acc_hour[0]:
                acc_hour = (patient, measure, start)
                acc = added.setdefault(acc_hour, [0, 0.0, value, value, t])
            acc[0] += 1
            acc[1] += value
            acc[2] = min(acc[2], value)
            acc[3] = max(acc[3], value)
            acc[4] = max(acc[4], t)
            continue
        if tuple(old) == r[1:]:
            unchanged += 1
            continue
        updates.append((*r[1:], now_ms, key))
        touched.add((str(old[0]), str(old[1]), int(str(old[2])) // HOUR_MS * HOUR_MS))
        touched.add((patient, measure, t - t % HOUR_MS))
    if inserts:
        session.insert_many(
            "sample",
            ("key", "patient", "measure", "t", "t_end", "value", "value2", "device", "received"),
            inserts,
        )
    if updates:
        session.executemany(
            "UPDATE sample SET patient = ?, measure = ?, t = ?, t_end = ?, value = ?, value2 = ?, device = ?,"
            " received = ? WHERE key = ?",
            updates,
        )
    _merge_hours(session, {h: a for h, a in added.items() if h not in touched})
    _recompute_hours(session, touched)
    return Written(len(inserts), len(updates), unchanged)


def _merge_hours(session: Session, added: dict[tuple[str, str, int], list[float]]) -> None:
    """Add newly inserted samples to their hours' aggregates (count, sum, min, max and latest
    time combine exactly: no need to read the hour's samples again)."""
    if not added:
        return
    least, greatest = ("MIN", "MAX") if session.dialect == "sqlite" else ("LEAST", "GREATEST")
    session.executemany(
        "INSERT INTO sample_hour (patient, measure, hour, n, total, low, high, last_t)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (patient, measure, hour) DO UPDATE SET"
        " n = sample_hour.n + excluded.n, total = sample_hour.total + excluded.total,"
        f" low = {least}(sample_hour.low, excluded.low), high = {greatest}(sample_hour.high, excluded.high),"
        f" last_t = {greatest}(sample_hour.last_t, excluded.last_t)",
        [(*hour, int(a[0]), a[1], a[2], a[3], int(a[4])) for hour, a in sorted(added.items())],
    )


def _recompute_hours(session: Session, hours: Iterable[tuple[str, str, int]]) -> None:
    for patient, measure, hour in sorted(hours):
        session.execute(
            "DELETE FROM sample_hour WHERE patient = ? AND measure = ? AND hour = ?", (patient, measure, hour)
        )
        session.execute(
            "INSERT INTO sample_hour (patient, measure, hour, n, total, low, high, last_t)"
            " SELECT patient, measure, CAST(? AS BIGINT), COUNT(value), SUM(value), MIN(value), MAX(value),"
            " MAX(t) FROM sample"
            " WHERE patient = ? AND measure = ? AND t >= ? AND t < ? AND value IS NOT NULL"
            " GROUP BY patient, measure",
            (hour, patient, measure, hour, hour + HOUR_MS),
        )


def series(
    session: Session, patient: str, measure: str, start_ms: int, end_ms: int, limit: int = 100_000
) -> list[SampleRow]:
    """The samples of one measure in ``[start, end)``, in time order (at most ``limit``)."""
    rows = session.all(
        "SELECT key, patient, measure, t, t_end, value, value2, device FROM sample"
        " WHERE patient = ? AND measure = ? AND t >= ? AND t < ? ORDER BY t, key LIMIT ?",
        (patient, measure, start_ms, end_ms, limit),
    )
    return [
        SampleRow(
            str(r[0]), str(r[1]), str(r[2]), int(r[3]), _int(r[4]), _float(r[5]), _float(r[6]), str(r[7])
        )
        for r in rows
    ]


def _hour_rows(session: Session, patient: str, measure: str, start_ms: int, end_ms: int) -> list[Any]:
    """(hour, n, total, low, high) of the hours starting in ``[start, end)``, in time order."""
    return session.all(
        "SELECT hour, n, total, low, high FROM sample_hour WHERE patient = ? AND measure = ?"
        " AND hour >= ? AND hour < ? ORDER BY hour",
        (patient, measure, start_ms, end_ms),
    )


def hours(session: Session, patient: str, measure: str, start_ms: int, end_ms: int) -> list[Bucket]:
    """Hourly aggregates whose hour starts in ``[start, end)``."""
    rows = _hour_rows(session, patient, measure, start_ms, end_ms)
    return [Bucket(int(r[0]), int(r[1]), float(r[2]), float(r[3]), float(r[4])) for r in rows]


def minutes(session: Session, patient: str, measure: str, start_ms: int, end_ms: int) -> list[Bucket]:
    """Per-minute aggregates computed from the samples."""
    return _fold(
        (r.t // MINUTE_MS * MINUTE_MS, r.value) for r in series(session, patient, measure, start_ms, end_ms)
    )


def days(
    session: Session, patient: str, measure: str, start_ms: int, end_ms: int, tz: tzinfo
) -> list[Bucket]:
    """Per-day aggregates (days of ``tz``, the server's time zone), from the hourly ones; a day
    starts at the epoch ms of its local midnight. Local midnights are computed once per day of
    the period, then the hours (raw rows: no object per hour) fall into them in one pass."""
    found = _hour_rows(session, patient, measure, start_ms, end_ms)
    if not found:
        return []
    first = datetime.fromtimestamp(int(found[0][0]) / 1000, UTC).astimezone(tz)
    last = datetime.fromtimestamp(int(found[-1][0]) / 1000, UTC).astimezone(tz)
    midnights, day = [], first.date()
    while day <= last.date():
        midnights.append(int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000))
        day += timedelta(days=1)
    midnights.append(end_ms if end_ms > midnights[-1] else midnights[-1] + 2 * 86_400_000)
    out: list[Bucket] = []
    i, following = 0, midnights[1]
    n, total, low, high = 0, 0.0, float(found[0][3]), float(found[0][4])
    for hour, count, sum_, lo, hi in found:
        if hour >= following:  # every stored hour has n ≥ 1: the day being closed is not empty
            out.append(Bucket(midnights[i], n, total, low, high))
            while hour >= midnights[i + 1]:
                i += 1
            following, n, total, low, high = midnights[i + 1], 0, 0.0, lo, hi
        n += count
        total += sum_
        low = min(low, lo)
        high = max(high, hi)
    out.append(Bucket(midnights[i], n, total, low, high))
    return out


def last_seen(session: Session, patient: str) -> dict[str, int]:
    """The time of the latest sample of each measure of a patient (epoch ms)."""
    rows = session.all(
        "SELECT measure, MAX(last_t) FROM sample_hour WHERE patient = ? GROUP BY measure", (patient,)
    )
    return {str(r[0]): int(r[1]) for r in rows}


def _fold(points: Iterable[tuple[int, float | None]]) -> list[Bucket]:
    acc: dict[int, list[float]] = {}
    for start, value in points:
        if value is not None:
            acc.setdefault(start, []).append(value)
    return [Bucket(s, len(v), sum(v), min(v), max(v)) for s, v in sorted(acc.items())]


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))


def _float(value: object) -> float | None:
    return None if value is None else float(str(value))
