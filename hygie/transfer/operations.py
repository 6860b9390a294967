"""The FHIR operations this package serves, and the background work they need.

The composition root (:func:`hygie.app.create_app`) merges :func:`operations` into
:attr:`hygie.api.http.FhirApi.operations` and calls :func:`start` and :func:`close` around the
server's life. Keys are built by :func:`hygie.api.http.operation_key`.
"""

from __future__ import annotations

from hygie.api.http import FhirApi, OperationHandler
from hygie.transfer import bulk_http, bulk_import, bulk_worker, record_http


def operations() -> dict[str, OperationHandler]:
    """Operation key → handler."""
    handlers: dict[str, OperationHandler] = {}
    handlers["instance:Patient:$export-record"] = record_http.patient_record  # portability (H4)
    handlers["instance:Organization:$export-record"] = record_http.practice_record
    # Bulk Data Access IG 2.0 (H3): hygie/transfer/bulk_http.py, docs/bulk-data.md
    for key in ("system:$export", "type:Patient:$export", "instance:Group:$export"):
        handlers[key] = bulk_http.export_kickoff
    handlers[f"system:{bulk_http.STATUS_OP}"] = bulk_http.status
    handlers[f"system:{bulk_http.FILE_OP}"] = bulk_http.download
    handlers["system:$import"] = bulk_import.import_kickoff
    return handlers


async def start(api: FhirApi) -> None:
    """Start background work (e.g. Bulk Data jobs) once the API is up."""
    await bulk_worker.start(api)  # Bulk Data jobs (H3)


async def close(api: FhirApi) -> None:
    """Stop background work before the database closes."""
    await bulk_worker.close(api)  # Bulk Data jobs (H3)
