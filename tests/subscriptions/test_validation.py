"""Subscription writes are checked (422, nothing stored) and topics are discoverable.

Subscriptions R5 Backport IG STU 1.1: http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/
(R4 Subscription profile, topic discovery in the CapabilityStatement).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.subscriptions.support import (
    ALERT_TOPIC,
    OBSERVATION_TOPIC,
    H,
    app_client,
    subscription,
    subscription_settings,
)

HOOK = "http://127.0.0.1:9/hook"


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    node = body
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return body


INVALID = {
    "unknown topic": subscription(HOOK, topic="https://hygie.health/fhir/SubscriptionTopic/nope"),
    "filter on a parameter the topic does not offer": subscription(HOOK, filters=["Observation?date=2020"]),
    "filter on another type": subscription(HOOK, filters=["Encounter?patient=Patient/1"]),
    "filter without criteria": subscription(HOOK, filters=["Observation?"]),
    "filter value the search engine refuses": subscription(HOOK, filters=["Observation?patient:nonsense=x"]),
    "unsupported channel": {**subscription(HOOK), "channel": {"type": "email", "endpoint": "mailto:a@b.c"}},
    "rest-hook without endpoint": _without(subscription(HOOK), "channel", "endpoint"),
    "unknown payload content": subscription(HOOK, content="everything"),
    "plain http to a host not allowed": subscription("http://example.org/hook"),
    "https to a loopback address": subscription("https://127.0.0.2/hook"),
    "https to a private address": subscription("https://10.1.2.3/hook"),
    "credentials in the endpoint": subscription("https://user:pw@example.org/hook"),
    "malformed header": subscription(HOOK, headers=["no colon here"]),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_refused_subscription_is_422_and_not_stored(database_url: str, tmp_path: Path, case: str) -> None:
    settings = subscription_settings(database_url, tmp_path)
    with app_client(settings) as client:
        r = client.post("/fhir/Subscription", json=INVALID[case], headers=H)
        assert r.status_code == 422, (case, r.status_code, r.text)
        assert r.json()["resourceType"] == "OperationOutcome"
        # the same through a transaction Bundle entry: refused, nothing stored
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": INVALID[case], "request": {"method": "POST", "url": "Subscription"}}],
        }
        assert client.post("/fhir", json=bundle, headers=H).status_code == 422
        assert client.get("/fhir/Subscription?_summary=count").json()["total"] == 0


def test_valid_subscription_is_stored_requested(database_url: str, tmp_path: Path) -> None:
    settings = subscription_settings(database_url, tmp_path, subscription_poll_seconds=3600)
    with app_client(settings) as client:
        body = {
            **subscription(HOOK, filters=["Observation?patient=Patient/p1&code=8867-4"]),
            "status": "active",
        }
        r = client.post("/fhir/Subscription", json=body, headers=H)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "requested"  # the server owns the status
        sid = r.json()["id"]
        r = client.put(f"/fhir/Subscription/{sid}", json={**r.json(), "criteria": "https://nope"}, headers=H)
        assert r.status_code == 422
        assert client.get(f"/fhir/Subscription/{sid}").json()["criteria"] == OBSERVATION_TOPIC


def test_topics_are_advertised_and_listed(database_url: str, tmp_path: Path) -> None:
    settings = subscription_settings(database_url, tmp_path)
    with app_client(settings) as client:
        statement = client.get("/fhir/metadata").json()
        entry = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Subscription")
        canonicals = {e["valueCanonical"] for e in entry["extension"]}
        assert {OBSERVATION_TOPIC, ALERT_TOPIC} <= canonicals
        assert {"status", "get-ws-binding-token"} <= {o["name"] for o in entry["operation"]}
        listed = client.get("/fhir/Subscription/$topics").json()
        urls = {
            e["valueUri"]
            for entry in listed["entry"]
            for e in entry["resource"]["extension"]
            if e["url"].endswith(".url")
        }
        assert urls == canonicals
