"""Monitoring rules as data, and their evaluation over one patient's recent data.

The default rules live in ``data/alert_rules.json`` with their sources; a care team adapts them
per patient with FHIR Goals (:func:`goal_rules`): a Goal whose ``target.measure`` is a monitored
LOINC code and whose ``detailRange`` gives low/high bounds replaces the default threshold rules
of that measure for that patient (https://hl7.org/fhir/R4/goal.html).

Four kinds of rule:

- ``threshold``: a measure compared to a value (``<``, ``<=``, ``>``, ``>=``) on every sample of a
  run lasting at least ``for_minutes`` — consecutive samples no further apart than
  ``max_gap_minutes``; 0 minutes = any single sample. The run must be going on now, unless the
  rule says ``episode``: then any such run in the data (the last 24 hours) is a finding of its
  own, alerted once (its key carries the episode's start) even when it is over;
- ``score``: a computed score (NEWS2, qSOFA) reaches ``at_least``, or one of its parameters
  reaches ``single_at_least``;
- ``trend``: a nightly deviation from the personal baseline sustained over ``nights``
  (:mod:`hygie.monitoring.trends`);
- ``missing``: no sample of a measure (``*``: of any) for ``hours`` while a device sends it.

:func:`evaluate` is pure: data in, :class:`Finding` out; each finding carries a key (rule and
patient) so that an ongoing condition raises one alert, not one per sample
(:mod:`hygie.monitoring.alerts`).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import cache
from importlib import resources
from typing import Any

from hygie.monitoring.trends import NightValue, sustained

Series = Sequence[tuple[datetime, float]]
OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
# Monitored measures by LOINC code, for Goals (codes as in hygie/monitoring/news2_fhir.py).
MEASURES_BY_LOINC = {
    "59408-5": ("spo2", "%"),
    "2708-6": ("spo2", "%"),
    "8867-4": ("heart-rate", "/min"),
    "9279-1": ("respiratory-rate", "/min"),
    "8310-5": ("body-temperature", "Cel"),
    "8480-6": ("systolic-bp", "mm[Hg]"),
    "15074-8": ("glucose", "mmol/L"),
    "2339-0": ("glucose", "mg/dL"),
    "29463-7": ("body-weight", "kg"),
}

LABELS = {  # measure → (French, English) for messages
    "spo2": ("SpO2", "SpO2"),
    "heart-rate": ("Fréquence cardiaque", "Heart rate"),
    "respiratory-rate": ("Fréquence respiratoire", "Respiratory rate"),
    "body-temperature": ("Température", "Temperature"),
    "systolic-bp": ("Pression artérielle systolique", "Systolic blood pressure"),
    "glucose": ("Glycémie", "Glucose"),
    "body-weight": ("Poids", "Weight"),
}


@cache
def default_rules() -> dict[str, Any]:
    """The default rules and lifecycle settings, with their sources."""
    data: dict[str, Any] = json.loads(
        resources.files("hygie.monitoring").joinpath("data/alert_rules.json").read_text("utf-8")
    )
    return data


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule that holds for a patient now."""

    rule: str
    patient: str
    severity: str  # high | moderate | low
    since: datetime  # when the condition began (the run's first sample, the last data…)
    text: dict[str, str]  # language → sentence
    evidence: tuple[datetime, ...] = ()  # times of the samples that show it
    value: float | None = None  # the latest value, score or deviation
    episode: bool = False  # a past episode (rule ``episode``), not a condition holding now

    @property
    def key(self) -> str:
        """One open alert per rule and patient (deduplication) — per episode for episodes."""
        if self.episode:
            return f"{self.rule}|{self.patient}|{self.since.isoformat(timespec='minutes')}"
        return f"{self.rule}|{self.patient}"


