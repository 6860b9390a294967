"""rest-hook delivery: POST a notification Bundle to the subscriber's endpoint.

Subscriptions R5 Backport IG STU 1.1, rest-hook channel
(http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/channels.html#rest-hook): ``POST`` of the
Bundle as ``application/fhir+json`` with the Subscription's ``channel.header`` values; any 2xx is
a success. The endpoint is checked again before each call (SSRF guard,
:mod:`hygie.api.subscriptions.endpoints`), redirects are never followed, the wait is the
channel's timeout (``backport-timeout``, default 10 s).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import httpx
import orjson

from hygie.api.subscriptions.endpoints import allowed_hosts, refusal
from hygie.api.subscriptions.rules import Spec
from hygie.logging import get_logger
from hygie.settings import Settings

log = get_logger("hygie.subscriptions")


def client() -> httpx.AsyncClient:
    """The worker's HTTP client: connections kept alive between notifications, redirects never
    followed, no proxy or .netrc from the environment."""
    return httpx.AsyncClient(
        follow_redirects=False, trust_env=False, headers={"User-Agent": "Hygie-Subscriptions"}
    )


async def post(http: httpx.AsyncClient, spec: Spec, bundle: dict[str, Any], settings: Settings) -> bool:
    """Deliver ``bundle``; True on a 2xx answer. On the event loop (no worker thread): a thread
    would wait for the GIL at each socket call while uploads keep the loop busy, and take up to
    seconds for one POST under load (docs/subscriptions.md, "Latency")."""
    if spec.endpoint is None:
        return False
    if (urlsplit(spec.endpoint).hostname or "").lower() in allowed_hosts(settings):
        reason = refusal(spec.endpoint, settings)  # an allowed host: no name to resolve
    else:
        reason = await anyio.to_thread.run_sync(refusal, spec.endpoint, settings)  # resolves the name
    if reason is not None:
        log.warning("subscription_endpoint_refused", subscription=spec.id, reason=reason)
        return False
    headers = {"Content-Type": "application/fhir+json", **dict(spec.headers)}
    try:
        answer = await http.post(
            spec.endpoint, content=orjson.dumps(bundle), headers=headers, timeout=spec.timeout_s
        )
    except (httpx.HTTPError, OSError, ValueError) as exc:
        log.info("subscription_delivery_failed", subscription=spec.id, error=type(exc).__name__)
        return False
    return bool(200 <= answer.status_code < 300)
