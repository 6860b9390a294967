"""``GET [base]/Patient/[id]/$export-record`` and ``GET [base]/Organization/[id]/$export-record``.

Hygie operations (not in the FHIR specification; the shape of an instance-level operation,
https://hl7.org/fhir/R4/operations.html): the answer is the ``hygie-record`` ZIP of the patient's
record, or of every patient of the organisation (:mod:`hygie.transfer.record`), as an
``application/zip`` download. Parameter ``_language`` = ``fr`` | ``en`` (default: the request's
language, from ``Accept-Language``) chooses the language of the summary.

Access: the patient export follows the caller's access policy (a patient their own record, a
professional a patient they care for): a patient the caller may not read is a 404, exactly like
an absent one. The practice export is for system clients only (``system/`` scopes, e.g. an
operator token): 403 for anybody else. Each exported patient's access is audited (one REST
"operation" AuditEvent per patient, as for any interaction) and the export itself is recorded as a
BALP/DICOM Export event (110106) naming the patients.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response

from hygie.api.audit_trail import request_id
from hygie.api.http import OperationCall
from hygie.auth import balp
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.transfer.record import Export, export_patient, export_practice

ALLOWED = frozenset({"_language", "_format", "_pretty"})
register(
    {
        "record_practice_system_only": {
            "fr": "L'export d'un cabinet entier est réservé aux clients système (portées system/).",
            "en": "Exporting a whole practice is reserved to system clients (system/ scopes).",
        },
        "record_param": {
            "fr": "Paramètre {name} de $export-record inconnu (pris en charge : _language).",
            "en": "Parameter {name} of $export-record is unknown (supported: _language).",
        },
    }
)


async def patient_record(call: OperationCall) -> Response:
    """The ZIP of one patient's record."""
    language = _check(call)
    pid = str(call.req.id)
    return await _run(
        call,
        f"hygie-record-{pid}.zip",
        lambda env, f, d: export_patient(env, pid, f, language=language, workdir=d),
    )


async def practice_record(call: OperationCall) -> Response:
    """The ZIP of every patient of an organisation (system clients only)."""
    language = _check(call)
    if call.principal is not None and call.principal.kind != "system":
        raise FhirError.of(403, "forbidden", "record_practice_system_only")
    org = str(call.req.id)
    return await _run(
        call,
        f"hygie-practice-{org}.zip",
        lambda env, f, d: export_practice(env, org, f, language=language, workdir=d),
    )


def _check(call: OperationCall) -> str:
    if call.req.method not in ("GET", "HEAD"):
        raise FhirError.of(405, "not-supported", "method_not_allowed", method=call.req.method[:16])
    for name, _ in call.req.query:
        if name not in ALLOWED:
            raise FhirError.of(400, "invalid", "record_param", name=name[:64])
    return call.req.param("_language") or call.lang


async def _run(call: OperationCall, filename: str, export: Any) -> Response:
    folder = Path(tempfile.mkdtemp(prefix="hygie-record-"))
    path = folder / "record.zip"

    def work(session: Any) -> Export:
        env = call.env(session)
        with path.open("wb") as target:
            result: Export = export(env, target, folder)
            return result

    try:
        result = await call.api.db.run(work, write=False)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _audit_export(call, result)
    return FileResponse(
        path,
        media_type="application/zip",
        filename=filename,
        content_disposition_type="attachment",
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


def _audit_export(call: OperationCall, result: Export) -> None:
    trail = call.api.trail
    if trail is None:
        return
    principal = call.principal
    request = call.request
    trail.record(
        balp.AccessRecord(
            action="export",
            time_ms=int(time.time() * 1000),
            agent_ref=principal.fhir_user if principal else None,
            agent_login=principal.subject if principal else None,
            client_id=principal.client_id if principal else None,
            client_ip=request.client.host if request.client else None,
            patients=result.patients,
            query=f"{request.url.path}?{request.url.query}" if request.url.query else request.url.path,
            reason="$export-record",
            request_id=request_id(request.headers.get("x-request-id")),
        )
    )
