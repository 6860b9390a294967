"""Helpers of the Subscription tests: a real HTTP receiver, Subscription builders, waits.

The receiver is a ``http.server`` on 127.0.0.1 run by the test in a thread: the server under
test POSTs notification Bundles to it over the network like to any subscriber.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from hygie.app import create_app
from hygie.settings import Settings
from tests.support import operator_header

IG = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
OBSERVATION_TOPIC = "https://hygie.health/fhir/SubscriptionTopic/observation"
ALERT_TOPIC = "https://hygie.health/fhir/SubscriptionTopic/monitoring-alert"
H = {"content-type": "application/fhir+json"}
DEADLINE_S = 15.0


def subscription_settings(database_url: str, tmp_path: Path, **extra: Any) -> Settings:
    """Fast polling and retries, and the receiver's loopback host allowed."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "keys_dir": tmp_path / "keys",
        "subscription_poll_seconds": 0.05,
        "subscription_retry_seconds": 0.05,
        "subscription_allowed_hosts": "127.0.0.1",
        "subscription_max_failures": 3,
    }
    values.update(extra)
    return Settings(**values)


@contextmanager
def app_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers=operator_header(settings)) as client:
        yield client


class Receiver:
    """Records every POST (headers, JSON body); answers ``status`` (500 while ``failing``)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.failing = False
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(size))
                with receiver.lock:
                    failing = receiver.failing
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(500 if failing else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [b for _, b in self.received]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [b for b in self.bodies() if status_of(b)["type"] == kind]

    def events(self) -> list[dict[str, Any]]:
        return self.of_type("event-notification")


@contextmanager
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def wait_for(check: Callable[[], Any], what: str, deadline_s: float = DEADLINE_S) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` at the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def subscription(
    endpoint: str | None,
    *,
    topic: str = OBSERVATION_TOPIC,
    filters: list[str] = (),  # type: ignore[assignment]
    content: str = "id-only",
    channel: str = "rest-hook",
    heartbeat: int | None = None,
    headers: list[str] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    ch: dict[str, Any] = {
        "type": channel,
        "payload": "application/fhir+json",
        "_payload": {"extension": [{"url": f"{IG}/backport-payload-content", "valueCode": content}]},
    }
    if endpoint is not None:
        ch["endpoint"] = endpoint
    if heartbeat is not None:
        ch["extension"] = [{"url": f"{IG}/backport-heartbeat-period", "valueUnsignedInt": heartbeat}]
    if headers:
        ch["header"] = list(headers)
    sub: dict[str, Any] = {
        "resourceType": "Subscription",
        "meta": {"profile": [f"{IG}/backport-subscription"]},
        "status": "requested",
        "reason": "test",
        "criteria": topic,
        "channel": ch,
    }
    if filters:
        sub["_criteria"] = {
            "extension": [{"url": f"{IG}/backport-filter-criteria", "valueString": f} for f in filters]
        }
    return sub


def status_of(bundle: dict[str, Any]) -> dict[str, Any]:
    """The status Parameters (first entry) as a dict name → value (notification-event: list)."""
    params = bundle["entry"][0]["resource"]["parameter"]
    out: dict[str, Any] = {"notification-event": []}
    for p in params:
        if p["name"] == "notification-event":
            out["notification-event"].append({q["name"]: _value(q) for q in p["part"]})
        else:
            out[p["name"]] = _value(p)
    return out


def _value(p: dict[str, Any]) -> Any:
    for k, v in p.items():
        if k.startswith("value"):
            return v["reference"] if k == "valueReference" else v
    return None


def create_subscription(client: TestClient, body: dict[str, Any]) -> str:
    r = client.post("/fhir/Subscription", json=body, headers=H)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def wait_active(client: TestClient, sid: str, status: str = "active") -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/fhir/Subscription/{sid}").json()
        return body if body.get("status") == status else None

    found: dict[str, Any] = wait_for(check, f"Subscription/{sid} {status}")
    return found


def observation(oid: str, patient: str = "p1", code: str = "8867-4", status: str = "final") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }
