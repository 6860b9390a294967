"""Hygie's compact batch format for device streams (``$ingest?format=series``).

A gateway sending a watch's heart rate or a CGM's glucose need not wrap every value in its own
document: one JSON object (or an array of them) carries a whole series of one kind::

    {"kind": "heart-rate", "unit": "/min",
     "device": {"manufacturer": "Withings", "model": "ScanWatch", "identifier": "00:24:e4:aa"},
     "start": "2026-11-20T08:00:00+01:00", "period": 60, "values": [72, 71, null, 75]}

``start`` + ``period`` (seconds) + ``values`` put value i at ``start + i × period`` (``null``: no
value in that slot); or ``points``: ``[["2026-11-20T08:00:00+01:00", 72], …]`` for irregular
times. ``kind`` is a catalogue key (``hygie/monitoring/data/vitals.json``), ``unit`` one of its
accepted units (converted to the canonical one), ``device`` optional (``manufacturer``,
``model``, ``model_number``, ``name``, ``identifier``, ``source``). Each value is checked like
any record (sanity limits, interval kinds refused: they need an end); a bad value is an error
naming ``[series].values[i]`` and the rest goes on. The header is checked once per series, which
is what makes this format fast.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson

from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.monitoring.ingest import times
from hygie.monitoring.ingest.catalogue import kind as catalogue_kind
from hygie.monitoring.ingest.samples import Conversion, DeviceInfo, RecordError, Sample, Where, number, shown

register(
    {
        "ingest_series_shape": {
            "fr": "Série {index} : {detail}.",
            "en": "Series {index}: {detail}.",
        },
    }
)
DEVICE_FIELDS = ("manufacturer", "model", "model_number", "name", "identifier", "source")
MAX_PERIOD_S = 86_400


def _bad(index: int, detail: str) -> FhirError:
    return FhirError.of(400, "invalid", "ingest_series_shape", index=index, detail=detail)


def _device(index: int, raw: Any) -> DeviceInfo | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - set(DEVICE_FIELDS):
        raise _bad(index, f"device: an object with {', '.join(DEVICE_FIELDS)}")
    if not all(isinstance(v, str) and len(v) <= 200 for v in raw.values()):
        raise _bad(index, "device: text values of at most 200 characters")
    return DeviceInfo(**raw)


def read_series(data: bytes | str | dict[str, Any] | list[Any]) -> Conversion:
    """Convert one series or an array of them. A malformed header refuses the whole body (400);
    a bad value is a per-record error."""
    if isinstance(data, bytes | str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise FhirError.of(400, "invalid", "ingest_not_json", detail=str(exc)[:120]) from exc
    series = data if isinstance(data, list) else [data]
    result = Conversion()
    for index, one in enumerate(series):
        _one(index, one, result)
    return result


def _one(index: int, one: Any, result: Conversion) -> None:
    if not isinstance(one, dict):
        raise _bad(index, "an object with kind, unit and values or points")
    key = one.get("kind")
    k = catalogue_kind(key) if isinstance(key, str) else None
    if k is None:
        raise _bad(index, "kind: a catalogue kind such as heart-rate")
    if k.shape == "interval" or k.components:
        raise _bad(index, f"kind {k.key}: send it as records with their own times (Open mHealth, CSV)")
    unit = one.get("unit")
    if not isinstance(unit, str) or unit not in k.units:
        raise _bad(index, f"unit: one of {', '.join(k.units)}")
    device = _device(index, one.get("device"))
    where = Where(index, f"[{index}]")
    if "values" in one:
        start = times.iso(where, "start", one.get("start"))
        if isinstance(start, RecordError):
            raise _bad(index, "start: an instant with a time zone")
        period = one.get("period")
        if isinstance(period, bool) or not isinstance(period, int | float) or not 0 < period <= MAX_PERIOD_S:
            raise _bad(index, "period: seconds between two values (0 < period ≤ 86400)")
        values = one["values"]
        if not isinstance(values, list):
            raise _bad(index, "values: an array")
        step = timedelta(seconds=period)
        try:
            past = times.outside_years(start + max(len(values) - 1, 0) * step)  # the last value's time
        except OverflowError:
            past = True
        if past:
            raise _bad(index, f"values: the last one falls after the year {times.LAST_YEAR}")
        points: list[tuple[datetime, Any]] = [(start + i * step, v) for i, v in enumerate(values)]
        field = "values"
    elif isinstance(one.get("points"), list):
        points = []
        for i, pair in enumerate(one["points"]):
            if not isinstance(pair, list) or len(pair) != 2:
                raise _bad(index, f"points[{i}]: [time, value]")
            at = times.iso(Where(i, f"[{index}].points[{i}]"), "time", pair[0])
            if isinstance(at, RecordError):
                result.add(at)
                continue
            points.append((at, pair[1]))
        field = "points"
    else:
        raise _bad(index, "values (with start and period) or points")
    append, convert, within, key = result.samples.append, k.convert, k.within, k.key
    for i, (at, raw) in enumerate(points):
        if raw is None:
            continue
        value = number(raw)
        if value is None:
            spot = Where(i, f"[{index}].{field}[{i}]")
            result.add(spot.error("value", "ingest_number", value=shown(raw, 40)))
            continue
        converted = convert(value, unit)
        assert converted is not None  # the unit was checked above
        outside = within(value, unit, converted)
        if outside is not None:
            low, high, _ = outside
            spot = Where(i, f"[{index}].{field}[{i}]")
            result.add(spot.error("value", "ingest_range", value=f"{value:g}", unit=unit,
                                  low=f"{low:g}", high=f"{high:g}"))  # fmt: skip
            continue
        append(Sample(key, at, None, converted, (), device, None))
