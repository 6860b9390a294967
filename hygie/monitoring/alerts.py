"""The alert lifecycle: raised → acknowledged → resolved, with deduplication, suppression and
escalation — a pure state machine over :class:`Alert` records and the current findings.

:func:`reconcile` takes the patient's alerts (open and recently resolved), the findings of
:func:`hygie.monitoring.rules.evaluate` and the time, and returns the :class:`Action` list to
apply (the storage side turns them into FHIR resources, docs/monitoring.md):

- a finding with an **open alert of the same key** (rule and patient) raises nothing new: the
  alert is refreshed (``seen``), and upgraded if the severity rose;
- a finding whose key was **resolved less than** ``suppress_after_resolve_minutes`` ago (by
  severity) is **suppressed**: a condition that flaps does not page anybody twice;
- otherwise a new alert is **raised**;
- an alert still ``raised`` (nobody acknowledged it) ``escalate_after_minutes`` after it was
  raised or last escalated is **escalated** one level (repeatedly);
- an open alert whose condition no longer holds is left to the care team unless
  ``auto_resolve`` is on (default off: a professional decides it is over); it is marked
  ``cleared`` so the inbox can show it.

Acknowledging and resolving are the care team's acts (:func:`acknowledge`, :func:`resolve`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from hygie.monitoring.rules import Finding, default_rules

Status = Literal["raised", "acknowledged", "resolved"]
SEVERITY_RANK = {"low": 0, "moderate": 1, "high": 2}


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    key: str  # rule|patient
    rule: str
    patient: str
    severity: str
    status: Status
    raised_at: datetime
    seen_at: datetime  # the last evaluation that found the condition
    escalation: int = 0  # how many times it was escalated
    escalated_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    cleared: bool = False  # the condition no longer holds (an open alert waiting for a human)

    @property
    def open(self) -> bool:
        return self.status != "resolved"


ActionKind = Literal["raise", "refresh", "upgrade", "escalate", "clear", "resolve", "suppress"]


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    alert: Alert  # the alert after the action
    finding: Finding | None = None


def settings() -> dict[str, Any]:
    """Lifecycle settings (escalation and suppression delays by severity, auto-resolve)."""
    lifecycle: dict[str, Any] = default_rules()["lifecycle"]
    return lifecycle


def reconcile(
    alerts: Sequence[Alert],
    findings: Sequence[Finding],
    now: datetime,
    new_id: Any,
    config: Mapping[str, Any] | None = None,
) -> list[Action]:
    """What to do now. ``new_id()`` names a new alert; ``config`` overrides :func:`settings`."""
    conf = {**settings(), **(config or {})}
    open_by_key = {a.key: a for a in alerts if a.open}
    resolved = [a for a in alerts if not a.open and a.resolved_at is not None]
    actions: list[Action] = []
    found_keys = set()
    for finding in findings:
        found_keys.add(finding.key)
        current = open_by_key.get(finding.key)
        if current is not None:
            actions.append(_seen(current, finding, now))
            continue
        recent = [a for a in resolved if a.key == finding.key]
        if recent and finding.episode:  # an episode is alerted once, however long it stays in view
            actions.append(Action("suppress", recent[0], finding))
            continue
        if recent:
            last = max(recent, key=lambda a: a.resolved_at or now)
            quiet = timedelta(minutes=conf["suppress_after_resolve_minutes"][finding.severity])
            if last.resolved_at is not None and now - last.resolved_at < quiet:
                actions.append(Action("suppress", last, finding))
                continue
        alert = Alert(
            id=str(new_id()),
            key=finding.key,
            rule=finding.rule,
            patient=finding.patient,
            severity=finding.severity,
            status="raised",
            raised_at=now,
            seen_at=now,
        )
        actions.append(Action("raise", alert, finding))
    for key, alert in open_by_key.items():
        if key in found_keys:
            continue
        if conf["auto_resolve"]:
            actions.append(
                Action("resolve", replace(alert, status="resolved", resolved_at=now, cleared=True))
            )
        elif not alert.cleared:
            actions.append(Action("clear", replace(alert, cleared=True)))
    return [*actions, *_escalations(actions, open_by_key, now, conf)]


def _seen(current: Alert, finding: Finding, now: datetime) -> Action:
    if SEVERITY_RANK[finding.severity] > SEVERITY_RANK[current.severity]:
        upgraded = replace(current, severity=finding.severity, seen_at=now, cleared=False)
        return Action("upgrade", upgraded, finding)
    return Action("refresh", replace(current, seen_at=now, cleared=False), finding)


def _escalations(
    actions: Sequence[Action], open_by_key: Mapping[str, Alert], now: datetime, conf: Mapping[str, Any]
) -> list[Action]:
    """Alerts nobody acknowledged in time go up one level (again after each delay)."""
    latest = {a.alert.key: a.alert for a in actions if a.kind != "suppress"}
    out = []
    for key, before in open_by_key.items():
        alert = latest.get(key, before)
        if alert.status != "raised":
            continue
        delay = timedelta(minutes=conf["escalate_after_minutes"][alert.severity])
        since = alert.escalated_at or alert.raised_at
        if now - since >= delay:
            out.append(Action("escalate", replace(alert, escalation=alert.escalation + 1, escalated_at=now)))
    return out


def acknowledge(alert: Alert, by: str, now: datetime) -> Alert:
    """A professional takes the alert in hand (stops escalation)."""
    if alert.status != "raised":
        raise ValueError(f"only a raised alert can be acknowledged (this one is {alert.status})")
    return replace(alert, status="acknowledged", acknowledged_at=now, acknowledged_by=by)


def resolve(alert: Alert, by: str, now: datetime) -> Alert:
    """A professional closes the alert (from raised or acknowledged)."""
    if alert.status == "resolved":
        raise ValueError("the alert is resolved already")
    return replace(alert, status="resolved", resolved_at=now, resolved_by=by)
