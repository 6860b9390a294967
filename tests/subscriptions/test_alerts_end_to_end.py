"""Device data in, alert out, delivered — end to end on both databases (issue 6 "must show"):
a stream of low SpO2 sent to ``$ingest`` raises a monitoring alert (Task) at once, which a
rest-hook receiver and a websocket client subscribed to the monitoring-alert topic both receive."""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path
from typing import Any

from tests.monitoring.test_ingest_op import omh_spo2
from tests.subscriptions.support import (
    ALERT_TOPIC,
    DEADLINE_S,
    app_client,
    create_subscription,
    receiver,
    status_of,
    subscription,
    subscription_settings,
    wait_active,
    wait_for,
)


def test_an_ingested_stream_raises_an_alert_both_channels_receive(database_url: str, tmp_path: Path) -> None:
    settings = subscription_settings(database_url, tmp_path, monitoring_interval_seconds=3600)
    with receiver() as hook, app_client(settings) as client:
        assert (
            client.put("/fhir/Patient/e2e", json={"resourceType": "Patient", "id": "e2e"}).status_code == 201
        )
        rest = create_subscription(
            client,
            subscription(
                hook.url, topic=ALERT_TOPIC, content="full-resource", filters=["Task?patient=Patient/e2e"]
            ),
        )
        ws_sub = create_subscription(
            client, subscription(None, topic=ALERT_TOPIC, channel="websocket", content="id-only")
        )
        wait_active(client, rest)
        wait_active(client, ws_sub)
        token = client.get(f"/fhir/Subscription/{ws_sub}/$get-ws-binding-token").json()
        value = next(p["valueString"] for p in token["parameter"] if p["name"] == "token")
        with client.websocket_connect("/fhir-ws") as ws:
            messages: queue.Queue[dict[str, Any]] = queue.Queue()

            def read() -> None:
                try:
                    while True:
                        messages.put(json.loads(ws.receive_text()))
                except Exception:  # closed at the end of the test
                    return

            threading.Thread(target=read, daemon=True).start()
            ws.send_text(f"bind-with-token {value}")
            # the device sends 12 minutes of SpO2 below 92 %: no round runs for an hour, yet…
            assert client.post("/fhir/Patient/e2e/$ingest", json=omh_spo2([87.0] * 12)).status_code == 200
            events = wait_for(hook.events, "the rest-hook alert notification")
            task = events[0]["entry"][1]["resource"]
            assert task["resourceType"] == "Task" and task["for"] == {"reference": "Patient/e2e"}
            assert task["code"]["coding"][0]["code"] == "alert" and task["status"] == "requested"
            while True:
                message = messages.get(timeout=DEADLINE_S)
                if (
                    message.get("resourceType") == "Bundle"
                    and status_of(message)["type"] == "event-notification"
                ):
                    break
            focus = status_of(message)["notification-event"][0]["focus"]
            assert focus.endswith(f"/Task/{task['id']}")
