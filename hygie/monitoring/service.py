"""Monitoring over stored data: gather a patient's recent data, evaluate the rules, apply the
alert lifecycle, write the alerts as FHIR (DetectedIssue + Task) — one transaction per patient.

What the rules see (:class:`hygie.monitoring.rules.PatientData`), read through the interaction
layer so that every write is the same as through the API:

- the last 24 hours of device samples per measure (``hygie.storage.samples``), in the units of
  :data:`UNITS` (the catalogue's canonical units);
- the latest NEWS2 Observation of the last 24 hours (SNOMED CT 1104051000000101, its components
  as sub-scores);
- 21 nights of resting heart rate and night temperature, for the trend rules;
- the time of the latest sample of each measure (missing-data rules);
- the patient's active Goals (per-patient thresholds), and their alerts (open, or resolved in
  the last day for suppression).

:class:`Monitor` runs :func:`check_patient` in the background for every patient with samples
received since its last round, new NEWS2 scores or open alerts (escalation).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hygie.api.context import Env
from hygie.api.search import find
from hygie.logging import get_logger
from hygie.monitoring.alert_fhir import ALERT_CODE, SYSTEM, alert_from_task, detected_issue, task
from hygie.monitoring.alerts import Action, Alert, reconcile
from hygie.monitoring.alerts import settings as alert_settings
from hygie.monitoring.hourly import materialize
from hygie.monitoring.ingest.catalogue import by_loinc
from hygie.monitoring.rules import PatientData, evaluate, rules_for
from hygie.monitoring.trends import night_temperature, nights, resting_heart_rate, with_baseline
from hygie.storage import samples
from hygie.storage.store import new_id

log = get_logger("hygie.monitoring")
NEWS2 = "http://snomed.info/sct|1104051000000101"
LOINC = "http://loinc.org"
NEWS2_PARTS = {
    "1104301000000104": "respiratoryRate",
    "1104311000000102": "spo2",
    "1104331000000105": "airOrOxygen",
    "1104341000000101": "systolicBP",
    "1104351000000103": "pulse",
    "1104361000000100": "consciousness",
    "1104371000000107": "temperature",
}
UNITS = {"heart-rate": "/min", "spo2": "%", "glucose": "mmol/L", "interstitial-glucose": "mmol/L",
         "body-temperature": "Cel", "skin-temperature": "Cel", "respiratory-rate": "/min"}  # fmt: skip
SAME_RULES = {"interstitial-glucose": "glucose"}
WINDOW = timedelta(hours=24)
DEBOUNCE = 0.1  # seconds between new device data and its check
TREND_NIGHTS = 21


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def charted(env: Env, patient: str, since: datetime) -> dict[str, list[tuple[datetime, float]]]:
    """Vital signs written as ordinary Observations since ``since`` (a nurse's charting through
    the FHIR API), as series in the catalogue's canonical units (measures of :data:`UNITS`)."""
    by_code = {code: kind for code, kind in by_loinc().items() if kind.key in UNITS}
    out: dict[str, list[tuple[datetime, float]]] = {}
    criteria = [("subject", f"Patient/{patient}"), ("category", "vital-signs"),
                ("date", f"ge{since.isoformat(timespec='seconds')}")]  # fmt: skip
    for version in find(env, "Observation", criteria, limit=5000):
        obs = version.resource()
        quantity, when = obs.get("valueQuantity") or {}, obs.get("effectiveDateTime")
        if obs.get("status") in ("entered-in-error", "cancelled") or not isinstance(when, str):
            continue
        codes = [
            c.get("code") for c in (obs.get("code") or {}).get("coding") or [] if c.get("system") == LOINC
        ]
        k = next((by_code[c] for c in codes if c in by_code), None)
        value = quantity.get("value")
        if k is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        converted = k.convert(float(value), str(quantity.get("code") or quantity.get("unit") or k.unit))
        try:
            at = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            continue
        if converted is not None and at.tzinfo is not None:
            out.setdefault(SAME_RULES.get(k.key, k.key), []).append((at, converted))
    return out


