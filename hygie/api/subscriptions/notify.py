"""Notification Bundles and status Parameters of the R4 backport.

Subscriptions R5 Backport IG STU 1.1: a notification is a ``history`` Bundle
(http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/StructureDefinition-backport-subscription-notification-r4.html)
whose first entry is a Parameters resource of the ``backport-subscription-status-r4`` profile
(http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/StructureDefinition-backport-subscription-status-r4.html):
subscription, topic, status, type (handshake, heartbeat, event-notification, query-status),
events-since-subscription-start and one notification-event per event (event-number, timestamp,
focus). Payload content (http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/payloads.html):
``empty`` — no focus, no resource entry; ``id-only`` — the focus reference and an entry with its
fullUrl and request; ``full-resource`` — the entry carries the resource as well.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hygie.api.subscriptions.rules import Spec
from hygie.api.subscriptions.topics import IG
from hygie.storage.store import Version, instant

STATUS_PROFILE = f"{IG}/StructureDefinition/backport-subscription-status-r4"
NOTIFICATION_PROFILE = f"{IG}/StructureDefinition/backport-subscription-notification-r4"


@dataclass(frozen=True, slots=True)
class Notified:
    """One event to put in a notification: its number, time, and the focus as the owner sees it
    now (``version`` None: no longer visible, or deleted)."""

    number: int
    at: int
    type: str
    id: str
    version: Version | None
    deleted: bool
    created: bool = False  # the event is the resource's creation


def status_parameters(
    spec: Spec,
    base: str,
    status: str,
    kind: str,
    events: int,
    notified: Sequence[Notified] = (),
) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": f"{base}/Subscription/{spec.id}"}},
        {"name": "topic", "valueCanonical": spec.topic.url},
        {"name": "status", "valueCode": status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(events)},
    ]
    for n in notified:
        part: list[dict[str, Any]] = [
            {"name": "event-number", "valueString": str(n.number)},
            {"name": "timestamp", "valueInstant": instant(n.at)},
        ]
        if spec.content != "empty":
            part.append({"name": "focus", "valueReference": {"reference": f"{base}/{n.type}/{n.id}"}})
        params.append({"name": "notification-event", "part": part})
    return {
        "resourceType": "Parameters",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": params,
    }


def bundle(
    spec: Spec,
    base: str,
    status: str,
    kind: str,
    events: int,
    notified: Sequence[Notified] = (),
) -> dict[str, Any]:
    """The notification Bundle (handshake, heartbeat or event-notification)."""
    parameters = status_parameters(spec, base, status, kind, events, notified)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{parameters['id']}",
            "resource": parameters,
            "request": {"method": "GET", "url": f"Subscription/{spec.id}/$status"},
            "response": {"status": "200"},
        }
    ]
    if spec.content != "empty":
        for n in notified:
            entries.append(_focus_entry(spec, base, n))
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": instant(int(time.time() * 1000)),
        "entry": entries,
    }


def _focus_entry(spec: Spec, base: str, n: Notified) -> dict[str, Any]:
    entry: dict[str, Any] = {"fullUrl": f"{base}/{n.type}/{n.id}"}
    if n.deleted:
        entry["request"] = {"method": "DELETE", "url": f"{n.type}/{n.id}"}
        entry["response"] = {"status": "204"}
        return entry
    if n.created:
        entry["request"] = {"method": "POST", "url": n.type}
        entry["response"] = {"status": "201"}
    else:
        entry["request"] = {"method": "PUT", "url": f"{n.type}/{n.id}"}
        entry["response"] = {"status": "200"}
    if spec.content == "full-resource" and n.version is not None and n.version.body is not None:
        entry["resource"] = n.version.resource()
        entry["response"]["etag"] = n.version.etag
    return entry
