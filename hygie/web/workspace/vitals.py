"""``/workspace/patient/{id}/vitals``: vital signs over time and the NEWS2 chart.

For each vital sign, the readings charted in the last 7 days (hygie.web.workspace.readings); when
there are none, the device stream's hourly aggregates of the last 24 hours (``$samples``). NEWS2:
the stored score Observations of the last 7 days on the RCP risk bands
(:func:`hygie.web.charts.news2_chart`). Every chart comes with its data table and a summary.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from starlette.responses import Response

from hygie.web.charts import Chart, news2_chart, news2_point, time_series
from hygie.web.fhir import resources
from hygie.web.pages import Page, page
from hygie.web.workspace.chart import ChartView, open_chart, render_chart
from hygie.web.workspace.readings import VITALS, charted, hourly
from hygie.web.workspace.summary import NEWS2

DAYS = 7
LONG_DAYS = 365  # blood pressure and weight: a year of consultations
LONG = {"blood-pressure", "body-weight"}
DEVICE_HOURS = 24
DEVICE_MEASURES = {"heart-rate", "spo2", "respiratory-rate", "body-temperature", "blood-pressure"}


@dataclass(frozen=True, slots=True)
class VitalChart:
    measure: str
    source: str  # ws_source_charted | ws_source_device
    chart: Chart
    days: int = DAYS


async def vital_charts(p: Page, pid: str, now: datetime) -> list[VitalChart]:
    tz = ZoneInfo(p.settings.timezone)
    found = await charted(p, pid, VITALS, now - timedelta(days=LONG_DAYS))
    for measure in set(VITALS) - LONG:
        found[measure] = [pt for pt in found[measure] if pt.at >= now - timedelta(days=DAYS)]
    streams = [m for m in VITALS if not found[m] and m in DEVICE_MEASURES]
    devices = dict(
        zip(
            streams,
            await asyncio.gather(*(hourly(p, pid, m, now, DEVICE_HOURS) for m in streams)),
            strict=True,
        )
    )
    out = []
    for measure in VITALS:
        points = found[measure]
        if points:
            days = LONG_DAYS if measure in LONG else DAYS
            start = now - timedelta(days=days)
            chart = time_series(
                measure, points=points, tz=tz, lang=p.lang, start=start, end=now, chart_id=f"vital-{measure}"
            )
            out.append(VitalChart(measure, "ws_source_charted", chart, days))
            continue
        buckets = devices.get(measure)
        if buckets:
            chart = time_series(
                measure,
                buckets=buckets,
                grain="hour",
                tz=tz,
                lang=p.lang,
                start=now - timedelta(hours=DEVICE_HOURS),
                end=now,
                chart_id=f"vital-{measure}",
            )
            out.append(VitalChart(measure, "ws_source_device", chart))
    return out


@page("/workspace/patient/{patient}/vitals", who="professional")
async def chart_vitals(p: Page) -> Response:
    view = await open_chart(p, "vitals")
    if not isinstance(view, ChartView):
        return view
    now = datetime.fromtimestamp(p.now_ms / 1000, UTC)
    start = now - timedelta(days=DAYS)
    vitals, bundle = await asyncio.gather(
        vital_charts(p, view.id, now),
        p.fhir.search(
            "Observation",
            [
                ("patient", view.id),
                ("code", NEWS2),
                ("date", f"ge{start.isoformat(timespec='seconds')}"),
                ("_sort", "date"),
                ("_count", "200"),
            ],
        ),
    )
    scores = resources(bundle)
    points = [pt for pt in (news2_point(o) for o in scores) if pt is not None]
    news2 = (
        news2_chart(
            points,
            tz=ZoneInfo(p.settings.timezone),
            lang=p.lang,
            start=start,
            end=now,
            chart_id="news2-chart",
        )
        if points
        else None
    )
    return render_chart(
        p, view, "workspace/vitals.html", vitals=vitals, news2=news2, days=DAYS, hours=DEVICE_HOURS
    )


PAGES = [chart_vitals]
