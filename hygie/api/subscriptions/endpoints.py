"""Which rest-hook endpoints the server may call (server-side request forgery guard).

A rest-hook Subscription makes the server POST to a URL chosen by a client: without limits that
URL could reach the server's own network (cloud metadata, databases, admin consoles). Rules
(docs/subscriptions.md, OWASP SSRF prevention cheat sheet): https only, to hosts whose every
address is public; plain http and loopback/private/link-local addresses only for the hosts named
in ``HYGIE_SUBSCRIPTION_ALLOWED_HOSTS``; no credentials in the URL; redirects are not followed
(:mod:`hygie.api.subscriptions.delivery`). Checked when the Subscription is written and again
before every delivery (a DNS answer can change).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from hygie.fhir.outcome import FhirError
from hygie.settings import Settings


def allowed_hosts(settings: Settings) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in settings.subscription_allowed_hosts.split(",") if h.strip())


def refusal(url: str, settings: Settings) -> str | None:
    """Why ``url`` may not be called (None: it may)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "malformed URL"
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        return "an absolute https URL is required"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL"
    trusted = host in allowed_hosts(settings)
    if parts.scheme == "http" and not trusted:
        return "plain http to a host that is not allowed"
    if trusted:
        return None
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except OSError:
        return "unknown host"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return "private, loopback or reserved address"
    return None


def check(url: str, settings: Settings) -> None:
    """422 when ``url`` may not be called."""
    reason = refusal(url, settings)
    if reason is not None:
        raise FhirError.of(
            422,
            "security",
            "subscription_endpoint_refused",
            ("Subscription.channel.endpoint",),
            reason=reason,
        )