@dataclass(slots=True)
class PatientData:
    """What the rules look at for one patient. Series are (time, value) in the rule's unit."""

    patient: str
    series: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)  # measure →
    scores: dict[str, tuple[datetime, int, dict[str, int]]] = field(default_factory=dict)  # latest
    trends: dict[str, list[NightValue]] = field(default_factory=dict)
    last_seen: dict[str, datetime] = field(default_factory=dict)  # measure → last sample time
    units: dict[str, str] = field(default_factory=dict)  # measure → unit of its series


def run_since(series: Series, test: Callable[[float], bool], max_gap: timedelta) -> list[datetime] | None:
    """The times of the latest run of consecutive samples that all pass ``test`` and end with
    the last sample (None when the last sample fails)."""
    ordered = sorted(series)
    if not ordered or not test(ordered[-1][1]):
        return None
    run = [ordered[-1][0]]
    for (t, v), (t_next, _) in zip(reversed(ordered[:-1]), reversed(ordered[1:]), strict=True):
        if not test(v) or t_next - t > max_gap:
            break
        run.append(t)
    return run[::-1]


def runs(
    series: Series, test: Callable[[float], bool], max_gap: timedelta
) -> list[list[tuple[datetime, float]]]:
    """Every run of consecutive samples that pass ``test`` (no gap above ``max_gap``), in order."""
    out: list[list[tuple[datetime, float]]] = []
    current: list[tuple[datetime, float]] = []
    for t, v in sorted(series):
        if test(v) and (not current or t - current[-1][0] <= max_gap):
            current.append((t, v))
            continue
        if current:
            out.append(current)
        current = [(t, v)] if test(v) else []
    if current:
        out.append(current)
    return out


def _threshold(rule: dict[str, Any], data: PatientData) -> Finding | None:
    series = data.series.get(rule["measure"])
    if not series:
        return None
    unit = data.units.get(rule["measure"], rule["unit"])
    if unit != rule["unit"]:
        return None  # never compare across units: the caller converts (ingestion does)
    limit, compare = float(rule["value"]), OPS[rule["op"]]
    gap, length = timedelta(minutes=rule.get("max_gap_minutes", 15)), timedelta(minutes=rule["for_minutes"])
    if rule.get("episode"):  # any episode in the data (the last 24 h), each alerted once
        long_enough = [
            r for r in runs(series, lambda v: compare(v, limit), gap) if r[-1][0] - r[0][0] >= length
        ]
        if not long_enough:
            return None
        last = long_enough[-1]
        extreme = (min if rule["op"].startswith("<") else max)(v for _, v in last)
        times = tuple(t for t, _ in last)
        return Finding(
            rule["id"], data.patient, rule["severity"], last[0][0], _text(rule), times, extreme, True
        )
    run = run_since(series, lambda v: compare(v, limit), gap)
    if run is None or run[-1] - run[0] < length:
        return None
    latest = max(series)[1]
    return Finding(rule["id"], data.patient, rule["severity"], run[0], _text(rule), tuple(run), latest)


def _score(rule: dict[str, Any], data: PatientData) -> Finding | None:
    latest = data.scores.get(rule["score"])
    if latest is None:
        return None
    when, total, parts = latest
    if "at_least" in rule and total >= rule["at_least"]:
        return Finding(rule["id"], data.patient, rule["severity"], when, _text(rule), (when,), float(total))
    if "single_at_least" in rule and any(p >= rule["single_at_least"] for p in parts.values()):
        return Finding(rule["id"], data.patient, rule["severity"], when, _text(rule), (when,), float(total))
    return None


def _trend(rule: dict[str, Any], data: PatientData) -> Finding | None:
    trend = data.trends.get(rule["trend"])
    if not trend or not sustained(trend, rule["deviation_at_least"], rule["nights"]):
        return None
    nights = trend[-rule["nights"] :]
    since = datetime.combine(nights[0].night, time(0), tzinfo=UTC)  # the first night of the run
    return Finding(rule["id"], data.patient, rule["severity"], since, _text(rule), (), nights[-1].deviation)


