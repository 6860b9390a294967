"""Checks on every write of a Subscription (create, update, patch, Bundle entries).

Subscriptions R5 Backport IG STU 1.1
(http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/workflow.html): the server refuses a
Subscription it cannot serve (unknown topic, filter the topic does not allow, unsupported channel
or payload, endpoint refused) with 422 and stores nothing, and owns ``status``: a written
Subscription is ``requested`` (or stays ``off``) until the worker activates it (``active``) or
fails to (``error``). The writer's principal is recorded: every notification is matched under
that principal's access policy (docs/subscriptions.md).
"""

from __future__ import annotations

from typing import Any

from hygie.api.context import Env
from hygie.api.search import compile_where
from hygie.api.subscriptions import endpoints, rules, state
from hygie.auth.policy import Policy
from hygie.fhir.outcome import FhirError
from hygie.storage.store import new_id


def owner_policy(env: Env) -> Policy | None:
    guard = getattr(env.store.params, "guard", None)
    return guard if isinstance(guard, Policy) else None


def accept_subscription(env: Env, resource: dict[str, Any], rid: str | None) -> str:
    """Check ``resource`` (a valid R4 Subscription) before it is stored as ``rid`` (a new id when
    None, returned); set its status; record its owner in the same transaction."""
    spec = rules.parse(resource)
    policy = owner_policy(env)
    if policy is not None and not policy.allows(spec.topic.resource, "s"):
        raise rules.refused(
            f"your access does not include searching {spec.topic.resource}", "Subscription.criteria"
        )
    try:
        compile_where(env, spec.topic.resource, [*spec.topic.criteria, *spec.filters])
    except FhirError as err:
        first = err.issues[0] if err.issues else None
        reason = str(first.params.get("detail") or first.key) if first is not None else "invalid"
        raise FhirError.of(
            422,
            "invalid",
            "subscription_bad_filter",
            ("Subscription.criteria",),
            filter="&".join(f"{k}={v}" for k, v in spec.filters)[:200],
            reason=reason[:200],
        ) from err
    if spec.channel == "rest-hook" and spec.endpoint is not None:
        endpoints.check(spec.endpoint, env.settings)
    if resource.get("status") != "off":
        resource["status"] = "requested"
        resource.pop("error", None)
    rid = rid or new_id()
    state.remember(env.store.s, rid, policy.principal if policy is not None else None, env.base)
    return rid
