"""rest-hook delivery: POST a notification Bundle to the subscriber's endpoint.

Subscriptions R5 Backport IG STU 1.1, rest-hook channel
(http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/channels.html#rest-hook): ``POST`` of the
Bundle as ``application/fhir+json`` with the Subscription's ``channel.header`` values; any 2xx is
a success. The endpoint is checked again before each call (SSRF guard,
:mod:`hygie.api.subscriptions.endpoints`), redirects are never followed, the wait is the
channel's timeout (``backport-timeout``, default 10 s).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import orjson

from hygie.api.subscriptions.endpoints import refusal
from hygie.api.subscriptions.rules import Spec
from hygie.logging import get_logger
from hygie.settings import Settings

log = get_logger("hygie.subscriptions")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is answered as an error: the server never follows it


_OPENER = urllib.request.build_opener(_NoRedirect())


def post(spec: Spec, bundle: dict[str, Any], settings: Settings) -> bool:
    """Deliver ``bundle``; True on a 2xx answer (blocking: run it in a worker thread)."""
    if spec.endpoint is None:
        return False
    reason = refusal(spec.endpoint, settings)
    if reason is not None:
        log.warning("subscription_endpoint_refused", subscription=spec.id, reason=reason)
        return False
    headers = {"Content-Type": "application/fhir+json", "User-Agent": "Hygie-Subscriptions"}
    headers.update(dict(spec.headers))
    # the scheme is https or http: refusal() checked it just above
    data = orjson.dumps(bundle)
    request = urllib.request.Request(spec.endpoint, data=data, headers=headers, method="POST")  # noqa: S310
    try:
        with _OPENER.open(request, timeout=spec.timeout_s) as answer:
            answer.read(65_536)
            return bool(200 <= answer.status < 300)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.info("subscription_delivery_failed", subscription=spec.id, error=type(exc).__name__)
        return False
