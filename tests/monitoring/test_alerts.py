"""The alert lifecycle state machine: raise once, refresh, upgrade, suppress after a resolution,
escalate when nobody acknowledges, clear or auto-resolve when the condition stops."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hygie.monitoring.alerts import Action, Alert, acknowledge, reconcile, resolve
from hygie.monitoring.rules import Finding

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def finding(severity: str = "high", rule: str = "spo2-low") -> Finding:
    return Finding(rule, "p1", severity, T0, {"fr": "x", "en": "x"})


def ids() -> object:
    counter = itertools.count(1)
    return lambda: f"a{next(counter)}"


def apply(alerts: list[Alert], actions: list[Action]) -> list[Alert]:
    by_id = {a.id: a for a in alerts}
    for action in actions:
        if action.kind != "suppress":
            by_id[action.alert.id] = action.alert
    return list(by_id.values())


def test_an_ongoing_condition_raises_one_alert() -> None:
    new = ids()
    actions = reconcile([], [finding()], T0, new)
    assert [a.kind for a in actions] == ["raise"]
    alerts = apply([], actions)
    for minute in range(1, 10):
        actions = reconcile(alerts, [finding()], T0 + timedelta(minutes=minute), new)
        assert [a.kind for a in actions] == ["refresh"]
        alerts = apply(alerts, actions)
    assert len(alerts) == 1 and alerts[0].seen_at == T0 + timedelta(minutes=9)


def test_severity_upgrade() -> None:
    alerts = apply([], reconcile([], [finding("moderate", "news2-medium")], T0, ids()))
    f = Finding("news2-medium", "p1", "high", T0, {"fr": "x", "en": "x"})
    actions = reconcile(alerts, [f], T0 + timedelta(minutes=1), ids())
    assert [a.kind for a in actions] == ["upgrade"] and actions[0].alert.severity == "high"


# High alerts escalate after 15 min without acknowledgement, then every 15 min.
@pytest.mark.parametrize(("after", "escalations"), [(14, 0), (15, 1), (29, 1), (30, 2), (45, 3)])
def test_escalation_when_nobody_acknowledges(after: int, escalations: int) -> None:
    new = ids()
    alerts = apply([], reconcile([], [finding()], T0, new))
    for minute in range(1, after + 1):
        alerts = apply(alerts, reconcile(alerts, [finding()], T0 + timedelta(minutes=minute), new))
    assert alerts[0].escalation == escalations


def test_acknowledged_alerts_do_not_escalate() -> None:
    new = ids()
    alerts = apply([], reconcile([], [finding()], T0, new))
    alerts = [acknowledge(alerts[0], "Practitioner/dr", T0 + timedelta(minutes=5))]
    actions = reconcile(alerts, [finding()], T0 + timedelta(hours=2), new)
    assert [a.kind for a in actions] == ["refresh"]


def test_suppression_after_a_resolution() -> None:
    new = ids()
    alerts = apply([], reconcile([], [finding()], T0, new))
    alerts = [resolve(alerts[0], "Practitioner/dr", T0 + timedelta(minutes=10))]
    # high: suppressed for 30 min after the resolution
    actions = reconcile(alerts, [finding()], T0 + timedelta(minutes=39), new)
    assert [a.kind for a in actions] == ["suppress"]
    actions = reconcile(alerts, [finding()], T0 + timedelta(minutes=40), new)
    assert [a.kind for a in actions] == ["raise"] and actions[0].alert.id != alerts[0].id


def test_cleared_or_auto_resolved_when_the_condition_stops() -> None:
    new = ids()
    alerts = apply([], reconcile([], [finding()], T0, new))
    alerts = [acknowledge(alerts[0], "Practitioner/dr", T0)]
    actions = reconcile(alerts, [], T0 + timedelta(minutes=5), new)
    assert [a.kind for a in actions] == ["clear"] and actions[0].alert.status == "acknowledged"
    assert reconcile(apply(alerts, actions), [], T0 + timedelta(minutes=6), new) == []  # cleared once
    auto = reconcile(alerts, [], T0 + timedelta(minutes=5), new, {"auto_resolve": True})
    assert [a.kind for a in auto] == ["resolve"] and auto[0].alert.status == "resolved"


def test_manual_transitions_are_checked() -> None:
    alert = Alert("a1", "k", "r", "p1", "high", "raised", T0, T0)
    done = resolve(acknowledge(alert, "dr", T0), "dr", T0)
    assert done.status == "resolved" and done.acknowledged_by == "dr"
    with pytest.raises(ValueError):
        acknowledge(done, "dr", T0)
    with pytest.raises(ValueError):
        resolve(done, "dr", T0)
    assert resolve(alert, "dr", T0).status == "resolved"  # straight from raised
    assert replace(alert, status="acknowledged").open


def test_a_resolved_episode_is_never_raised_again() -> None:
    episode = Finding(
        "glucose-level2-hypo", "p1", "high", T0 - timedelta(hours=5), {"fr": "x", "en": "x"}, episode=True
    )
    new = ids()
    alerts = apply([], reconcile([], [episode], T0, new))
    alerts = [resolve(alerts[0], "Practitioner/dr", T0 + timedelta(minutes=5))]
    for hours in (1, 6, 20):  # long after the suppression window, the same episode stays quiet
        assert [a.kind for a in reconcile(alerts, [episode], T0 + timedelta(hours=hours), new)] == [
            "suppress"
        ]
    later = replace(episode, since=T0 + timedelta(hours=8))  # another episode: a new alert
    assert [a.kind for a in reconcile(alerts, [later], T0 + timedelta(hours=9), new)] == ["raise"]
