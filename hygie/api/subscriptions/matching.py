"""Change detection: the ``resource_version`` change feed → queued notifications.

Every write path (HTTP, Bundles, the CLI import, Bulk ``$import``, the demo loader, device
ingestion) ends in a ``resource_version`` row with a global ``seq``; the worker reads that feed
instead of hooking handlers, so nothing escapes it (docs/subscriptions.md). A change notifies a
Subscription when its resource type and trigger (create, update, delete) are the topic's and the
topic's criteria plus the subscription's filters, restricted with ``_id`` to the changed resource,
find it through the search engine under the access policy of the Subscription's owner — the same
SQL a search by that owner runs, so a subscriber never learns of a resource they could not read
(https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/components.html#subscription-filters).

A deletion has no index rows left to match: it is notified to the subscriptions that were notified
about that resource before (they knew it already), and to no other.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from hygie.api.context import Env
from hygie.api.search import find
from hygie.api.subscriptions import state
from hygie.api.subscriptions.rules import Spec
from hygie.auth.policy import Policy
from hygie.auth.tokens import Principal
from hygie.search.catalog import Catalog
from hygie.settings import Settings
from hygie.storage.database import Session
from hygie.storage.store import Store

SCAN_LIMIT = 2000  # changes of watched types read per call


@dataclass(frozen=True, slots=True)
class Active:
    """A Subscription the worker serves: its parsed resource, state and owner."""

    spec: Spec
    state: state.State
    principal: Principal | None


def owner_env(
    s: Session, catalog: Catalog, settings: Settings, tz: tzinfo, principal: Principal | None, base: str
) -> Env:
    """An environment under the owner's access policy, as :meth:`FhirApi._policy` builds it for a
    request (break-the-glass grants do not extend to subscriptions)."""
    policy = None
    if principal is not None:
        account = principal.subject if principal.kind in ("professional", "patient") else None
        policy = Policy(principal, catalog, base, int(time.time() * 1000), account, settings.timezone)
    return Env(Store(s, catalog.scoped(policy), tz), settings, base, "en")


def trigger(change: state.Change) -> str:
    if change.deleted:
        return "delete"
    return "create" if change.vid == 1 else "update"


def matches(env: Env, spec: Spec, change: state.Change) -> bool:
    """The changed resource, as it is now, is found by the subscription's criteria and visible to
    its owner (one indexed search restricted to ``_id``)."""
    criteria = [*spec.topic.criteria, *spec.filters, ("_id", change.id)]
    return bool(find(env, change.type, criteria, limit=1))


def scan(
    s: Session,
    actives: list[Active],
    catalog: Catalog,
    settings: Settings,
    tz: tzinfo,
    now: int,
) -> int:
    """Queue the notifications of the changes since the cursor (at most :data:`SCAN_LIMIT`); the
    number of changes read."""
    if not actives:  # nobody to notify: nothing before now will ever be scanned
        state.set_cursor(s, state.max_seq(s))
        return 0
    # Versions at or below every active Subscription's start concern none of them.
    cur = max(state.cursor(s), min(a.state.since_seq or 0 for a in actives))
    # First how far the cursor may go, then the changes: under READ COMMITTED each statement sees
    # the commits made before it, so every version at or below ``safe`` is in ``batch``.
    safe = state.safe_cursor(s, cur, now, int(settings.subscription_lookback_seconds * 1000))
    types = sorted({a.spec.topic.resource for a in actives})
    batch = state.changes(s, types, cur, SCAN_LIMIT)
    envs: dict[str, Env] = {}
    for change in batch:
        event = trigger(change)
        for active in actives:
            spec = active.spec
            if spec.topic.resource != change.type or event not in spec.topic.triggers:
                continue
            if active.state.since_seq is None or change.seq <= active.state.since_seq:
                continue
            if event == "delete":
                if not state.saw(s, spec.id, change.rk):
                    continue
                state.unsee(s, spec.id, change.rk)
            else:
                env = envs.get(spec.id)
                if env is None:
                    env = envs[spec.id] = owner_env(
                        s, catalog, settings, tz, active.principal, active.state.base
                    )
                if not matches(env, spec, change):
                    continue
                state.see(s, spec.id, change.rk)
            state.enqueue(s, spec.id, change, now)
    state.scanned(s, [c.seq for c in batch], now)
    if len(batch) == SCAN_LIMIT:  # more to read: not past the last version read
        safe = min(safe, batch[-1].seq)
    state.set_cursor(s, safe)
    return len(batch)


def by_id(actives: list[Active]) -> Mapping[str, Active]:
    return {a.spec.id: a for a in actives}


__all__: list[Any] = ["Active", "by_id", "matches", "owner_env", "scan", "trigger"]
