"""A Subscription resource read as the R4 backport profile describes it.

Subscriptions R5 Backport IG STU 1.1, R4 Subscription profile
(http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/StructureDefinition-backport-subscription.html):
``criteria`` is the topic's canonical URL, filters are ``backport-filter-criteria`` extensions on
``criteria`` (``Observation?patient=Patient/1``), the channel carries ``backport-heartbeat-period``,
``backport-timeout`` and ``backport-max-count``, and ``channel.payload`` carries the
``backport-payload-content`` extension (``empty``, ``id-only``, ``full-resource``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from hygie.api.subscriptions.topics import IG, Topic, topics
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError

SD = f"{IG}/StructureDefinition"
FILTER_EXT = f"{SD}/backport-filter-criteria"
HEARTBEAT_EXT = f"{SD}/backport-heartbeat-period"
TIMEOUT_EXT = f"{SD}/backport-timeout"
MAX_COUNT_EXT = f"{SD}/backport-max-count"
CONTENT_EXT = f"{SD}/backport-payload-content"
CONTENTS = ("empty", "id-only", "full-resource")
CHANNELS = ("rest-hook", "websocket")
PAYLOAD_TYPES = ("application/fhir+json", "application/json")
DEFAULT_TIMEOUT_S = 10
MAX_TIMEOUT_S = 60

register(
    {
        "subscription_invalid": {
            "fr": "Abonnement refusé : {reason}.",
            "en": "Subscription refused: {reason}.",
        },
        "subscription_unknown_topic": {
            "fr": "Sujet d'abonnement inconnu : {topic} (voir Subscription/$topics).",
            "en": "Unknown subscription topic: {topic} (see Subscription/$topics).",
        },
        "subscription_bad_filter": {
            "fr": "Filtre d'abonnement refusé « {filter} » : {reason}.",
            "en": "Subscription filter refused '{filter}': {reason}.",
        },
        "subscription_endpoint_refused": {
            "fr": "Adresse de notification refusée ({reason}) ; voir HYGIE_SUBSCRIPTION_ALLOWED_HOSTS.",
            "en": "Notification endpoint refused ({reason}); see HYGIE_SUBSCRIPTION_ALLOWED_HOSTS.",
        },
        "subscription_not_websocket": {
            "fr": "Cet abonnement n'utilise pas le canal websocket.",
            "en": "This subscription does not use the websocket channel.",
        },
    }
)


@dataclass(frozen=True, slots=True)
class Spec:
    """What the worker needs of one Subscription."""

    id: str
    status: str
    topic: Topic
    filters: tuple[tuple[str, str], ...]  # search pairs, on the topic's resource type
    channel: str  # rest-hook | websocket
    endpoint: str | None
    headers: tuple[tuple[str, str], ...]
    content: str  # empty | id-only | full-resource
    heartbeat_s: int | None
    timeout_s: int
    max_count: int


def refused(reason: str, *where: str) -> FhirError:
    return FhirError.of(422, "invalid", "subscription_invalid", tuple(where), reason=reason)


def _ext(element: Any, url: str) -> list[Any]:
    if not isinstance(element, dict):
        return []
    return [e for e in element.get("extension", []) if isinstance(e, dict) and e.get("url") == url]


def _one_value(element: Any, url: str, key: str) -> Any:
    found = _ext(element, url)
    return found[0].get(key) if found else None


def parse_filter(topic: Topic, text: str) -> list[tuple[str, str]]:
    """``Type?name=value&…`` (or ``name=value&…``) → search pairs, each allowed by the topic."""
    rtype, sep, query = text.partition("?")
    if not sep:
        rtype, query = topic.resource, text
    if rtype != topic.resource:
        raise FhirError.of(
            422,
            "invalid",
            "subscription_bad_filter",
            ("Subscription.criteria",),
            filter=text[:200],
            reason=f"the topic is about {topic.resource}",
        )
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs:
        raise FhirError.of(
            422,
            "invalid",
            "subscription_bad_filter",
            ("Subscription.criteria",),
            filter=text[:200],
            reason="no criterion",
        )
    for name, _ in pairs:
        if name.split(":", 1)[0] not in topic.filters:
            raise FhirError.of(
                422,
                "invalid",
                "subscription_bad_filter",
                ("Subscription.criteria",),
                filter=text[:200],
                reason=f"{name[:60]} is not one of {', '.join(topic.filters)}",
            )
    return pairs


def parse(resource: dict[str, Any]) -> Spec:
    """Read a Subscription (already valid R4) as the backport profile; 422 when it is not usable."""
    url = resource.get("criteria")
    topic = topics().get(url) if isinstance(url, str) else None
    if topic is None:
        raise FhirError.of(
            422,
            "not-supported",
            "subscription_unknown_topic",
            ("Subscription.criteria",),
            topic=str(url)[:200],
        )
    filters: list[tuple[str, str]] = []
    for ext in _ext(resource.get("_criteria"), FILTER_EXT):
        text = ext.get("valueString")
        if not isinstance(text, str):
            raise refused("backport-filter-criteria needs a valueString", "Subscription.criteria")
        filters.extend(parse_filter(topic, text))
    channel = resource.get("channel") or {}
    ctype = channel.get("type")
    if ctype not in CHANNELS:
        raise refused(
            f"channel type {str(ctype)[:40]} is not supported (rest-hook, websocket)",
            "Subscription.channel.type",
        )
    endpoint = channel.get("endpoint")
    if ctype == "rest-hook" and not isinstance(endpoint, str):
        raise refused("a rest-hook channel needs an endpoint", "Subscription.channel.endpoint")
    payload = channel.get("payload")
    if payload is not None and payload not in PAYLOAD_TYPES:
        raise refused(
            f"payload type {str(payload)[:60]} is not supported (application/fhir+json)",
            "Subscription.channel.payload",
        )
    content = _one_value(channel.get("_payload"), CONTENT_EXT, "valueCode") or "id-only"
    if content not in CONTENTS:
        raise refused(
            f"payload content {str(content)[:40]} is not one of {', '.join(CONTENTS)}",
            "Subscription.channel.payload",
        )
    heartbeat = _one_value(channel, HEARTBEAT_EXT, "valueUnsignedInt")
    timeout = _one_value(channel, TIMEOUT_EXT, "valueUnsignedInt")
    max_count = _one_value(channel, MAX_COUNT_EXT, "valuePositiveInt")
    if heartbeat is not None and (not isinstance(heartbeat, int) or heartbeat < 1):
        raise refused("heartbeat period must be a positive number of seconds", "Subscription.channel")
    if timeout is not None and (not isinstance(timeout, int) or not 1 <= timeout <= MAX_TIMEOUT_S):
        raise refused(f"timeout must be 1 to {MAX_TIMEOUT_S} seconds", "Subscription.channel")
    headers = []
    for h in channel.get("header", []):
        name, sep, value = str(h).partition(":")
        if not sep or not name.strip() or "\n" in h or "\r" in h:
            raise refused("a channel header must read 'Name: value'", "Subscription.channel.header")
        headers.append((name.strip(), value.strip()))
    return Spec(
        id=str(resource.get("id", "")),
        status=str(resource.get("status", "requested")),
        topic=topic,
        filters=tuple(filters),
        channel=ctype,
        endpoint=endpoint if isinstance(endpoint, str) else None,
        headers=tuple(headers),
        content=content,
        heartbeat_s=heartbeat,
        timeout_s=timeout or DEFAULT_TIMEOUT_S,
        max_count=max_count if isinstance(max_count, int) and max_count > 0 else 1,
    )