def _missing(rule: dict[str, Any], data: PatientData, now: datetime) -> Finding | None:
    seen = (
        data.last_seen
        if rule["measure"] == "*"
        else {k: v for k, v in data.last_seen.items() if k == rule["measure"]}
    )
    if not seen:
        return None  # nothing was ever sent: no device to miss
    last = max(seen.values())
    if now - last < timedelta(hours=rule["hours"]):
        return None
    return Finding(rule["id"], data.patient, rule["severity"], last, _text(rule), (last,), None)


def _text(rule: dict[str, Any]) -> dict[str, str]:
    return {"fr": rule["text_fr"], "en": rule["text_en"]}


def evaluate(data: PatientData, rules: Sequence[Mapping[str, Any]], now: datetime) -> list[Finding]:
    """Every rule that holds for the patient now, in the rules' order — less those a finding of
    a higher rule supersedes (``supersedes``: NEWS2 ≥ 7 hides NEWS2 ≥ 5 and a single 3)."""
    found = []
    for rule in rules:
        kind = rule["kind"]
        if kind == "threshold":
            finding = _threshold(dict(rule), data)
        elif kind == "score":
            finding = _score(dict(rule), data)
        elif kind == "trend":
            finding = _trend(dict(rule), data)
        elif kind == "missing":
            finding = _missing(dict(rule), data, now)
        else:
            raise ValueError(f"unknown rule kind {kind!r}")
        if finding is not None:
            found.append(finding)
    hidden = {name for f in found for r in rules if r["id"] == f.rule for name in r.get("supersedes", ())}
    return [f for f in found if f.rule not in hidden]


def goal_rules(goals: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Threshold rules from a patient's active Goals: ``target.measure`` a monitored LOINC code,
    ``target.detailRange`` low and/or high → "below low" and "above high" rules (severity
    moderate, immediate). Goals of another lifecycle status than active/accepted are ignored."""
    rules = []
    for goal in goals:
        if goal.get("lifecycleStatus") not in ("active", "accepted"):
            continue
        gid = goal.get("id", "goal")
        for i, target in enumerate(goal.get("target") or []):
            codes = [
                c.get("code")
                for c in (target.get("measure") or {}).get("coding") or []
                if c.get("system") == "http://loinc.org"
            ]
            measure = next((MEASURES_BY_LOINC[c] for c in codes if c in MEASURES_BY_LOINC), None)
            span = target.get("detailRange")
            if measure is None or not isinstance(span, dict):
                continue
            name, unit = measure
            for side, op, word_fr, word_en in (
                ("low", "<", "sous", "below"),
                ("high", ">", "au-dessus de", "above"),
            ):
                bound = span.get(side)
                if not isinstance(bound, dict) or not isinstance(bound.get("value"), int | float):
                    continue
                value, bound_unit = float(bound["value"]), bound.get("code") or bound.get("unit") or unit
                rules.append(
                    {
                        "id": f"goal-{gid}-{i}-{side}",
                        "kind": "threshold",
                        "measure": name,
                        "op": op,
                        "value": value,
                        "unit": bound_unit,
                        "for_minutes": 0,
                        "max_gap_minutes": 15,
                        "severity": "moderate",
                        "text_fr": f"{LABELS.get(name, (name, name))[0]} {word_fr} l'objectif fixé par "
                        f"l'équipe ({value:g} {bound_unit})",
                        "text_en": f"{LABELS.get(name, (name, name))[1]} {word_en} the care team's target "
                        f"({value:g} {bound_unit})",
                        "source": f"Goal/{gid}",
                        "goal": gid,
                    }
                )
    return rules


def rules_for(goals: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The patient's rules: the defaults, where a Goal's measure replaces the default threshold
    rules of that measure."""
    personal = goal_rules(goals)
    replaced = {r["measure"] for r in personal}
    defaults = [
        r for r in default_rules()["rules"] if not (r["kind"] == "threshold" and r["measure"] in replaced)
    ]
    return [*defaults, *personal]
