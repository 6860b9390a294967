"""Subscription operations: ``$status``, ``$get-ws-binding-token``, ``$topics``.

- ``Subscription/[id]/$status`` and ``Subscription/$status?id=…&status=…``
  (http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/OperationDefinition-backport-subscription-status.html):
  a ``searchset`` Bundle of ``backport-subscription-status-r4`` Parameters (type ``query-status``),
  one per Subscription the caller can read.
- ``Subscription/[id]/$get-ws-binding-token``
  (http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/OperationDefinition-backport-subscription-get-ws-binding-token.html):
  a token valid ``TOKEN_SECONDS`` to bind a websocket to that Subscription.
- ``Subscription/$topics``: the topics this server serves, as Basic resources
  (:func:`hygie.api.subscriptions.topics.as_basic`; docs/subscriptions.md).
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.responses import Response

from hygie.api.http import OperationCall
from hygie.api.search import find
from hygie.api.subscriptions import notify, rules, state
from hygie.api.subscriptions.topics import as_basic, topics
from hygie.fhir.outcome import FhirError
from hygie.storage.database import Session
from hygie.storage.store import Version, instant

TOKEN_SECONDS = 60
MAX_STATUS = 1000


def _only(call: OperationCall, *methods: str) -> None:
    if call.req.method not in methods:
        raise FhirError.of(405, "not-supported", "method_not_allowed", method=call.req.method[:16])


def _status_of(s: Session, version: Version) -> dict[str, Any] | None:
    try:
        spec = rules.parse(version.resource())
    except FhirError:
        return None
    st = state.get(s, version.id)
    base_events = st.events if st is not None else 0
    return {
        "search": {"mode": "match"},
        "resource": notify.status_parameters(spec, _base(s, st), spec.status, "query-status", base_events),
    }


def _base(s: Session, st: state.State | None) -> str:
    return st.base if st is not None else ""


async def status(call: OperationCall) -> Response:
    """``$status`` at instance or type level."""
    _only(call, "GET", "POST")
    ids = [i for v in (call.req.param("id") or "").split(",") if (i := v.strip())]
    ids += [i for k, v in call.req.query if k == "id" for i in v.split(",") if i.strip() and i not in ids]
    wanted = {v for k, v in call.req.query if k == "status" for v in v.split(",")}

    def work(s: Session) -> dict[str, Any]:
        env = call.env(s)
        if call.req.id is not None:
            current = env.store.read("Subscription", call.req.id)
            if current is None or current.deleted:
                raise FhirError.of(404, "not-found", "not_found", type="Subscription", id=call.req.id)
            versions = [current]
        else:
            criteria = [("_id", ",".join(ids))] if ids else []
            versions = find(env, "Subscription", criteria, limit=MAX_STATUS)
        entries = []
        for version in versions:
            env.touched.append(version)
            entry = _status_of(s, version)
            if entry is None:
                continue
            if (
                call.req.id is None
                and wanted
                and entry["resource"]["parameter"][2]["valueCode"] not in wanted
            ):
                continue
            entry["resource"]["parameter"][0]["valueReference"]["reference"] = (
                f"{call.base}/Subscription/{version.id}"
            )
            entries.append(entry)
        return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}

    result = await call.api.db.run(work, write=False)
    return call.api._json(result, 200, call.pretty, {})


async def ws_binding_token(call: OperationCall) -> Response:
    """``Subscription/[id]/$get-ws-binding-token``."""
    _only(call, "GET", "POST")
    sid = call.req.id
    if sid is None:
        raise FhirError.of(400, "required", "subscription_invalid", reason="a Subscription id is required")
    token = secrets.token_urlsafe(32)
    expires = state.now_ms() + TOKEN_SECONDS * 1000

    def work(s: Session) -> None:
        env = call.env(s)
        current = env.store.read("Subscription", sid)
        if current is None or current.deleted:
            raise FhirError.of(404, "not-found", "not_found", type="Subscription", id=sid)
        env.touched.append(current)
        if (current.resource().get("channel") or {}).get("type") != "websocket":
            raise FhirError.of(422, "invalid", "subscription_not_websocket")
        state.add_token(s, token, sid, expires)

    await call.api.db.run(work)
    root = call.base.removesuffix("/fhir")
    ws_url = (
        "wss://" + root[8:] if root.startswith("https://") else "ws://" + root.removeprefix("http://")
    ) + "/fhir-ws"
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "token", "valueString": token},
            {"name": "expiration", "valueDateTime": instant(expires)},
            {"name": "subscription", "valueString": sid},
            {"name": "websocket-url", "valueUrl": ws_url},
        ],
    }
    return call.api._json(body, 200, call.pretty, {})


async def list_topics(call: OperationCall) -> Response:
    """``Subscription/$topics``: the served topics (a ``collection`` Bundle of Basic)."""
    _only(call, "GET")
    entries = [{"fullUrl": t.url, "resource": as_basic(t)} for t in topics().values()]
    body = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return call.api._json(body, 200, call.pretty, {})
