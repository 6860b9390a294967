"""The websocket channel: ``/fhir-ws``.

Subscriptions R5 Backport IG STU 1.1
(http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/channels.html#websockets): the client gets a
short-lived token with ``Subscription/{id}/$get-ws-binding-token`` (with its usual bearer token),
opens the websocket URL it names, and sends ``bind-with-token <token>``; the server answers with a
handshake Bundle, then sends each event-notification Bundle and heartbeats as text messages. A
token unknown or expired is answered with an OperationOutcome text and the socket stays open for
another try.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from hygie.api.subscriptions import notify, rules, state
from hygie.api.subscriptions.worker import Socket, SubscriptionWorker, worker_of
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError, Issue, outcome
from hygie.storage.database import Session
from hygie.storage.store import Store

register(
    {
        "subscription_ws_bad_token": {
            "fr": "Jeton de liaison websocket inconnu ou expiré ; demandez-en un avec $get-ws-binding-token.",
            "en": "Unknown or expired websocket binding token; get one with $get-ws-binding-token.",
        },
        "subscription_ws_command": {
            "fr": "Commande attendue : bind-with-token <jeton>.",
            "en": "Expected command: bind-with-token <token>.",
        },
    }
)


async def endpoint(ws: WebSocket) -> None:
    """The ``/fhir-ws`` websocket route."""
    api = ws.app.state.fhir_api
    worker = worker_of(api)
    await ws.accept()
    if worker is None:
        await ws.close(code=1013)
        return
    socket = Socket(ws.send_text)
    try:
        while True:
            text = (await ws.receive_text()).strip()
            command, _, token = text.partition(" ")
            if command != "bind-with-token" or not token.strip():
                await ws.send_text(_outcome("subscription_ws_command"))
                continue
            key = token.strip()
            handshake = await api.db.run(lambda s, key=key: _bind(s, worker, key))
            if handshake is None:
                await ws.send_text(_outcome("subscription_ws_bad_token"))
                continue
            sub, text_out = handshake
            await ws.send_text(text_out)
            socket.last_sent = state.now_ms()
            worker.bind(socket, sub)
    except WebSocketDisconnect:
        pass
    finally:
        worker.unbind(socket)


def _bind(s: Session, worker: SubscriptionWorker, token: str) -> tuple[str, str] | None:
    sub = state.token_sub(s, token, state.now_ms())
    if sub is None:
        return None
    st = state.get(s, sub)
    current = Store(s, worker.api.params, worker.api.tz).read("Subscription", sub)
    if st is None or current is None or current.deleted:
        return None
    try:
        spec = rules.parse(current.resource())
    except FhirError:
        return None
    bundle = notify.bundle(spec, st.base, spec.status, "handshake", st.events)
    return sub, orjson.dumps(bundle).decode()


def _outcome(key: str) -> str:
    data: Any = outcome([Issue("invalid", key)], "en")
    return orjson.dumps(data).decode()
