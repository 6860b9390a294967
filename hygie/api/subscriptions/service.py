"""What the composition root plugs in (docs/subscriptions.md): the Subscription operations, the
worker's start and stop, and the websocket route. Keys as built by
:func:`hygie.api.http.operation_key`."""

from __future__ import annotations

from starlette.routing import WebSocketRoute

from hygie.api.http import FhirApi, OperationHandler
from hygie.api.subscriptions import ops, websocket, worker

WEBSOCKET_PATH = "/fhir-ws"


def operations() -> dict[str, OperationHandler]:
    return {
        "instance:Subscription:$status": ops.status,
        "type:Subscription:$status": ops.status,
        "instance:Subscription:$get-ws-binding-token": ops.ws_binding_token,
        "type:Subscription:$topics": ops.list_topics,
    }


def route() -> WebSocketRoute:
    """The websocket channel's endpoint (``/fhir-ws``)."""
    return WebSocketRoute(WEBSOCKET_PATH, websocket.endpoint)


async def start(api: FhirApi) -> None:
    await worker.start(api)


async def close(api: FhirApi) -> None:
    await worker.close(api)
