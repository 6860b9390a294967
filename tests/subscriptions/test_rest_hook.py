"""rest-hook delivery end to end, to a real HTTP receiver run by the test.

Subscriptions R5 Backport IG STU 1.1: handshake, event-notification, heartbeat, payload content
(http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/payloads.html), ``$status``, errors and
recovery (http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/errors.html).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hygie.storage.database import open_database
from hygie.storage.store import Store, load_catalog
from tests.subscriptions.support import (
    ALERT_TOPIC,
    OBSERVATION_TOPIC,
    H,
    app_client,
    create_subscription,
    observation,
    receiver,
    status_of,
    subscription,
    subscription_settings,
    wait_active,
    wait_for,
)


def _focus(bundle: dict[str, Any]) -> list[str]:
    return [e.get("focus", "") for e in status_of(bundle)["notification-event"]]


def test_create_update_delete_are_notified_in_order(database_url: str, tmp_path: Path) -> None:
    settings = subscription_settings(database_url, tmp_path)
    with receiver() as rx, app_client(settings) as client:
        sid = create_subscription(
            client, subscription(rx.url, headers=["Authorization: Bearer secret-of-receiver"])
        )
        wait_active(client, sid)
        handshake = rx.of_type("handshake")
        assert handshake and status_of(handshake[0])["topic"] == OBSERVATION_TOPIC
        assert client.put("/fhir/Observation/o1", json=observation("o1"), headers=H).status_code == 201
        wait_for(lambda: len(rx.events()) >= 1, "the creation")
        assert (
            client.put(
                "/fhir/Observation/o1", json=observation("o1", status="amended"), headers=H
            ).status_code
            == 200
        )
        wait_for(lambda: len(rx.events()) >= 2, "the update")
        assert client.delete("/fhir/Observation/o1").status_code in (200, 204)
        events = wait_for(lambda: len(rx.events()) >= 3 and rx.events(), "the deletion")
        methods = [b["entry"][1]["request"]["method"] for b in events]
        assert methods == ["POST", "PUT", "DELETE"]
        numbers = [status_of(b)["notification-event"][0]["event-number"] for b in events]
        assert numbers == ["1", "2", "3"]
        assert all(_focus(b) == ["http://testserver/fhir/Observation/o1"] for b in events)
        headers = [h for h, b in rx.received if status_of(b)["type"] == "event-notification"]
        assert all(h["authorization"] == "Bearer secret-of-receiver" for h in headers)
        assert all(h["content-type"] == "application/fhir+json" for h in headers)
        assert all(b["type"] == "history" for b in events)
        status = client.get(f"/fhir/Subscription/{sid}/$status").json()
        assert status["type"] == "searchset"
        params = status_of(status)
        assert params["type"] == "query-status"
        assert params["events-since-subscription-start"] == "3"
        assert params["status"] == "active"
        by_type = client.get(f"/fhir/Subscription/$status?id={sid}").json()
        assert status_of(by_type)["events-since-subscription-start"] == "3"
        every = client.get("/fhir/Subscription/$status").json()
        assert [status_of(every)["subscription"]] == [f"http://testserver/fhir/Subscription/{sid}"]
        assert client.get("/fhir/Subscription/$status?status=off").json()["total"] == 0


@pytest.mark.parametrize("content", ["empty", "id-only", "full-resource"])
def test_payload_content(database_url: str, tmp_path: Path, content: str) -> None:
    settings = subscription_settings(database_url, tmp_path)
    with receiver() as rx, app_client(settings) as client:
        sid = create_subscription(client, subscription(rx.url, content=content))
        wait_active(client, sid)
        client.put("/fhir/Observation/o1", json=observation("o1"), headers=H)
        event = wait_for(rx.events, "an event")[0]
        if content == "empty":
            assert len(event["entry"]) == 1
            assert "focus" not in status_of(event)["notification-event"][0]
        elif content == "id-only":
            assert len(event["entry"]) == 2
            assert event["entry"][1]["fullUrl"] == "http://testserver/fhir/Observation/o1"
            assert "resource" not in event["entry"][1]
            assert _focus(event) == ["http://testserver/fhir/Observation/o1"]
        else:
            assert event["entry"][1]["resource"]["id"] == "o1"
            assert event["entry"][1]["resource"]["valueQuantity"]["value"] == 72


def test_filters_and_alert_topic(database_url: str, tmp_path: Path) -> None:
    settings = subscription_settings(database_url, tmp_path)
    alert = {"coding": [{"system": "https://hygie.health/fhir/CodeSystem/monitoring", "code": "alert"}]}
    with receiver() as rx, receiver() as alerts, app_client(settings) as client:
        sid = create_subscription(client, subscription(rx.url, filters=["Observation?patient=Patient/p2"]))
        aid = create_subscription(
            client, subscription(alerts.url, topic=ALERT_TOPIC, filters=["Task?priority=urgent"])
        )
        wait_active(client, sid)
        wait_active(client, aid)
        client.put("/fhir/Observation/o1", json=observation("o1", patient="p1"), headers=H)
        client.put("/fhir/Observation/o2", json=observation("o2", patient="p2"), headers=H)
        task = {
            "resourceType": "Task",
            "status": "requested",
            "intent": "order",
            "for": {"reference": "Patient/p2"},
        }
        client.put(
            "/fhir/Task/t1", json={**task, "id": "t1", "priority": "urgent"}, headers=H
        )  # no alert code
        client.put(
            "/fhir/Task/t2", json={**task, "id": "t2", "priority": "routine", "code": alert}, headers=H
        )
        client.put("/fhir/Task/t3", json={**task, "id": "t3", "priority": "urgent", "code": alert}, headers=H)
        client.put("/fhir/Observation/o3", json=observation("o3", patient="p2"), headers=H)
        wait_for(lambda: len(rx.events()) >= 2, "two Observation events")
        wait_for(alerts.events, "the alert")
        # the last write is notified: every earlier change has been scanned
        assert [_focus(b)[0].rsplit("/", 1)[1] for b in rx.events()] == ["o2", "o3"]
        assert [_focus(b)[0].rsplit("/", 1)[1] for b in alerts.events()] == ["t3"]


def test_heartbeat(database_url: str, tmp_path: Path) -> None:
    settings = subscription_settings(database_url, tmp_path)
    with receiver() as rx, app_client(settings) as client:
        sid = create_subscription(client, subscription(rx.url, heartbeat=1))
        wait_active(client, sid)
        beat = wait_for(lambda: rx.of_type("heartbeat"), "a heartbeat")[0]
        assert status_of(beat)["subscription"].endswith(f"/Subscription/{sid}")
        assert len(beat["entry"]) == 1


def test_retries_then_error_then_recovery(database_url: str, tmp_path: Path) -> None:
    settings = subscription_settings(database_url, tmp_path)
    with receiver() as rx, app_client(settings) as client:
        sid = create_subscription(client, subscription(rx.url))
        wait_active(client, sid)
        rx.failing = True
        client.put("/fhir/Observation/o1", json=observation("o1"), headers=H)
        wait_active(client, sid, "error")  # after HYGIE_SUBSCRIPTION_MAX_FAILURES (3) failures
        tries = [status_of(b)["notification-event"][0]["event-number"] for b in rx.events()]
        assert len(tries) >= 3 and set(tries) == {"1"}  # the same event, retried
        rx.failing = False
        wait_active(client, sid, "active")  # a successful delivery brings it back
        status = status_of(client.get(f"/fhir/Subscription/{sid}/$status").json())
        assert status["events-since-subscription-start"] == "1"
        client.put("/fhir/Observation/o2", json=observation("o2"), headers=H)
        wait_for(
            lambda: any(_focus(b) == ["http://testserver/fhir/Observation/o2"] for b in rx.events()), "o2"
        )


def test_handshake_failure_is_error(database_url: str, tmp_path: Path) -> None:
    settings = subscription_settings(database_url, tmp_path)
    with receiver() as rx, app_client(settings) as client:
        rx.failing = True
        sid = create_subscription(client, subscription(rx.url))
        body = wait_active(client, sid, "error")
        assert body["error"]
        rx.failing = False
        wait_active(client, sid, "active")


def test_writes_outside_http_are_notified(database_url: str, tmp_path: Path) -> None:
    """A write made by the store directly (as the CLI import, Bulk $import and loaders do)."""
    settings = subscription_settings(database_url, tmp_path)
    with receiver() as rx, app_client(settings) as client:
        sid = create_subscription(client, subscription(rx.url, content="full-resource"))
        wait_active(client, sid)
        db = open_database(settings.database_url)
        try:
            db.run_sync(
                lambda s: Store(s, load_catalog(s)).create("Observation", observation("x"), "imported")
            )
        finally:
            db.close()
        event = wait_for(rx.events, "the imported Observation")[0]
        assert event["entry"][1]["resource"]["id"] == "imported"
