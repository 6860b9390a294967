"""``/portal/messages``: alerts and messages from my care team, and a message to send them.

- **Alerts** of remote monitoring (docs/monitoring.md "Alerts in FHIR"): the monitoring Tasks of
  the record (``Task?patient=…&code=https://hygie.health/fhir/CodeSystem/monitoring|alert``,
  https://hl7.org/fhir/R4/task.html) with their DetectedIssue (``_include=Task:focus``,
  https://hl7.org/fhir/R4/detectedissue.html), told in plain words: what was seen, how urgent,
  whether a professional is handling it.
- **Messages**: Communication resources about the record or addressed to it
  (https://hl7.org/fhir/R4/communication.html), newest first.
- **Sending**: a POST (CSRF-checked) creates a Communication through ``p.fhir``: ``subject`` the
  record shown, ``sender`` the signed-in person (a reference to their Patient; a person acting
  for someone else is named by ``display`` only, since a patient writes into the record shown
  and no other), ``recipient`` the record's general practitioner(s), the text as
  ``payload.contentString``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from hygie.monitoring.alert_fhir import SYSTEM, alert_from_task
from hygie.web.fhir import resources
from hygie.web.pages import Page, page
from hygie.web.portal.common import render, search_all, zone
from hygie.web.portal.dates import fhir_date, when
from hygie.web.portal.people import describe, reference_of

MAX_MESSAGE = 2000
KNOWN_RULES = frozenset(
    {
        "spo2-low",
        "heart-rate-high",
        "heart-rate-low",
        "glucose-level2-hypo",
        "glucose-level2-hyper",
        "temperature-fever",
        "news2-medium",
        "news2-high",
        "news2-single-3",
        "qsofa-positive",
        "resting-hr-rise",
        "night-temperature-rise",
        "device-silent",
    }
)


@dataclass(frozen=True, slots=True)
class AlertLine:
    id: str
    rule_key: str | None  # a message key (pt_rule_…), else ``rule_text`` as recorded
    rule_text: str
    severity: str  # low, moderate, high
    status: str  # raised, acknowledged, resolved
    since: str
    handled_by: str | None
    closed: str
    cleared: bool


@dataclass(frozen=True, slots=True)
class MessageLine:
    id: str
    sender: str | None
    sender_name: str  # a sender named without a reference (a parent writing for a child)
    mine: bool
    sent: str
    text: str
    files: tuple[str, ...]
    sort: str


def rule_key(rule: str) -> str | None:
    if rule in KNOWN_RULES:
        return "pt_rule_" + rule.replace("-", "_")
    if rule.startswith("goal-") and rule.endswith(("-low", "-high")):
        return "pt_rule_goal_" + rule.rsplit("-", 1)[1]
    return None


def alert_lines(found: list[dict[str, Any]], lang: str, tz: Any) -> list[AlertLine]:
    issues = {f"DetectedIssue/{r.get('id')}": r for r in found if r.get("resourceType") == "DetectedIssue"}
    lines = []
    for task in (r for r in found if r.get("resourceType") == "Task"):
        try:
            alert = alert_from_task(task)
        except (ValueError, KeyError, TypeError, StopIteration):
            continue
        issue = issues.get(reference_of(task.get("focus")) or "", {})
        text = str(
            (issue.get("code") or {}).get("text") or issue.get("detail") or task.get("description") or ""
        )
        lines.append(
            AlertLine(
                alert.id,
                rule_key(alert.rule),
                text,
                alert.severity,
                alert.status,
                fhir_date(issue.get("identifiedDateTime"), lang, tz, time=True)
                or when(alert.raised_at, lang, tz),
                alert.acknowledged_by,
                when(alert.resolved_at, lang, tz) if alert.resolved_at else "",
                alert.cleared,
            )
        )
    order = {"raised": 0, "acknowledged": 1, "resolved": 2}
    return sorted(lines, key=lambda a: order.get(a.status, 3))


def message_lines(found: list[dict[str, Any]], me: str | None, lang: str, tz: Any) -> list[MessageLine]:
    lines: dict[str, MessageLine] = {}
    for c in found:
        if c.get("status") == "entered-in-error" or str(c.get("id")) in lines:
            continue
        texts = [
            str(p["contentString"])
            for p in c.get("payload") or []
            if isinstance(p, dict) and p.get("contentString")
        ]
        files = tuple(
            str(p["contentAttachment"].get("title") or "")
            for p in c.get("payload") or []
            if isinstance(p, dict) and isinstance(p.get("contentAttachment"), dict)
        )
        sender = reference_of(c.get("sender"))
        named = str((c.get("sender") or {}).get("display") or "") if isinstance(c.get("sender"), dict) else ""
        sent = str(c.get("sent") or c.get("received") or "")
        lines[str(c.get("id"))] = MessageLine(
            str(c.get("id")),
            sender,
            named,
            sender is not None and sender == me,
            fhir_date(sent, lang, tz, time=True),
            "\n".join(texts),
            files,
            sent,
        )
    return sorted(lines.values(), key=lambda m: m.sort, reverse=True)


async def _page(p: Page, *, error: str | None = None, text: str = "", status: int = 200) -> Response:
    tz, pid = zone(p), p.patient
    found = await p.fhir.search(
        "Task",
        [
            ("patient", pid),
            ("code", f"{SYSTEM}|alert"),
            ("_sort", "-_lastUpdated"),
            ("_include", "Task:focus"),
            ("_count", "100"),
        ],
    )
    alerts = alert_lines(resources(found, None), p.lang, tz)
    about = await search_all(p, "Communication", [("patient", pid), ("_sort", "-sent")])
    to = await search_all(p, "Communication", [("recipient", f"Patient/{pid}"), ("_sort", "-sent")])
    messages = message_lines([*about, *to], p.principal.fhir_user, p.lang, tz)
    gps = await _doctors(p)
    refs = (
        {a.handled_by for a in alerts if a.handled_by} | {m.sender for m in messages if m.sender} | set(gps)
    )
    people = await describe(p.fhir, refs)
    return render(
        p,
        "portal/messages.html",
        title="pt_messages_title",
        section="messages",
        status=status,
        alerts=alerts,
        messages=messages,
        people=people,
        doctors=gps,
        error=error,
        text=text,
        sent=p.request.query_params.get("sent") == "1",
        max_message=MAX_MESSAGE,
    )


async def _doctors(p: Page) -> list[str]:
    patient = await p.fhir.get(f"Patient/{p.patient}")
    return [r for g in patient.get("generalPractitioner") or [] if (r := reference_of(g))]


@page("/portal/messages", who="patient", methods=["GET", "POST"])
async def messages(p: Page) -> Response:
    if p.request.method != "POST":
        return await _page(p)
    text = p.form.get("message").replace("\r\n", "\n").strip()
    if not text:
        return await _page(p, error="pt_message_empty", status=400)
    if len(text) > MAX_MESSAGE:
        return await _page(p, error="pt_message_too_long", text=text[: MAX_MESSAGE * 2], status=400)
    now = datetime.fromtimestamp(p.now_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    communication: dict[str, Any] = {
        "resourceType": "Communication",
        "status": "completed",
        "subject": {"reference": f"Patient/{p.patient}"},
        "sent": now,
        "payload": [{"contentString": text}],
    }
    me = p.principal.fhir_user
    if me == f"Patient/{p.patient}":
        communication["sender"] = {"reference": me}
    else:  # a parent writing for a child: named, not referenced (patients write in the record shown)
        communication["sender"] = {"display": p.user.account.display}
    doctors = await _doctors(p)
    if doctors:
        communication["recipient"] = [{"reference": r} for r in doctors]
    await p.fhir.create(communication)
    return p.redirect("/portal/messages?sent=1")


PAGES = [messages]
