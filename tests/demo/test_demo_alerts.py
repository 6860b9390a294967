"""The demo opens with the deteriorating patients' alerts raised (docs/demo.md, monitoring.md),
and only theirs — both databases, through the FHIR API."""

from __future__ import annotations

from starlette.testclient import TestClient

from hygie.demo.load import load_demo
from hygie.settings import Settings
from tests.demo.support import NOW
from tests.support import open_client

ALERTS = "/fhir/Task?code=https://hygie.health/fhir/CodeSystem/monitoring|alert&_count=100&_include=Task:focus"


def test_deteriorating_patients_raise_their_alerts(settings: Settings) -> None:
    load_demo(settings, 12, 1, now=NOW)
    client: TestClient
    with open_client(settings) as client:
        bundle = client.get(ALERTS).json()
        found: dict[str, set[str]] = {}
        for entry in bundle["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] == "DetectedIssue":
                patient = resource["patient"]["reference"].removeprefix("Patient/")
                rule = resource["code"]["coding"][0]["code"]
                found.setdefault(patient, set()).add("goal-low" if rule.startswith("goal-") else rule)
        assert found == {
            "demo-p00003": {"news2-high", "temperature-fever"},  # sepsis
            "demo-p00005": {"news2-high", "goal-low"},  # COPD exacerbation, below the team's 88 %
            "demo-p00007": {"glucose-level2-hypo"},  # a night-time level 2 hypoglycaemia
            "demo-p00009": {"glucose-level2-hyper"},  # hyperglycaemia
        }
        tasks = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Task"]
        assert {t["status"] for t in tasks} == {"requested"}
        # CGM metrics are there for the diabetic patients
        metrics = client.get("/fhir/Patient/demo-p00007/$cgm-metrics", params={"end": NOW.isoformat()}).json()
        count = next(p["valueInteger"] for p in metrics["parameter"] if p["name"] == "count")
        assert count > 1000
