"""The monitoring alert inbox as the workspace shows it (docs/monitoring.md "Alerts in FHIR").

The inbox is a plain FHIR search under the professional's access policy:
``Task?code=https://hygie.health/fhir/CodeSystem/monitoring|alert&status=requested,accepted``
with the DetectedIssue (``focus``), the Patient (``for``) and the acknowledging Practitioner
(``owner``) included (https://hl7.org/fhir/R4/task.html). Alerts are listed by priority
(``stat`` > ``asap`` > ``urgent`` > ``routine``), then the longest waiting first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hygie.monitoring.alert_fhir import EXT, PRIORITIES, SYSTEM
from hygie.monitoring.rules import default_rules
from hygie.web import i18n
from hygie.web.charts import Chart, fmt
from hygie.web.fhir import resources
from hygie.web.format import human_name
from hygie.web.pages import Page
from hygie.web.workspace.view import parse_instant, ref_id

ALERT_CODE = f"{SYSTEM}|alert"
OPEN = "requested,accepted"
RANK = {p: i for i, p in enumerate(PRIORITIES)}
RULE_MEASURE = {  # default rule → the vital sign its sparkline shows (scores: the heart rate)
    r["id"]: {"glucose": "interstitial-glucose"}.get(r.get("measure", ""), r.get("measure", ""))
    for r in default_rules()["rules"]
}


@dataclass(slots=True)
class AlertRow:
    """One open alert, ready for the template (texts already in the page's language)."""

    task_id: str
    version: str
    patient_id: str
    patient_name: str
    rule: str
    text: str
    text_lang: str  # the language ``text`` is written in (a rule without a translation)
    detail: str
    severity: str  # high | moderate | low
    priority: str
    escalation: int
    acknowledged: bool
    acknowledged_by: str
    acknowledged_at: str
    cleared: bool
    since: str
    waited: str
    raised_sort: str
    notes: list[str] = field(default_factory=list)
    measure: str = "heart-rate"
    spark: Chart | None = None

    @property
    def can_escalate(self) -> bool:
        return self.priority != PRIORITIES[-1]


async def open_alerts(p: Page, patient: str | None = None) -> list[AlertRow]:
    """The open alerts the professional may see (of one patient when ``patient`` is given)."""
    params = [
        ("code", ALERT_CODE),
        ("status", OPEN),
        ("_include", "Task:focus"),
        ("_include", "Task:patient"),
        ("_include", "Task:owner"),
        ("_count", "200"),
    ]
    if patient is not None:
        params.insert(0, ("patient", patient))
    bundle = await p.fhir.search("Task", params)
    included = {f"{r['resourceType']}/{r.get('id')}": r for r in resources(bundle, "include")}
    tz = ZoneInfo(p.settings.timezone)
    now = datetime.fromtimestamp(p.now_ms / 1000, tz)
    rows = [r for r in (row(p, task, included, now) for task in resources(bundle)) if r is not None]
    rows.sort(key=lambda r: (-RANK.get(r.priority, 0), r.raised_sort))
    return rows


def _ext(task: dict[str, Any]) -> dict[str, Any]:
    found = {}
    for e in task.get("extension") or []:
        if isinstance(e, dict) and str(e.get("url", "")).startswith(EXT):
            found[str(e["url"])[len(EXT) :]] = next((v for k, v in e.items() if k.startswith("value")), None)
    return found


def row(p: Page, task: dict[str, Any], included: dict[str, dict[str, Any]], now: datetime) -> AlertRow | None:
    patient_id = ref_id(task.get("for"), "Patient")
    if patient_id is None:
        return None
    ext = _ext(task)
    issue = included.get(str((task.get("focus") or {}).get("reference")), {})
    rule = next(
        (str(c.get("code")) for c in (task.get("reasonCode") or {}).get("coding") or [] if c.get("code")), ""
    )
    stored = str((issue.get("code") or {}).get("text") or task.get("description") or "")
    text, text_lang = rule_text(rule, p.lang, stored)
    began = parse_instant(issue.get("identifiedDateTime")) or parse_instant(task.get("authoredOn")) or now
    tz = now.tzinfo or ZoneInfo(p.settings.timezone)
    owner = included.get(str((task.get("owner") or {}).get("reference")))
    acknowledged_at = parse_instant(ext.get("acknowledged"))
    severity = str(ext.get("severity") or issue.get("severity") or "moderate")
    return AlertRow(
        task_id=str(task.get("id")),
        version=str((task.get("meta") or {}).get("versionId", "")),
        patient_id=patient_id,
        patient_name=human_name(included.get(f"Patient/{patient_id}", {})) or patient_id,
        rule=rule,
        text=text,
        text_lang=text_lang,
        detail=str(issue.get("detail") or ""),
        severity=severity if severity in ("high", "moderate", "low") else "moderate",
        priority=str(task.get("priority") or "routine"),
        escalation=int(ext.get("escalation") or 0),
        acknowledged=task.get("status") == "accepted",
        acknowledged_by=human_name(owner) if owner else "",
        acknowledged_at=fmt.moment(acknowledged_at, p.lang, tz) if acknowledged_at else "",
        cleared=bool(ext.get("cleared")),
        since=fmt.moment(began, p.lang, tz),
        waited=fmt.duration(max(0.0, (now - began).total_seconds() / 60), p.lang),
        raised_sort=began.isoformat(),
        notes=[str(n.get("text")) for n in task.get("note") or [] if isinstance(n, dict) and n.get("text")],
        measure=RULE_MEASURE.get(rule) or "heart-rate",
    )


def rule_text(rule: str, lang: str, stored: str) -> tuple[str, str]:
    """The rule's sentence in ``lang`` (the workspace catalogue has the default rules in the three
    languages); otherwise the text stored with the alert, which the rounds write in French."""
    key = f"ws_rule_{rule}"
    if i18n.has(key):
        return i18n.text(key, lang), lang
    return stored, "fr"
