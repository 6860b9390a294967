"""Sparklines of the inbox: for each alert, the recent readings of the vital sign behind it.

Charted readings of the last 48 hours (the last 12) when there are some, else the device
stream's hourly means of the last 24 hours (``$samples``): one or two FHIR calls per patient
and measure, shared by the alerts of the same patient and measure.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hygie.monitoring.rules import MEASURES_BY_LOINC
from hygie.web.charts import Point, sparkline
from hygie.web.fhir import WebFhirError
from hygie.web.pages import Page
from hygie.web.workspace.alerts import AlertRow
from hygie.web.workspace.readings import as_points, charted, hourly
from hygie.web.workspace.view import valid_id

LAST = 12
MAX_ALERTS = 30  # the first 30 alerts get one (a page stays light and fast)


async def recent(p: Page, patient: str, measure: str, now: datetime) -> list[Point]:
    found = (await charted(p, patient, (measure,), now - timedelta(hours=48)))[measure]
    if found:
        return found[-LAST:]
    return as_points(await hourly(p, patient, measure, now))[-24:]


async def goal_measure(p: Page, rule: str) -> str | None:
    """The vital sign of a care team's Goal rule (``goal-{goal id}-{target}-{low|high}``,
    hygie.monitoring.rules.goal_rules): the Goal's target measure."""
    parts = rule.removeprefix("goal-").rsplit("-", 2)
    if len(parts) != 3 or not valid_id(parts[0]):
        return None
    try:
        goal = await p.fhir.get(f"Goal/{parts[0]}")
    except WebFhirError:
        return None
    for target in goal.get("target") or []:
        for coding in ((target or {}).get("measure") or {}).get("coding") or []:
            found = MEASURES_BY_LOINC.get(str(coding.get("code")))
            if found is not None:
                return {"systolic-bp": "blood-pressure"}.get(found[0], found[0])
    return None


async def add_sparklines(p: Page, rows: list[AlertRow]) -> None:
    """Set ``row.spark`` on the first :data:`MAX_ALERTS` rows."""
    now = datetime.fromtimestamp(p.now_ms / 1000, UTC)
    tz = ZoneInfo(p.settings.timezone)
    goals = [row for row in rows[:MAX_ALERTS] if row.rule.startswith("goal-")]
    for row, measure in zip(
        goals, await asyncio.gather(*(goal_measure(p, r.rule) for r in goals)), strict=True
    ):
        row.measure = measure or row.measure
    keys = list(dict.fromkeys((row.patient_id, row.measure) for row in rows[:MAX_ALERTS]))

    async def points_of(patient: str, measure: str) -> list[Point]:
        try:
            return await recent(p, patient, measure, now)
        except WebFhirError:
            return []

    found = await asyncio.gather(*(points_of(*key) for key in keys))
    read = dict(zip(keys, found, strict=True))
    for i, row in enumerate(rows[:MAX_ALERTS]):
        points = read[(row.patient_id, row.measure)]
        row.spark = (
            sparkline(row.measure, points, tz=tz, lang=p.lang, chart_id=f"spark-{i}") if points else None
        )
