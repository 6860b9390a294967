"""Monitoring rules over one patient's data: thresholds with durations and gaps, scores, trends,
missing data, Goals that replace default thresholds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from hygie.monitoring.rules import PatientData, default_rules, evaluate, goal_rules, rules_for, run_since
from hygie.monitoring.trends import NightValue

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def rule(rule_id: str) -> dict[str, Any]:
    return next(r for r in default_rules()["rules"] if r["id"] == rule_id)


def minutes(values: list[float], every: float = 1, end: datetime = NOW) -> list[tuple[datetime, float]]:
    """Samples every ``every`` minutes, the last one at ``end``."""
    n = len(values)
    return [(end - timedelta(minutes=every * (n - 1 - i)), v) for i, v in enumerate(values)]


def data(**series: list[tuple[datetime, float]]) -> PatientData:
    d = PatientData("p1", series={k.replace("_", "-"): v for k, v in series.items()})
    d.units = {"spo2": "%", "heart-rate": "/min", "glucose": "mmol/L", "body-temperature": "Cel"}
    d.last_seen = {k: max(v)[0] for k, v in d.series.items() if v}
    return d


# SpO2 < 92 % for 10 minutes (samples every minute, gaps up to 15 min allowed)
SPO2 = [
    ([97] * 5 + [91] * 11, True),  # 10 minutes of run (11 samples)
    ([97] * 5 + [91] * 10, False),  # 9 minutes
    ([91] * 11 + [93], False),  # the last sample is fine again
    ([91] * 6 + [92] + [91] * 5, False),  # 92 is not below 92: the run restarts
    ([91.9] * 11, True),
]


@pytest.mark.parametrize(("values", "fires"), SPO2)
def test_threshold_with_duration(values: list[float], fires: bool) -> None:
    found = evaluate(data(spo2=minutes(values)), [rule("spo2-low")], NOW)
    assert bool(found) is fires
    if fires:
        assert found[0].key == "spo2-low|p1" and found[0].severity == "high"
        assert found[0].since == NOW - timedelta(minutes=10) or found[0].since < NOW - timedelta(minutes=10)
        assert found[0].value == values[-1]


def test_a_gap_longer_than_allowed_breaks_a_run() -> None:
    early = minutes([2.5] * 3, every=5, end=NOW - timedelta(minutes=40))  # 10 min long, 30 min gap
    late = minutes([2.5] * 2, every=5)  # 5 min long
    found = evaluate(data(glucose=early + late), [rule("glucose-level2-hypo")], NOW)
    assert found == []
    joined = minutes([2.5] * 4, every=5)  # 15 minutes, 5-min sensor
    assert [f.rule for f in evaluate(data(glucose=joined), [rule("glucose-level2-hypo")], NOW)] == [
        "glucose-level2-hypo"
    ]


def test_no_comparison_across_units() -> None:
    d = data(glucose=minutes([40.0] * 20, every=5))
    d.units["glucose"] = "mg/dL"
    assert evaluate(d, [rule("glucose-level2-hypo")], NOW) == []


@pytest.mark.parametrize(("value", "fires"), [(38.4, False), (38.5, True), (39.2, True)])
def test_single_sample_threshold(value: float, fires: bool) -> None:
    found = evaluate(data(body_temperature=minutes([37.0, value])), [rule("temperature-fever")], NOW)
    assert bool(found) is fires


# NEWS2 rules: (total, parts, rules that fire)
SCORES = [
    (4, {"pulse": 1, "temperature": 1, "respiratoryRate": 2}, []),
    (4, {"consciousness": 3, "pulse": 1}, ["news2-single-3"]),
    (5, {"respiratoryRate": 2, "pulse": 2, "temperature": 1}, ["news2-medium"]),
    (5, {"respiratoryRate": 3, "pulse": 2}, ["news2-medium"]),  # the higher band hides the single 3
    (7, {"respiratoryRate": 3, "pulse": 2, "airOrOxygen": 2}, ["news2-high"]),  # one alert, not three
]


@pytest.mark.parametrize(("total", "parts", "expected"), SCORES)
def test_score_rules(total: int, parts: dict[str, int], expected: list[str]) -> None:
    d = PatientData("p1", scores={"news2": (NOW, total, parts)})
    rules = [rule("news2-medium"), rule("news2-high"), rule("news2-single-3"), rule("qsofa-positive")]
    assert [f.rule for f in evaluate(d, rules, NOW)] == expected


def test_qsofa_rule() -> None:
    d = PatientData("p1", scores={"qsofa": (NOW, 2, {"respiratoryRate": 1, "mentation": 1})})
    assert [f.rule for f in evaluate(d, [rule("qsofa-positive")], NOW)] == ["qsofa-positive"]


def nights(deviations: list[float]) -> list[NightValue]:
    return [NightValue(date(2026, 11, 10 + i), 60 + d, 60.0, float(d)) for i, d in enumerate(deviations)]


@pytest.mark.parametrize(
    ("deviations", "fires"), [([0, 11, 10, 12], True), ([0, 11, 9, 12], False), ([10, 10], False)]
)
def test_trend_rule(deviations: list[float], fires: bool) -> None:
    d = PatientData("p1", trends={"resting-heart-rate": nights(deviations)})
    found = evaluate(d, [rule("resting-hr-rise")], NOW)
    assert bool(found) is fires
    if fires:
        assert found[0].since == datetime(2026, 11, 11, tzinfo=UTC)
        assert found[0].value == deviations[-1]


@pytest.mark.parametrize(("hours", "fires"), [(23.9, False), (24, True), (48, True)])
def test_missing_data(hours: float, fires: bool) -> None:
    d = PatientData("p1", last_seen={"heart-rate": NOW - timedelta(hours=hours)})
    assert bool(evaluate(d, [rule("device-silent")], NOW)) is fires
    assert evaluate(PatientData("p2"), [rule("device-silent")], NOW) == []  # no device, no alarm


def goal(
    low: float | None, high: float | None, status: str = "active", code: str = "59408-5"
) -> dict[str, Any]:
    span: dict[str, Any] = {}
    if low is not None:
        span["low"] = {"value": low, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}
    if high is not None:
        span["high"] = {"value": high, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}
    return {
        "resourceType": "Goal",
        "id": "g1",
        "lifecycleStatus": status,
        "description": {"text": "SpO2 88-92 % (BPCO)"},
        "subject": {"reference": "Patient/p1"},
        "target": [
            {"measure": {"coding": [{"system": "http://loinc.org", "code": code}]}, "detailRange": span}
        ],
    }


def test_a_goal_replaces_the_default_threshold_of_its_measure() -> None:
    copd = rules_for([goal(88, 92)])
    ids = [r["id"] for r in copd]
    assert "spo2-low" not in ids and "goal-g1-0-low" in ids and "goal-g1-0-high" in ids
    assert "heart-rate-high" in ids  # other measures keep their defaults
    d = data(spo2=minutes([90] * 15))  # 90 % is fine for this patient
    assert evaluate(d, copd, NOW) == []
    assert [f.rule for f in evaluate(data(spo2=minutes([87])), copd, NOW)] == ["goal-g1-0-low"]
    assert [f.rule for f in evaluate(data(spo2=minutes([93])), copd, NOW)] == ["goal-g1-0-high"]
    # the default rule would have fired on the first case
    assert [f.rule for f in evaluate(d, rules_for([]), NOW)] == ["spo2-low"]


@pytest.mark.parametrize(
    "g",
    [
        goal(88, 92, status="cancelled"),
        goal(88, 92, code="1234-5"),
        goal(None, None),
        {"lifecycleStatus": "active"},
    ],
)
def test_goals_that_do_not_make_rules(g: dict[str, Any]) -> None:
    assert goal_rules([g]) == []


def test_run_since_picks_the_latest_run() -> None:
    series = minutes([1, 1, 5, 1, 1, 1])
    run = run_since(series, lambda v: v < 2, timedelta(minutes=5))
    assert run is not None and len(run) == 3


def test_every_default_rule_cites_a_source_and_both_languages() -> None:
    for r in default_rules()["rules"]:
        assert r["source"] and r["text_fr"] and r["text_en"], r["id"]
        assert r["severity"] in ("high", "moderate", "low")


def test_an_episode_rule_finds_a_past_episode_once() -> None:
    night = NOW - timedelta(hours=9)
    series = minutes([6.0] * 6, every=5, end=night - timedelta(minutes=30))
    series += minutes([2.7, 2.6, 2.5, 2.8], every=5, end=night)  # 15 minutes below 3.0
    series += minutes([6.5] * 12, every=5)  # fine again now
    found = evaluate(data(glucose=series), [rule("glucose-level2-hypo")], NOW)
    assert len(found) == 1 and found[0].episode and found[0].value == 2.5
    assert found[0].since == night - timedelta(minutes=15)
    assert (
        found[0].key
        == f"glucose-level2-hypo|p1|{(night - timedelta(minutes=15)).isoformat(timespec='minutes')}"
    )
    short = minutes([2.7, 2.6, 2.5], every=5, end=night) + minutes([6.5] * 3, every=5)  # 10 minutes only
    assert evaluate(data(glucose=short), [rule("glucose-level2-hypo")], NOW) == []
