"""The FHIR operations this package serves, and the background work they need.

The composition root (:func:`hygie.app.create_app`) merges :func:`operations` into
:attr:`hygie.api.http.FhirApi.operations` and calls :func:`start` and :func:`close` around the
server's life. Keys are built by :func:`hygie.api.http.operation_key`.
"""

from __future__ import annotations

from hygie.api.http import FhirApi, OperationHandler


def operations() -> dict[str, OperationHandler]:
    """Operation key → handler."""
    handlers: dict[str, OperationHandler] = {}
    return handlers


async def start(api: FhirApi) -> None:
    """Start background work (e.g. Bulk Data jobs) once the API is up."""
    del api


async def close(api: FhirApi) -> None:
    """Stop background work before the database closes."""
    del api
