"""``/workspace/patient/{id}/glucose``: continuous glucose monitoring (CGM).

``GET Patient/[id]/$cgm-metrics`` over the last 14 days (docs/monitoring.md "CGM metrics", the
International Consensus on Time in Range, Battelino 2019): the key figures (readings, capture,
mean, GMI, CV), the time-in-ranges stacked bar and the ambulatory glucose profile; then the last
24 hours from ``$samples`` (hourly aggregates) against the 3.9–10.0 mmol/L target. A patient
without glucose readings gets a sentence saying so.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response

from hygie.web.charts import agp_chart, cgm_agp, cgm_percent, fmt, time_series, tir_chart
from hygie.web.pages import Page, page
from hygie.web.workspace.chart import ChartView, open_chart, render_chart
from hygie.web.workspace.readings import hourly

DAYS = 14
TARGET = (3.9, 10.0)


@dataclass(frozen=True, slots=True)
class Figure:
    key: str  # message key of the label
    value: str
    met: bool | None  # the consensus target met (None: no target)


def _values(answer: dict[str, Any]) -> dict[str, Any]:
    return {
        str(p.get("name")): next((v for k, v in p.items() if k.startswith("value")), None)
        for p in answer.get("parameter") or []
        if isinstance(p, dict) and "part" not in p
    }


def figures(values: dict[str, Any], lang: str) -> list[Figure]:
    def num(key: str, decimals: int) -> str:
        v = values.get(key)
        return fmt.number(float(v), lang, decimals) if isinstance(v, int | float) else "—"

    def pct(key: str) -> str:
        v = values.get(key)
        return fmt.percent(float(v), lang, 1) if isinstance(v, int | float) else "—"

    met = values.get("target-cv")
    return [
        Figure("ws_cgm_readings", num("count", 0), None),
        Figure("ws_cgm_days", num("days", 1), None),
        Figure("ws_cgm_capture", pct("capture"), bool(values.get("sufficient"))),
        Figure("ws_cgm_mean", f"{num('mean', 1)} mmol/L", None),
        Figure("ws_cgm_gmi", pct("gmi"), None),
        Figure("ws_cgm_cv", pct("cv"), met if isinstance(met, bool) else None),
    ]


@page("/workspace/patient/{patient}/glucose", who="professional")
async def chart_glucose(p: Page) -> Response:
    view = await open_chart(p, "glucose")
    if not isinstance(view, ChartView):
        return view
    now = datetime.fromtimestamp(p.now_ms / 1000, UTC)
    answer, buckets = await asyncio.gather(
        p.fhir.operation(
            f"Patient/{view.id}/$cgm-metrics",
            None,
            [("start", (now - timedelta(days=DAYS)).isoformat()), ("end", now.isoformat())],
        ),
        hourly(p, view.id, "interstitial-glucose", now),
    )
    values = _values(answer)
    count = values.get("count")
    if not isinstance(count, int) or count == 0:
        return render_chart(p, view, "workspace/glucose.html", readings=0, days=DAYS)
    tz = ZoneInfo(p.settings.timezone)
    days = values.get("days")
    tir = tir_chart(
        cgm_percent(answer),
        lang=p.lang,
        days=float(days) if isinstance(days, int | float) else None,
        chart_id="cgm-tir",
    )
    agp = agp_chart(cgm_agp(answer), lang=p.lang, target=TARGET, chart_id="cgm-agp")
    day = (
        time_series(
            "interstitial-glucose",
            buckets=buckets,
            grain="hour",
            tz=tz,
            lang=p.lang,
            target=TARGET,
            start=now - timedelta(hours=24),
            end=now,
            chart_id="cgm-day",
        )
        if buckets
        else None
    )
    return render_chart(
        p,
        view,
        "workspace/glucose.html",
        readings=count,
        days=DAYS,
        figures=figures(values, p.lang),
        tir=tir,
        agp=agp,
        day=day,
    )


PAGES = [chart_glucose]
