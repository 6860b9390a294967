"""``/portal/measurements``: my measurements — a chart, the same figures as a table, a summary in
words — for one measure and one period, and the devices that sent them.

URL: ``/portal/measurements?measure=heart-rate&period=week`` (codes only: no personal data). The
readings come from ``GET Patient/{id}/$samples`` (docs/monitoring.md: every reading when there
are at most :data:`~hygie.web.portal.measures.RAW_MAX` in the period, else hourly or daily
aggregates) and from the vital-sign Observations of the period
(https://hl7.org/fhir/R4/observation-vitalsigns.html), all through ``p.fhir``; an active Goal of
the measure draws its target range. The chart is :func:`hygie.web.charts.time_series`
(docs/charts.md). Devices: ``Device?patient=`` (https://hl7.org/fhir/R4/device.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from hygie.web.charts import Bucket, Point, samples_buckets, samples_points, time_series
from hygie.web.charts.messages import t as chart_text
from hygie.web.pages import Page, page
from hygie.web.portal import measures
from hygie.web.portal.common import render, search_all, zone
from hygie.web.portal.measures import MEASURES, PERIODS, RAW_MAX, Period, instant
from hygie.web.portal.people import concept_text


@dataclass(frozen=True, slots=True)
class Readings:
    points: list[Point]
    buckets: list[Bucket]
    grain: str  # "raw", "hour" or "day"


@dataclass(frozen=True, slots=True)
class DeviceLine:
    name: str
    model: str
    maker: str
    active: bool


async def _samples(p: Page, measure: str, grain: str, start: datetime, end: datetime) -> dict[str, Any]:
    params = [("measure", measure), ("grain", grain), ("start", instant(start)), ("end", instant(end))]
    return await p.fhir.operation(f"Patient/{p.patient}/$samples", None, params)


async def _observations(p: Page, measure: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    params = [
        ("patient", p.patient),
        ("code", ",".join(measures.codes(measure))),
        ("date", "ge" + instant(start)),
        ("date", "le" + instant(end)),
        ("_sort", "date"),
    ]
    if measure != "blood-pressure":  # leave out the hourly SampledData copies of device streams
        params.append(("value-quantity", "ge0"))
    return await search_all(p, "Observation", params)


async def readings(
    p: Page, measure: str, period: Period, start: datetime, end: datetime, daily: list[Bucket] | None = None
) -> Readings:
    """Every reading of the period when there are few, else the aggregates (Observations that
    no device sent added to them); ``daily``: the day aggregates already read, if any."""
    if daily is not None and period.grain == "day":
        aggregated = daily
    else:
        aggregated = samples_buckets(await _samples(p, measure, period.grain, start, end))
    found = [(o, measures.observation_point(measure, o)) for o in await _observations(p, measure, start, end)]
    observed = [(o, pt) for o, pt in found if pt is not None]
    total = sum(b.count for b in aggregated)
    if total + len(observed) <= RAW_MAX:
        raw = samples_points(await _samples(p, measure, "raw", start, end)) if total else []
        return Readings(measures.merge_points(raw, [pt for _, pt in observed]), [], "raw")
    extra = [pt for o, pt in observed if not measures.from_device(o)]
    return Readings([], measures.merge_buckets(aggregated, extra, period.grain, zone(p)), period.grain)


async def first_measure(p: Page, start: datetime, end: datetime) -> tuple[str, list[Bucket] | None]:
    """The first measure (in :data:`MEASURES` order) with device data in the period (with its
    day aggregates), else the one of the latest Observation, else heart rate."""
    for measure in MEASURES:
        daily = samples_buckets(await _samples(p, measure, "day", start, end))
        if daily:
            return measure, daily
    every = ",".join(c for m in MEASURES for c in measures.codes(m))
    latest = await search_all(p, "Observation", [("patient", p.patient), ("code", every), ("_sort", "-date")])
    for obs in latest[:50]:
        for measure in MEASURES:
            if measures.observation_point(measure, obs) is not None and _is(measure, obs):
                return measure, None
    return MEASURES[0], None


def _is(measure: str, obs: dict[str, Any]) -> bool:
    mine = {c.split("|", 1)[1] for c in measures.codes(measure)}
    return any(
        c.get("code") in mine for c in (obs.get("code") or {}).get("coding") or [] if isinstance(c, dict)
    )


def device_line(device: dict[str, Any]) -> DeviceLine:
    names = [n for n in device.get("deviceName") or [] if isinstance(n, dict) and n.get("name")]
    friendly = next((n["name"] for n in names if n.get("type") == "user-friendly-name"), None)
    name = str(
        friendly
        or (names[0]["name"] if names else "")
        or concept_text(device.get("type"))
        or device.get("id")
    )
    return DeviceLine(
        name,
        str(device.get("modelNumber") or ""),
        str(device.get("manufacturer") or ""),
        device.get("status", "active") == "active",
    )


@page("/portal/measurements", who="patient")
async def measurements(p: Page) -> Response:
    query = p.request.query_params
    period = PERIODS.get(query.get("period") or "week")
    chosen = query.get("measure")
    if period is None or (chosen is not None and chosen not in MEASURES):
        return p.error(404)
    end = datetime.fromtimestamp(p.now_ms / 1000, UTC)
    start = end - period.span
    measure, daily = (chosen, None) if chosen else await first_measure(p, start, end)
    found = await readings(p, measure, period, start, end, daily)
    goals = await search_all(p, "Goal", [("patient", p.patient), ("lifecycle-status", "active,accepted")])
    tz = zone(p)
    chart = time_series(
        measure,
        tz=tz,
        lang=p.lang,
        points=found.points,
        buckets=found.buckets,
        grain="hour" if found.grain == "raw" else found.grain,  # type: ignore[arg-type]
        start=start,
        end=end,
        target=measures.target(measure, goals),
        chart_id="measure-chart",
    )
    devices = [device_line(d) for d in await search_all(p, "Device", [("patient", p.patient)])]
    return render(
        p,
        "portal/measurements.html",
        title="pt_measurements_title",
        section="measurements",
        measure=measure,
        period=period.key,
        measures=[(m, chart_text(f"measure.{m}", p.lang)) for m in MEASURES],
        measure_name=chart_text(f"measure.{measure}", p.lang),
        periods=list(PERIODS),
        chart=chart,
        grain=found.grain,
        devices=devices,
    )


PAGES = [measurements]
