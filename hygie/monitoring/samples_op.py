"""``GET [base]/Patient/[id]/$samples`` — a patient's device samples, raw or aggregated, for
charts and tables (the storage: docs/monitoring.md, "Device data storage").

Parameters: ``measure`` (a catalogue kind, e.g. ``heart-rate``; required), ``start`` and ``end``
(FHIR instants; default: the last 24 hours), ``grain`` ``raw`` | ``minute`` | ``hour`` | ``day``
(default ``hour``; days in the server's time zone). Answer: a Parameters resource with the
measure, its unit and one ``point`` (raw: time, value [, value2, end, device]) or ``bucket``
(start, count, mean, min, max) part per sample or bucket, in time order.

Access: the caller must see the Patient (404 otherwise, like an absent patient) and be allowed
to read Observations (403) — samples are Observations in all but storage. Limits: at most
:data:`MAX_POINTS` points or buckets per answer (422 naming the limit: ask for a coarser grain
or a shorter period). Operations framework: https://hl7.org/fhir/R4/operations.html.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response

from hygie.api.context import Env
from hygie.api.http import OperationCall
from hygie.fhir import jsonio
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.monitoring.ingest.catalogue import kind as catalogue_kind
from hygie.monitoring.ingest.times import FIRST_YEAR, LAST_YEAR, bad_offset, outside_years
from hygie.monitoring.ingest_service import patient_access
from hygie.storage import samples
from hygie.storage.samples import HOUR_MS, MINUTE_MS

MAX_POINTS = 10_000
GRAINS = ("raw", "minute", "hour", "day")
_SPAN_MS = {"raw": 0, "minute": MINUTE_MS, "hour": HOUR_MS, "day": 24 * HOUR_MS}

register(
    {
        "samples_param": {
            "fr": "Paramètre « {name} » invalide ({reason}).",
            "en": "Invalid '{name}' parameter ({reason}).",
        },
        "samples_too_many": {
            "fr": "$samples : plus de {limit} points ; choisissez une granularité plus large "
            "ou une période plus courte.",
            "en": "$samples: more than {limit} points; choose a coarser grain or a shorter period.",
        },
    }
)


def bad_param(name: str, reason: str) -> FhirError:
    return FhirError.of(400, "invalid", "samples_param", name=name, reason=reason)


def instant_param(name: str, raw: str | None, default: datetime) -> datetime:
    if raw is None:
        return default
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad_param(name, "an instant such as 2026-11-20T08:00:00Z") from exc
    if at.tzinfo is None:
        raise bad_param(name, "a time zone is required")
    if bad_offset(at) or outside_years(at):
        raise bad_param(name, f"an instant in the years {FIRST_YEAR}-{LAST_YEAR}, offset within ±14:00")
    return at


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _decimal(value: float) -> float:
    return round(value, 3)


def check_access(call: OperationCall, session: Any, patient: str) -> Env:
    """The caller sees the Patient (404 otherwise) and may read Observations (403 otherwise);
    the access is audited as a read of the patient's record. Returns the request's Env."""
    env = call.env(session)
    env.touched.append(patient_access(env, patient, (("Observation", "r"),)))
    return env


async def samples_operation(call: OperationCall) -> Response:
    req = call.req
    if req.method not in ("GET", "HEAD"):
        raise FhirError.of(405, "not-supported", "method_not_allowed", method=req.method[:16])
    measure = req.param("measure")
    if not measure or catalogue_kind(measure) is None:
        raise bad_param("measure", "a catalogue kind, e.g. heart-rate (docs/ingestion.md)")
    grain = req.param("grain") or "hour"
    if grain not in GRAINS:
        raise bad_param("grain", "raw, minute, hour or day")
    now = datetime.now(UTC)
    end = instant_param("end", req.param("end"), now)
    start = instant_param("start", req.param("start"), end - timedelta(hours=24))
    if end <= start:
        raise bad_param("end", "after start")
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    if grain != "raw" and (end_ms - start_ms) // _SPAN_MS[grain] > MAX_POINTS:
        raise FhirError.of(422, "too-costly", "samples_too_many", limit=MAX_POINTS)
    patient = req.id or ""
    tz = ZoneInfo(call.api.settings.timezone)

    def work(session: Any) -> list[dict[str, Any]]:
        s = check_access(call, session, patient).store.s
        if grain == "raw":
            rows = samples.series(s, patient, measure, start_ms, end_ms, limit=MAX_POINTS + 1)
            if len(rows) > MAX_POINTS:
                raise FhirError.of(422, "too-costly", "samples_too_many", limit=MAX_POINTS)
            points = []
            for r in rows:
                parts: list[dict[str, Any]] = [{"name": "time", "valueInstant": _iso(r.t)}]
                if r.t_end is not None:
                    parts.append({"name": "end", "valueInstant": _iso(r.t_end)})
                if r.value is not None:
                    parts.append({"name": "value", "valueDecimal": _decimal(r.value)})
                if r.value2 is not None:
                    parts.append({"name": "value2", "valueDecimal": _decimal(r.value2)})
                if r.device:
                    parts.append({"name": "device", "valueReference": {"reference": f"Device/{r.device}"}})
                points.append({"name": "point", "part": parts})
            return points
        if grain == "minute":
            buckets = samples.minutes(s, patient, measure, start_ms, end_ms)
        elif grain == "hour":
            buckets = samples.hours(s, patient, measure, start_ms // HOUR_MS * HOUR_MS, end_ms)
        else:
            buckets = samples.days(s, patient, measure, start_ms - 24 * HOUR_MS, end_ms, tz)
            buckets = [b for b in buckets if b.start + 24 * HOUR_MS > start_ms]
        return [
            {
                "name": "bucket",
                "part": [
                    {"name": "start", "valueInstant": _iso(b.start)},
                    {"name": "count", "valueInteger": b.n},
                    {"name": "mean", "valueDecimal": _decimal(b.mean)},
                    {"name": "min", "valueDecimal": _decimal(b.low)},
                    {"name": "max", "valueDecimal": _decimal(b.high)},
                ],
            }
            for b in buckets
        ]

    found = await call.api.db.run(work, write=False)
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "measure", "valueCode": measure},
            {"name": "grain", "valueCode": grain},
            {"name": "start", "valueInstant": _iso(start_ms)},
            {"name": "end", "valueInstant": _iso(end_ms)},
            *found,
        ],
    }
    return Response(jsonio.dumps(body), status_code=200, media_type="application/fhir+json")