def gather(env: Env, patient: str, now: datetime) -> PatientData:
    """Everything the rules look at for one patient (see the module doc)."""
    s = env.store.s
    tz = ZoneInfo(env.settings.timezone)
    data = PatientData(patient)
    start, end = _ms(now - WINDOW), _ms(now) + 1
    for measure, unit in UNITS.items():
        rows = samples.series(s, patient, measure, start, end)
        points = [(_at(r.t), r.value) for r in rows if r.value is not None]
        target = SAME_RULES.get(measure, measure)  # a CGM's glucose answers the glucose rules
        if points:
            data.series.setdefault(target, []).extend(points)
            data.units[target] = unit
    for measure, points in charted(env, patient, now - WINDOW).items():  # a nurse's spot checks
        data.series.setdefault(measure, []).extend(points)
        data.units.setdefault(measure, UNITS[measure])
    for measure in data.series:
        data.series[measure].sort()
    data.last_seen = {m: _at(t) for m, t in samples.last_seen(s, patient).items()}
    trend_start = _ms(now - timedelta(days=TREND_NIGHTS + 1))
    heart = [
        (_at(r.t), r.value) for r in samples.series(s, patient, "heart-rate", trend_start, end) if r.value
    ]
    if heart:
        values = {d: v for d, n in nights(heart, tz).items() if (v := resting_heart_rate(n)) is not None}
        data.trends["resting-heart-rate"] = with_baseline(values)
    temperature = [
        (_at(r.t), r.value)
        for m in ("skin-temperature", "body-temperature")
        for r in samples.series(s, patient, m, trend_start, end)
        if r.value is not None
    ]
    if temperature:
        values = {d: v for d, n in nights(temperature, tz).items() if (v := night_temperature(n)) is not None}
        data.trends["night-temperature"] = with_baseline(values)
    since = (now - WINDOW).isoformat(timespec="seconds")
    scores = find(
        env,
        "Observation",
        [("code", NEWS2), ("subject", f"Patient/{patient}"), ("date", f"ge{since}")],
        limit=1,
        sort=["-date"],
    )
    if scores:
        obs = scores[0].resource()
        parts = {
            NEWS2_PARTS[c["code"]["coding"][0]["code"]]: int(c.get("valueInteger", 0))
            for c in obs.get("component") or []
            if c.get("code", {}).get("coding", [{}])[0].get("code") in NEWS2_PARTS
        }
        when = datetime.fromisoformat(
            str(obs.get("effectiveDateTime") or obs.get("issued")).replace("Z", "+00:00")
        )
        data.scores["news2"] = (when, int(obs["valueQuantity"]["value"]), parts)
    return data


def alerts_of(env: Env, patient: str, now: datetime) -> list[Alert]:
    """The patient's alerts: open ones and those resolved in the last day."""
    tasks = find(
        env,
        "Task",
        [("code", f"{SYSTEM}|alert"), ("patient", f"Patient/{patient}")],
        limit=500,
        sort=["-_lastUpdated"],
    )
    out = []
    for version in tasks:
        alert = alert_from_task(version.resource())
        if alert.open or (alert.resolved_at is not None and now - alert.resolved_at < timedelta(days=1)):
            out.append(alert)
    return out


def check_patient(env: Env, patient: str, now: datetime, lang: str = "fr") -> list[Action]:
    """Evaluate one patient and write the resulting alerts; the actions taken.

    The patient's row is locked first (PostgreSQL ``FOR UPDATE``; SQLite has one writer at a
    time): checks of the same patient at once — after an upload and in the periodic round, or in
    two server processes — run one after the other, so the second sees the alerts the first
    raised instead of raising them again."""
    env.store.read("Patient", patient, for_update=True)
    goals = [v.resource() for v in find(env, "Goal", [("patient", f"Patient/{patient}")], limit=100)]
    rules = rules_for(goals)
    by_id = {r["id"]: r for r in rules}
    findings = evaluate(gather(env, patient, now), rules, now)
    actions = reconcile(alerts_of(env, patient, now), findings, now, new_id)
    for action in actions:
        apply(env, action, lang, by_id.get(action.alert.rule, {}).get("source", ""))
    return actions


def apply(env: Env, action: Action, lang: str = "fr", source: str = "") -> None:
    """Write one lifecycle action: a new DetectedIssue + Task, or the Task's new state."""
    if action.kind == "suppress":
        return
    alert = action.alert
    if action.kind == "raise":
        assert action.finding is not None
        issue = detected_issue(alert, action.finding, lang, source)
        env.store.create("DetectedIssue", issue, alert.id)
        env.store.create("Task", task(alert, issue["code"]["text"]), alert.id)
        log.info("alert_raised", rule=alert.rule, severity=alert.severity, alert=alert.id)
        return
    current = env.store.read("Task", alert.id)
    if current is None or current.deleted:
        return  # removed by hand meanwhile: nothing to update
    if action.kind == "refresh" and not _due(alert, alert_from_task(current.resource())):
        return
    description = current.resource().get("description", "")
    env.store.update(current, task(alert, description))
    if action.kind == "escalate":
        log.warning("alert_escalated", rule=alert.rule, escalation=alert.escalation, alert=alert.id)


