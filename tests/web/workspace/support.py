"""Helpers of the workspace's in-process tests (both databases).

- :func:`demo_installation`: the demo population (``hygie demo``'s own loader: practices, a CHU,
  the deteriorating patients demo-p00003/5/7/9 and their alerts) plus the installation of
  tests/security/smart_support.py (alice, charlie, bob, the GP drmartin), with two professional
  accounts on the demo's records: ``doc`` (the demo GP of the first practice: demo-p00001, -p00007…)
  and ``nurse`` (the nurse of Médecine interne: the inpatients demo-p00003, -p00005…).
- :func:`alert`: a monitoring alert (DetectedIssue + Task) as the rounds write it.
- :func:`fhir_read`: a resource as the operator reads it (to check what a page changed).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from hygie.api.context import open_storage
from hygie.auth import accounts
from hygie.demo.load import load_demo
from hygie.monitoring.alert_fhir import detected_issue, task
from hygie.monitoring.alerts import Alert
from hygie.monitoring.rules import Finding
from hygie.settings import Settings
from tests.security.smart_support import PASSWORD, Installation, installation
from tests.support import operator_header

DOC = ("Practitioner/demo-pr-mg-lices-1", "demo-org-mg-lices")
NURSE = ("Practitioner/demo-pr-medecine-interne-nurse", "demo-org-medecine-interne")


def _accounts(settings: Settings) -> None:
    db, _ = open_storage(settings)

    def work(session: Any) -> None:
        for username, (fhir, org) in (("doc", DOC), ("nurse", NURSE)):
            accounts.create_account(
                session,
                username=username,
                kind="professional",
                display=username.title(),
                password=PASSWORD,
                now=0,
                fhir=fhir,
                organization=org,
            )

    try:
        db.run_sync(work)
    finally:
        db.close()


@contextmanager
def demo_installation(settings: Settings, patients: int = 10) -> Iterator[Installation]:
    load_demo(settings, patients, 1)
    _accounts(settings)
    with installation(settings) as inst:
        yield inst


def alert(
    patient: str, rule: str = "spo2-low", severity: str = "high", ident: str | None = None
) -> list[dict[str, Any]]:
    """The DetectedIssue and Task of a raised alert for ``patient``, as the rounds write them."""
    now = datetime.now(UTC).replace(microsecond=0)
    item = Alert(ident or f"al-{patient}", f"{rule}|{patient}", rule, patient, severity, "raised", now, now)
    finding = Finding(rule, patient, severity, now, {"fr": "SpO2 basse", "en": "Low SpO2"}, (now,), 89.0)
    issue = detected_issue(item, finding, "fr", "source")
    return [issue, task(item, issue["code"]["text"])]


def fhir_read(inst: Installation, path: str) -> dict[str, Any]:
    answer = inst.http.get(f"/fhir/{path}", headers=operator_header(inst.settings))
    assert answer.status_code == 200, answer.text[:300]
    found: dict[str, Any] = answer.json()
    return found
