"""A Subscription never tells its owner about a resource the owner could not read.

Matching runs the subscription's criteria as a search under the owner's access policy
(docs/security.md, docs/subscriptions.md): a professional's subscription stays silent about a
patient outside their care, whatever the payload (even ``id-only`` or ``empty``, which would
reveal that something happened).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hygie.api.context import Env
from hygie.api.subscriptions.validate import accept_subscription
from hygie.auth.policy import Policy
from hygie.auth.scopes import parse_scopes
from hygie.auth.tokens import Principal
from hygie.settings import Settings
from hygie.storage.database import open_database
from hygie.storage.store import Store, load_catalog
from tests.api.support import put_all
from tests.subscriptions.support import (
    H,
    app_client,
    observation,
    receiver,
    status_of,
    subscription,
    subscription_settings,
    wait_active,
    wait_for,
)
from tests.support import operator_header

BASE = "http://testserver/fhir"
PROFESSIONAL = Principal(
    kind="professional",
    subject="acc-pb",
    scopes=parse_scopes("user/*.rs"),
    fhir_user="Practitioner/pb",
    organization="orgB",
    token_id="t",
    expires=2**40,
)


def subscribe_as(settings: Settings, principal: Principal, body: dict[str, Any]) -> str:
    """What ``POST /fhir/Subscription`` by ``principal`` does — the write check and owner record of
    :func:`accept_subscription` under their policy — with the resource stored by the operator (the
    access policy keeps Subscription a system-only type for now)."""
    db = open_database(settings.database_url)
    tz = ZoneInfo(settings.timezone)

    def work(s: Any) -> str:
        catalog = load_catalog(s)
        policy = Policy(
            principal, catalog, BASE, int(time.time() * 1000), principal.subject, settings.timezone
        )
        env = Env(Store(s, catalog.scoped(policy), tz), settings, BASE, "en")
        resource = dict(body)
        sid = accept_subscription(env, resource, None)
        Store(s, catalog, tz).create("Subscription", resource, sid)
        return sid

    try:
        return db.run_sync(work)
    finally:
        db.close()


@pytest.mark.parametrize("content", ["empty", "id-only", "full-resource"])
def test_professional_is_not_told_about_patients_outside_their_care(
    database_url: str, tmp_path: Path, content: str
) -> None:
    settings = subscription_settings(database_url, tmp_path)
    with receiver() as rx, receiver() as named, app_client(settings) as client:
        put_all(
            client,
            [
                {"resourceType": "Organization", "id": "orgA"},
                {"resourceType": "Organization", "id": "orgB"},
                {"resourceType": "Practitioner", "id": "pb"},
                {
                    "resourceType": "Patient",
                    "id": "alice",
                    "managingOrganization": {"reference": "Organization/orgA"},
                },
                {
                    "resourceType": "Patient",
                    "id": "bob",
                    "managingOrganization": {"reference": "Organization/orgB"},
                },
            ],
        )
        sid = subscribe_as(settings, PROFESSIONAL, subscription(rx.url, content=content))
        # naming the hidden patient in a filter does not open her record either
        nid = subscribe_as(
            settings, PROFESSIONAL, subscription(named.url, filters=["Observation?patient=Patient/alice"])
        )
        wait_active(client, sid)
        wait_active(client, nid)
        client.put("/fhir/Observation/oa", json=observation("oa", patient="alice"), headers=H)
        client.put(
            "/fhir/Observation/oa", json=observation("oa", patient="alice", status="amended"), headers=H
        )
        client.put("/fhir/Observation/ob", json=observation("ob", patient="bob"), headers=H)
        event = wait_for(rx.events, "bob's Observation")[0]  # written last: alice's were scanned before
        assert len(rx.events()) == 1
        assert status_of(event)["events-since-subscription-start"] == "1"
        if content != "empty":
            assert [e["focus"] for e in status_of(event)["notification-event"]] == [f"{BASE}/Observation/ob"]
        assert "alice" not in str(rx.bodies())
        assert named.events() == []
        # operator's view of the same topic: both patients (the filter is the policy, not the topic)
        status = status_of(client.get(f"/fhir/Subscription/{nid}/$status").json())
        assert status["events-since-subscription-start"] == "0"


def test_topic_type_the_caller_cannot_search_is_refused(database_url: str, tmp_path: Path) -> None:
    settings = subscription_settings(database_url, tmp_path)
    with app_client(settings) as client:
        only_subscriptions = operator_header(settings, "system/Subscription.cruds")
        r = client.post(
            "/fhir/Subscription",
            json=subscription("http://127.0.0.1:9/h"),
            headers={**H, **only_subscriptions},
        )
        assert r.status_code == 422, r.text
        both = operator_header(settings, "system/Subscription.cruds system/Observation.rs")
        r = client.post(
            "/fhir/Subscription", json=subscription("http://127.0.0.1:9/h"), headers={**H, **both}
        )
        assert r.status_code == 201, r.text