def _due(alert: Alert, stored: Alert) -> bool:
    """A refresh is written when the alert is back (no longer cleared) or its stored ``seen`` is
    older than the lifecycle's ``seen_refresh_minutes``: checks follow every upload, and a Task
    version per check would notify every subscriber each time (docs/monitoring.md)."""
    every = timedelta(minutes=alert_settings()["seen_refresh_minutes"])
    return stored.cleared != alert.cleared or alert.seen_at - stored.seen_at >= every


def patients_to_check(env: Env, since_ms: int, now: datetime) -> set[str]:
    """Patients with samples received since ``since_ms``, a NEWS2 score written since then, or
    an open alert (which may need escalating)."""
    s = env.store.s
    rows = s.all("SELECT DISTINCT patient FROM sample WHERE received >= ?", (since_ms,))
    found = {str(r[0]) for r in rows}
    since = _at(since_ms).isoformat(timespec="milliseconds")
    for v in find(env, "Observation", [("code", NEWS2), ("_lastUpdated", f"ge{since}")], limit=10_000):
        ref = (v.resource().get("subject") or {}).get("reference", "")
        if ref.startswith("Patient/"):
            found.add(ref.removeprefix("Patient/"))
    for status in ("requested", "accepted"):
        for v in find(env, "Task", [("code", f"{SYSTEM}|alert"), ("status", status)], limit=10_000):
            ref = (v.resource().get("for") or {}).get("reference", "")
            found.add(ref.removeprefix("Patient/"))
    found.discard("")
    return found


@dataclass
class Monitor:
    """Background checks: every ``interval`` seconds a full round over the patients that need
    it, and — for device data — at once: :meth:`touch` (called by ``$ingest``) queues a patient,
    checked after :data:`DEBOUNCE` seconds (a burst of uploads for one patient is one check), so
    an alert follows its data within about a second.

    ``make_env(session)`` builds a system Env (no access restriction: the server's own work);
    ``run(work)`` runs it in a write transaction. One transaction per patient, so a failure on
    one patient leaves the others' alerts written. :meth:`close` waits for the check under way
    (never cancelled mid-write)."""

    run: Callable[[Callable[[Any], Any]], Any]
    make_env: Callable[[Any], Env]
    interval: float = 60.0
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _since_ms: int = 0
    _dirty: set[str] = field(default_factory=set)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def round(self) -> int:
        """One round; the number of patients checked."""
        now = self.clock()
        since = self._since_ms or _ms(now - timedelta(hours=1))
        patients = await self.run(lambda s: sorted(patients_to_check(self.make_env(s), since, now)))
        await self._check(patients, now)
        try:  # closed hours of dense streams → SampledData Observations (hygie/monitoring/hourly.py)
            await self.run(lambda s: materialize(self.make_env(s), since, now))
        except Exception as exc:
            log.error("monitoring_hours_failed", error=type(exc).__name__)
        self._since_ms = _ms(now)
        return len(patients)

    async def _check(self, patients: list[str], now: datetime) -> None:
        for patient in patients:
            try:
                await self.run(lambda s, p=patient: check_patient(self.make_env(s), p, now))  # type: ignore[misc]
            except Exception as exc:  # one patient's failure must not stop the others
                log.error("monitoring_failed", error=type(exc).__name__)

    def touch(self, patient: str) -> None:
        """New device data for ``patient``: check them soon."""
        self._dirty.add(patient)
        self._wake.set()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._rounds()), loop.create_task(self._soon())]

    async def _rounds(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)
            if self._stop.is_set():
                return
            try:
                await self.round()
            except Exception as exc:
                log.error("monitoring_round_failed", error=type(exc).__name__)

    async def _soon(self) -> None:
        while not self._stop.is_set():
            await self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            await asyncio.sleep(DEBOUNCE)
            patients, self._dirty = sorted(self._dirty), set()
            await self._check(patients, self.clock())

    async def close(self) -> None:
        self._stop.set()
        self._wake.set()
        for running in self._tasks:
            await running


__all__ = ["ALERT_CODE", "Monitor", "check_patient", "gather", "patients_to_check"]
