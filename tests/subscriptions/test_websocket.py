"""The websocket channel: ``$get-ws-binding-token``, ``bind-with-token``, notifications.

Subscriptions R5 Backport IG STU 1.1,
http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/channels.html#websockets
"""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path
from typing import Any

from tests.subscriptions.support import (
    DEADLINE_S,
    H,
    app_client,
    create_subscription,
    observation,
    status_of,
    subscription,
    subscription_settings,
    wait_active,
)


def _reader(ws: Any) -> queue.Queue[dict[str, Any]]:
    """Messages of ``ws`` as they arrive (the test waits on them with a deadline)."""
    messages: queue.Queue[dict[str, Any]] = queue.Queue()

    def run() -> None:
        try:
            while True:
                messages.put(json.loads(ws.receive_text()))
        except Exception:  # closed at the end of the test
            return

    threading.Thread(target=run, daemon=True).start()
    return messages


def _next(messages: queue.Queue[dict[str, Any]], kind: str) -> dict[str, Any]:
    while True:
        message = messages.get(timeout=DEADLINE_S)
        if message["resourceType"] == "Bundle" and status_of(message)["type"] == kind:
            return message
        if kind == "OperationOutcome" and message["resourceType"] == "OperationOutcome":
            return message


def test_websocket_binding_and_notifications(database_url: str, tmp_path: Path) -> None:
    settings = subscription_settings(database_url, tmp_path)
    with app_client(settings) as client:
        sid = create_subscription(
            client, subscription(None, channel="websocket", content="full-resource", heartbeat=1)
        )
        wait_active(client, sid)
        token = client.get(f"/fhir/Subscription/{sid}/$get-ws-binding-token").json()
        values = {
            p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in token["parameter"]
        }
        assert values["subscription"] == sid
        assert values["websocket-url"] == "ws://testserver/fhir-ws"
        with client.websocket_connect("/fhir-ws") as ws:
            messages = _reader(ws)
            ws.send_text("bind-with-token not-a-token")
            assert _next(messages, "OperationOutcome")["issue"][0]["severity"] == "error"
            ws.send_text(f"bind-with-token {values['token']}")
            handshake = _next(messages, "handshake")
            assert status_of(handshake)["subscription"].endswith(f"/Subscription/{sid}")
            client.put("/fhir/Observation/o1", json=observation("o1"), headers=H)
            event = _next(messages, "event-notification")
            assert event["entry"][1]["resource"]["id"] == "o1"
            assert status_of(event)["notification-event"][0]["event-number"] == "1"
            assert status_of(_next(messages, "heartbeat"))["events-since-subscription-start"] == "1"


def test_binding_token_needs_a_websocket_subscription(database_url: str, tmp_path: Path) -> None:
    settings = subscription_settings(database_url, tmp_path)
    with app_client(settings) as client:
        sid = create_subscription(client, subscription("http://127.0.0.1:9/hook"))
        assert client.get(f"/fhir/Subscription/{sid}/$get-ws-binding-token").status_code == 422
        assert client.get("/fhir/Subscription/nope/$get-ws-binding-token").status_code == 404
