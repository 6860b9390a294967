"""SMART on FHIR scopes, v2 and v1 — https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html

A clinical scope is ``{context}/{type}.{permissions}[?{query}]``: context ``patient`` (the launch
patient's compartment), ``user`` (what the signed-in user may see) or ``system`` (a backend
service); type a resource type or ``*``; permissions v2 ``c r u d s`` in that order (any subset,
e.g. ``rs``, ``cruds``) or v1 ``read`` (= ``rs``), ``write`` (= ``cud``), ``*`` (= ``cruds``). A v2
scope may narrow the resources with search criteria (``patient/Observation.rs?category=laboratory``):
they are compiled into the query like any search criterion.

Other scopes (``openid``, ``fhirUser``, ``launch``, ``launch/patient``, ``offline_access``,
``online_access``) are kept as they are. A malformed clinical scope is an error: the
authorization server refuses it rather than guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from hygie.fhir.definitions import is_resource_type

CONTEXTS = ("patient", "user", "system")
PERMISSIONS = "cruds"
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_CLINICAL = re.compile(r"(patient|user|system)/([A-Za-z]+|\*)\.([a-z*]+)(?:\?(.*))?")
OTHER_SCOPES = frozenset(
    {"openid", "fhirUser", "profile", "launch", "launch/patient", "offline_access", "online_access"}
)


class ScopeError(ValueError):
    """A scope string that is not a valid SMART scope."""


@dataclass(frozen=True, slots=True)
class Grant:
    """One clinical scope: context, resource type (``*``: all), permissions, narrowing criteria."""

    context: str
    type: str
    permissions: frozenset[str]
    criteria: tuple[tuple[str, str], ...] = ()

    def covers(self, rtype: str, permission: str) -> bool:
        return (self.type in ("*", rtype)) and permission in self.permissions


@dataclass(frozen=True, slots=True)
class Scopes:
    """A parsed scope string: its clinical grants and the other scopes."""

    grants: tuple[Grant, ...] = ()
    other: frozenset[str] = field(default_factory=frozenset)
    text: str = ""

    def allows(self, rtype: str, permission: str, context: str | None = None) -> bool:
        """True if some grant (of ``context``, if given) gives ``permission`` on ``rtype``."""
        return any(g.covers(rtype, permission) and context in (None, g.context) for g in self.grants)

    def grants_for(self, rtype: str, permission: str) -> list[Grant]:
        return [g for g in self.grants if g.covers(rtype, permission)]

    def contexts(self) -> frozenset[str]:
        return frozenset(g.context for g in self.grants)

    def has(self, scope: str) -> bool:
        return scope in self.other


def parse_permissions(text: str) -> frozenset[str]:
    """``rs`` → {r, s}; v1 ``read``/``write``/``*``; v2 letters must keep the order ``cruds``."""
    if text in _V1:
        return frozenset(_V1[text])
    position = -1
    for letter in text:
        index = PERMISSIONS.find(letter)
        if index <= position:  # unknown letter, repeated or out of order
            raise ScopeError(f"permissions {text[:16]!r}")
        position = index
    if not text:
        raise ScopeError("no permissions")
    return frozenset(text)


def parse_scopes(text: str, *, max_length: int = 4096) -> Scopes:
    """Parse a space-separated scope string (raises :class:`ScopeError`)."""
    if len(text) > max_length:
        raise ScopeError("scope too long")
    grants: list[Grant] = []
    other: set[str] = set()
    for token in text.split():
        match = _CLINICAL.fullmatch(token)
        if match is None:
            if token in OTHER_SCOPES:
                other.add(token)
                continue
            raise ScopeError(f"unknown scope {token[:64]!r}")
        context, rtype, permissions, query = match.groups()
        if rtype != "*" and not is_resource_type(rtype):
            raise ScopeError(f"unknown resource type {rtype[:64]!r}")
        criteria = tuple(parse_qsl(query, keep_blank_values=True, strict_parsing=True)) if query else ()
        if query is not None and not criteria:
            raise ScopeError(f"empty criteria in {token[:64]!r}")
        grants.append(Grant(context, rtype, parse_permissions(permissions), criteria))
    return Scopes(tuple(grants), frozenset(other), " ".join(text.split()))


def narrow(requested: Scopes, allowed: Scopes) -> Scopes:
    """The requested grants that ``allowed`` covers (a client never gets more than registered).

    A requested grant is kept when one allowed grant of the same context covers its type and all
    its permissions, and has no criteria or the same criteria.
    """
    kept = []
    for grant in requested.grants:
        for limit in allowed.grants:
            same_type = limit.type in ("*", grant.type)
            if (
                limit.context == grant.context
                and same_type
                and grant.permissions <= limit.permissions
                and (not limit.criteria or limit.criteria == grant.criteria)
            ):
                kept.append(grant)
                break
    other = requested.other & (allowed.other | {"openid", "fhirUser", "profile", "online_access"})
    text = " ".join([*(format_grant(g) for g in kept), *sorted(other)])
    return Scopes(tuple(kept), frozenset(other), text)


def format_grant(grant: Grant) -> str:
    permissions = "".join(p for p in PERMISSIONS if p in grant.permissions)
    query = "&".join(f"{k}={v}" for k, v in grant.criteria)
    return f"{grant.context}/{grant.type}.{permissions}" + (f"?{query}" if query else "")
