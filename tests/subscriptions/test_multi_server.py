"""Several server processes on one database deliver each notification once (the worker lease).

docs/subscriptions.md, delivery guarantees.
"""

from __future__ import annotations

from pathlib import Path

from tests.subscriptions.support import (
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


def test_two_servers_deliver_once(database_url: str, tmp_path: Path) -> None:
    settings = subscription_settings(database_url, tmp_path)
    with receiver() as rx, app_client(settings) as one, app_client(settings) as two:
        sid = create_subscription(one, subscription(rx.url))
        wait_active(two, sid)
        ids = [f"o{i}" for i in range(8)]
        for i, oid in enumerate(ids):
            (one if i % 2 else two).put(f"/fhir/Observation/{oid}", json=observation(oid), headers=H)
        wait_for(lambda: len(rx.events()) >= len(ids), "every event")
        more = (one, two)[0].put("/fhir/Observation/last", json=observation("last"), headers=H)
        assert more.status_code == 201
        wait_for(lambda: any("Observation/last" in str(b) for b in rx.events()), "the last event")
        numbers = [status_of(b)["notification-event"][0]["event-number"] for b in rx.events()]
        assert sorted(numbers, key=int) == [str(n) for n in range(1, len(ids) + 2)]
        assert len(rx.of_type("handshake")) == 1
