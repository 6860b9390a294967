"""The subscription topics Hygie serves, as data (``data/topics.json``).

R4 has no SubscriptionTopic resource: the Subscriptions R5 Backport IG STU 1.1 has R4 servers
advertise their topics' canonical URLs in the CapabilityStatement
(http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/components.html#subscription-topics and the
``capabilitystatement-subscriptiontopic-canonical`` extension); ``Subscription/$topics`` also
lists them as Basic resources carrying the R5 SubscriptionTopic elements (docs/subscriptions.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

IG = "http://hl7.org/fhir/uv/subscriptions-backport"
TOPIC_CANONICAL_EXT = f"{IG}/StructureDefinition/capabilitystatement-subscriptiontopic-canonical"
SUBSCRIPTION_PROFILE = f"{IG}/StructureDefinition/backport-subscription"
STATUS_OPERATION = f"{IG}/OperationDefinition/backport-subscription-status"
WS_TOKEN_OPERATION = f"{IG}/OperationDefinition/backport-subscription-get-ws-binding-token"
TRIGGERS = ("create", "update", "delete")
_DATA = Path(__file__).parent / "data" / "topics.json"


@dataclass(frozen=True, slots=True)
class Topic:
    url: str
    title: str
    resource: str
    triggers: tuple[str, ...]
    filters: tuple[str, ...]  # search parameters a subscription may filter by
    criteria: tuple[tuple[str, str], ...]  # every match must also meet these


@cache
def topics() -> dict[str, Topic]:
    """Canonical URL → topic."""
    raw = json.loads(_DATA.read_text(encoding="utf-8"))
    found: dict[str, Topic] = {}
    for t in raw["topics"]:
        found[t["url"]] = Topic(
            url=t["url"],
            title=t["title"],
            resource=t["resource"],
            triggers=tuple(t["triggers"]),
            filters=tuple(t["filters"]),
            criteria=tuple((c[0], c[1]) for c in t["criteria"]),
        )
    return found


def watched_types() -> frozenset[str]:
    return frozenset(t.resource for t in topics().values())


def capability() -> dict[str, Any]:
    """What the Subscription entry of the CapabilityStatement adds (IG R4 topic discovery)."""
    return {
        "extension": [{"url": TOPIC_CANONICAL_EXT, "valueCanonical": url} for url in sorted(topics())],
        "supportedProfile": [SUBSCRIPTION_PROFILE],
    }


def operations() -> list[dict[str, str]]:
    """The Subscription operations for the CapabilityStatement."""
    return [
        {"name": "status", "definition": STATUS_OPERATION},
        {"name": "get-ws-binding-token", "definition": WS_TOKEN_OPERATION},
        {"name": "topics", "definition": "https://hygie.health/fhir/OperationDefinition/Subscription-topics"},
    ]


def as_basic(topic: Topic) -> dict[str, Any]:
    """A topic as an R4 Basic resource with the R5 SubscriptionTopic elements as cross-version
    extensions (http://hl7.org/fhir/versions.html#extensions)."""
    ext = "http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic"
    triggers = [
        {
            "url": f"{ext}.resourceTrigger",
            "extension": [
                {"url": "resource", "valueUri": f"http://hl7.org/fhir/StructureDefinition/{topic.resource}"},
                *({"url": "supportedInteraction", "valueCode": t} for t in topic.triggers),
            ],
        }
    ]
    filters = [
        {
            "url": f"{ext}.canFilterBy",
            "extension": [
                {"url": "resource", "valueUri": topic.resource},
                {"url": "filterParameter", "valueString": name},
            ],
        }
        for name in topic.filters
    ]
    return {
        "resourceType": "Basic",
        "id": topic.url.rsplit("/", 1)[-1],
        "code": {"coding": [{"system": "http://hl7.org/fhir/fhir-types", "code": "SubscriptionTopic"}]},
        "extension": [
            {"url": f"{ext}.url", "valueUri": topic.url},
            {"url": f"{ext}.title", "valueString": topic.title},
            {"url": f"{ext}.status", "valueCode": "active"},
            *triggers,
            *filters,
        ],
    }
