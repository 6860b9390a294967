"""Open mHealth data points → samples.

A data point is ``{"header": {...}, "body": {...}}`` (schema ``omh:data-point:1.0``); the header's
``schema_id`` names the body's schema. Both are validated against the Open mHealth schemas
shipped in ``data/omh`` (https://www.openmhealth.org/documentation/#/schema-docs/schema-library);
a data point that does not conform is refused with the schema's first complaint. Supported
bodies: heart-rate 2.x, blood-pressure 4.x, blood-glucose 4.x (``specimen_source`` "interstitial
fluid" → a CGM reading), step-count 3.x, sleep-duration 2.x, sleep-episode 1.x,
oxygen-saturation 2.x, body-temperature 4.x, respiratory-rate 2.x, body-weight 3.x.
``header.id`` becomes the sample's ``source_id``, ``header.acquisition_provenance.source_name``
its device source.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from jsonschema.exceptions import best_match  # type: ignore[import-untyped]  # no stubs shipped

from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.monitoring.ingest import times
from hygie.monitoring.ingest.omh_schemas import SUPPORTED, data_point_validator, validator
from hygie.monitoring.ingest.samples import (
    Conversion,
    DeviceInfo,
    RecordError,
    Sample,
    Where,
    make_sample,
    number,
)

register(
    {
        "ingest_omh_shape": {
            "fr": "Open mHealth : attendu un point de données ou une liste de points de données.",
            "en": "Open mHealth: expected a data point or a list of data points.",
        },
        "ingest_schema": {
            "fr": "Enregistrement {location} : non conforme au schéma Open mHealth {schema} "
            "en « {field} » : {detail}",
            "en": "Record {location}: does not conform to the Open mHealth schema {schema} "
            "at '{field}': {detail}",
        },
        "ingest_schema_unsupported": {
            "fr": "Enregistrement {location} : schéma « {schema} » non pris en charge "
            "(pris en charge : {supported}).",
            "en": "Record {location}: schema '{schema}' is not supported (supported: {supported}).",
        },
        "ingest_time_frame": {
            "fr": "Enregistrement {location} : période « {field} » inutilisable (il faut une date-heure, "
            "ou un intervalle avec début, fin ou durée).",
            "en": "Record {location}: unusable time frame '{field}' (a date-time, or an interval with "
            "start, end or duration, is needed).",
        },
    }
)

DURATION_SECONDS = {
    "ps": 1e-12,
    "ns": 1e-9,
    "us": 1e-6,
    "ms": 1e-3,
    "sec": 1,
    "min": 60,
    "h": 3600,
    "d": 86400,
    "wk": 604800,
}  # "Mo" and "yr" have no fixed length: refused.


def _time_frame(where: Where, frame: Any) -> tuple[datetime, datetime | None] | RecordError:
    fld = "body.effective_time_frame"
    if isinstance(frame, dict) and "date_time" in frame:
        moment = times.iso(where, fld + ".date_time", frame["date_time"])
        return moment if isinstance(moment, RecordError) else (moment, None)
    interval = frame.get("time_interval") if isinstance(frame, dict) else None
    if not isinstance(interval, dict):
        return where.error(fld, "ingest_time_frame")
    duration: timedelta | None = None
    if "duration" in interval:
        d = interval["duration"]
        seconds = DURATION_SECONDS.get(str(d.get("unit"))) if isinstance(d, dict) else None
        amount = number(d.get("value")) if isinstance(d, dict) else None
        if seconds is None or amount is None or amount < 0:
            return where.error(fld + ".time_interval.duration", "ingest_time_frame")
        try:
            duration = timedelta(seconds=amount * seconds)
        except OverflowError:  # beyond a billion days
            return where.error(fld + ".time_interval.duration", "ingest_time_frame")
    start = end = None
    if "start_date_time" in interval:
        got = times.iso(where, fld + ".time_interval.start_date_time", interval["start_date_time"])
        if isinstance(got, RecordError):
            return got
        start = got
    if "end_date_time" in interval:
        got = times.iso(where, fld + ".time_interval.end_date_time", interval["end_date_time"])
        if isinstance(got, RecordError):
            return got
        end = got
    if duration is not None and (start is None) != (end is None):
        try:  # the other end, within the years a device time may have
            other = start + duration if start is not None else cast(datetime, end) - duration
        except OverflowError:  # before year 1 or after 9999
            return where.error(fld + ".time_interval.duration", "ingest_time_frame")
        checked = times.in_range(where, fld + ".time_interval", other, "± duration")
        if isinstance(checked, RecordError):
            return checked
        start, end = (start, checked) if start is not None else (checked, end)
    if start is None or end is None:
        return where.error(fld + ".time_interval", "ingest_time_frame")
    return (start, end)


def _unit_value(body: dict[str, Any], name: str) -> tuple[float | None, str]:
    uv = body.get(name) or {}
    return number(uv.get("value")), str(uv.get("unit"))


Convert = Callable[
    [Where, dict[str, Any], datetime, datetime | None, DeviceInfo | None, str | None], Sample | RecordError
]


def _simple(kind: str, name: str, units: dict[str, str] | None = None) -> Convert:
    def convert(
        where: Where,
        body: dict[str, Any],
        start: datetime,
        end: datetime | None,
        device: DeviceInfo | None,
        source_id: str | None,
    ) -> Sample | RecordError:
        value, unit = _unit_value(body, name)
        unit = (units or {}).get(unit, unit)
        return make_sample(
            where,
            kind,
            start,
            end,
            value,
            unit,
            device=device,
            source_id=source_id,
            value_field=f"body.{name}",
        )

    return convert


def _blood_pressure(
    where: Where,
    body: dict[str, Any],
    start: datetime,
    end: datetime | None,
    device: DeviceInfo | None,
    source_id: str | None,
) -> Sample | RecordError:
    systolic, unit = _unit_value(body, "systolic_blood_pressure")
    diastolic, _ = _unit_value(body, "diastolic_blood_pressure")
    components = {k: v for k, v in (("systolic", systolic), ("diastolic", diastolic)) if v is not None}
    return make_sample(
        where,
        "blood-pressure",
        start,
        end,
        None,
        unit,
        components=components,
        device=device,
        source_id=source_id,
    )


def _glucose(
    where: Where,
    body: dict[str, Any],
    start: datetime,
    end: datetime | None,
    device: DeviceInfo | None,
    source_id: str | None,
) -> Sample | RecordError:
    kind = "interstitial-glucose" if body.get("specimen_source") == "interstitial fluid" else "glucose"
    return _simple(kind, "blood_glucose")(where, body, start, end, device, source_id)


def _sleep_episode(
    where: Where,
    body: dict[str, Any],
    start: datetime,
    end: datetime | None,
    device: DeviceInfo | None,
    source_id: str | None,
) -> Sample | RecordError:
    if "total_sleep_time" in body:
        return _simple("sleep", "total_sleep_time")(where, body, start, end, device, source_id)
    minutes = (end - start).total_seconds() / 60 if end else None
    return make_sample(where, "sleep", start, end, minutes, "min", device=device, source_id=source_id)


CONVERTERS: dict[str, Convert] = {
    "heart-rate": _simple("heart-rate", "heart_rate"),
    "blood-pressure": _blood_pressure,
    "blood-glucose": _glucose,
    "step-count": _simple("steps", "step_count"),
    "sleep-duration": _simple("sleep", "sleep_duration"),
    "sleep-episode": _sleep_episode,
    "oxygen-saturation": _simple("spo2", "oxygen_saturation"),
    "body-temperature": _simple("body-temperature", "body_temperature"),
    "respiratory-rate": _simple("respiratory-rate", "respiratory_rate"),
    "body-weight": _simple("body-weight", "body_weight"),
}


def _schema_error(where: Where, schema: str, errors: Any, prefix: str) -> RecordError | None:
    try:
        error = best_match(errors)
    except RecursionError:  # jsonschema quotes the value it refuses: a value nested a thousand deep
        return where.error(prefix or "$", "ingest_schema", schema=schema, detail="nested too deeply")
    if error is None:
        return None
    path = ".".join(str(p) for p in error.absolute_path)
    return where.error(
        ".".join(p for p in (prefix, path) if p) or "$",
        "ingest_schema",
        schema=schema,
        detail=error.message[:200],
    )


def _data_point(where: Where, point: Any) -> Sample | RecordError:
    problem = _schema_error(where, "data-point-1.x", data_point_validator().iter_errors(point), "")
    if problem is not None:
        return problem
    header, body = point["header"], point["body"]
    sid = header["schema_id"]
    name, version = str(sid.get("name")), str(sid.get("version"))
    file = SUPPORTED.get((name, version.split(".", maxsplit=1)[0])) if sid.get("namespace") == "omh" else None
    if file is None:
        return where.error(
            "header.schema_id",
            "ingest_schema_unsupported",
            schema=f"{sid.get('namespace')}:{name}:{version}"[:80],
            supported=", ".join(f"omh:{n}:{m}.x" for n, m in SUPPORTED),
        )
    problem = _schema_error(where, file.removesuffix(".json"), validator(file).iter_errors(body), "body")
    if problem is not None:
        return problem
    frame = _time_frame(where, body["effective_time_frame"])
    if isinstance(frame, RecordError):
        return frame
    provenance = header.get("acquisition_provenance") or {}
    device = DeviceInfo(source=provenance["source_name"]) if provenance.get("source_name") else None
    return CONVERTERS[name](where, body, frame[0], frame[1], device, str(header["id"]))


def read_openmhealth(data: bytes | str | list[Any] | dict[str, Any]) -> Conversion:
    """Convert one data point or a list of them (JSON text or already decoded)."""
    if isinstance(data, bytes | str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise FhirError.of(400, "invalid", "ingest_not_json", detail=str(exc)[:120]) from exc
    points = data if isinstance(data, list) else [data]
    if not all(isinstance(p, dict) for p in points):
        raise FhirError.of(400, "invalid", "ingest_omh_shape")
    result = Conversion()
    for index, point in enumerate(points):
        result.add(_data_point(Where(index, f"[{index}]"), point))
    return result
