"""HTTP side of Bulk Data: ``$export`` kick-off, status polling, file download, job deletion.

Bulk Data Access IG 2.0 — https://hl7.org/fhir/uv/bulkdata/STU2/export.html:

- kick-off ``GET|POST [base]/$export``, ``[base]/Patient/$export``, ``[base]/Group/[id]/$export``
  with ``Prefer: respond-async`` (400 without) → ``202 Accepted``, ``Content-Location`` = the
  status URL ``[base]/$bulk-status?_jobId=…``;
- status ``GET`` → ``202`` with ``X-Progress`` and ``Retry-After`` while the job runs, ``200``
  with the JSON manifest when done, the job's 4xx/5xx OperationOutcome when it failed;
  ``DELETE`` → ``202``, the job and its files are gone (then 404);
- files ``GET [base]/$bulk-file?_jobId=…&file=…`` → the NDJSON (``application/fhir+ndjson``),
  streamed from disk; ``requiresAccessToken`` is true: the same bearer token is needed.

Jobs, their status and files belong to the principal who started them: anybody else gets 404,
as for an absent job. The kick-off checks everything it can at once (parameters, ``_typeFilter``
criteria compiled by the search code, the Group visible to the caller), so a queued job fails
only on a server fault.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import FileResponse, Response

from hygie.api.http import JSON_TYPES, OperationCall, http_date, parse_json
from hygie.api.search import compile_where
from hygie.errors import FHIR_JSON
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError, Issue, outcome
from hygie.transfer import bulk_jobs as jobs
from hygie.transfer.bulk_export import NDJSON
from hygie.transfer.bulk_request import ExportRequest, Level, body_params, is_lenient, parse, prefers_async

STATUS_OP = "$bulk-status"
FILE_OP = "$bulk-file"
RETRY_AFTER_S = 1

register(
    {
        "bulk_job_not_found": {
            "fr": "Tâche Bulk Data {id} introuvable (inconnue, supprimée, expirée ou d'un autre "
            "utilisateur).",
            "en": "Bulk Data job {id} not found (unknown, deleted, expired or somebody else's).",
        },
        "bulk_file_not_found": {
            "fr": "Fichier {file} introuvable dans la tâche Bulk Data {id}.",
            "en": "File {file} not found in Bulk Data job {id}.",
        },
        "bulk_accepted": {
            "fr": "Tâche Bulk Data {id} acceptée : suivez son état à l'adresse Content-Location.",
            "en": "Bulk Data job {id} accepted: follow its status at the Content-Location URL.",
        },
        "bulk_deleted": {
            "fr": "Tâche Bulk Data {id} supprimée avec ses fichiers.",
            "en": "Bulk Data job {id} deleted with its files.",
        },
    }
)


def status_url(base: str, job_id: str) -> str:
    return f"{base}/{STATUS_OP}?_jobId={job_id}"


def kickoff_url(call: OperationCall) -> str:
    """The kick-off URL as the client sent it, under the server's base (the manifest's ``request``)."""
    path = call.request.path_params.get("path", "")
    query = call.request.url.query
    return f"{call.base}/{path}" + (f"?{query}" if query else "")


def level_of(call: OperationCall) -> Level:
    req = call.req
    if req.type is None:
        return "system"
    return "group" if req.type == "Group" else "patient"


def _not_allowed(method: str) -> FhirError:
    return FhirError.of(405, "not-supported", "method_not_allowed", method=method[:16])


async def kickoff_params(call: OperationCall) -> list[tuple[str, str]]:
    """Query parameters, plus the parts of a POSTed ``Parameters`` body."""
    params = list(call.req.query)
    if call.req.method == "POST":
        raw = await call.read_body()
        ctype = (call.request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if raw.strip():
            if ctype not in JSON_TYPES:
                raise FhirError.of(415, "not-supported", "unsupported_media_type", type=ctype[:80] or "-")
            params.extend(body_params(parse_json(raw, call.api.settings.max_json_depth)))
    return params


async def export_kickoff(call: OperationCall) -> Response:
    """``$export`` at any level: checks the request and queues the job (202)."""
    if call.req.method not in ("GET", "POST"):
        raise _not_allowed(call.req.method)
    prefer = call.request.headers.get("prefer")
    if not prefers_async(prefer):
        raise FhirError.of(400, "invalid", "bulk_async_required")
    params = await kickoff_params(call)
    policy = call.policy
    export = ExportRequest(
        level=level_of(call),
        base=call.base,
        url=kickoff_url(call),
        group=call.req.id,
        lenient=is_lenient(prefer),
        lang=call.lang,
    )
    parse(
        export,
        params,
        timezone=call.api.settings.timezone,
        allowed=(lambda t: policy.allows(t, "s")) if policy is not None else None,
    )

    def work(s: Any) -> str:
        env = call.env(s)
        if export.level == "group":
            assert export.group is not None
            group = env.store.read("Group", export.group)
            if group is None or group.deleted:  # hidden or absent alike
                raise FhirError.of(404, "not-found", "not_found", type="Group", id=export.group)
        for rtype, filters in export.filters.items():
            for criteria in filters:  # 400 now rather than a failed job later
                where = compile_where(env, rtype, list(criteria), lenient=export.lenient)
                export.warnings.extend(i.to_json(export.lang) for i in where.ignored)
        return jobs.create(s, "export", call.principal, export.to_json())

    job_id = await call.api.db.run(work, write=True)
    issues = [Issue("informational", "bulk_accepted", {"id": job_id}, severity="information")]
    body = outcome(issues, call.lang)
    body["issue"].extend(export.warnings)
    return Response(
        orjson.dumps(body),
        status_code=202,
        media_type=FHIR_JSON,
        headers={"Content-Location": status_url(call.base, job_id)},
    )


def _job_id(call: OperationCall) -> str:
    job_id = call.req.param("_jobId") or ""
    if not (0 < len(job_id) <= 64 and job_id.isascii() and job_id.isalnum()):
        raise FhirError.of(404, "not-found", "bulk_job_not_found", id=job_id[:64])
    return job_id


async def _owned(call: OperationCall, job_id: str) -> jobs.Job:
    owner = jobs.owner_of(call.principal)
    job = await call.api.db.run(lambda s: jobs.get(s, job_id, owner), write=False)
    if job is None:
        raise FhirError.of(404, "not-found", "bulk_job_not_found", id=job_id)
    return job


async def status(call: OperationCall) -> Response:
    """``GET`` (poll) or ``DELETE`` (cancel and remove) the status URL of a job."""
    job_id = _job_id(call)
    job = await _owned(call, job_id)
    if call.req.method == "DELETE":
        await call.api.db.run(lambda s: jobs.delete(s, job_id), write=True)
        jobs.remove_files(call.api.settings.bulk_dir, job_id)
        info = Issue("informational", "bulk_deleted", {"id": job_id}, severity="information")
        return Response(orjson.dumps(outcome([info], call.lang)), status_code=202, media_type=FHIR_JSON)
    if call.req.method not in ("GET", "HEAD"):
        raise _not_allowed(call.req.method)
    if job.status in ("queued", "running"):
        progress = job.progress or job.status
        headers = {"X-Progress": progress[:200], "Retry-After": str(RETRY_AFTER_S)}
        return Response(None, status_code=202, headers=headers)
    if job.status == "failed":
        error = job.error or {}
        code = int(error.get("status", 500))
        return Response(
            orjson.dumps(error.get("outcome") or outcome([])), status_code=code, media_type=FHIR_JSON
        )
    manifest = job.manifest or {}
    expires = (job.finished or 0) + int(call.api.settings.bulk_retention_hours * 3_600_000)
    headers = {"Expires": http_date(expires // 1000)}  # when the worker deletes the files
    return Response(orjson.dumps(manifest), status_code=200, media_type="application/json", headers=headers)


def _listed(manifest: dict[str, Any], name: str) -> bool:
    urls = [o.get("url", "") for key in ("output", "error") for o in manifest.get(key) or []]
    return any(u.endswith(f"&file={name}") for u in urls)


async def download(call: OperationCall) -> Response:
    """``GET`` one file of a finished job (only a file its manifest lists)."""
    if call.req.method not in ("GET", "HEAD"):
        raise _not_allowed(call.req.method)
    job_id = _job_id(call)
    job = await _owned(call, job_id)
    name = call.req.param("file") or ""
    path = jobs.files_dir(call.api.settings.bulk_dir, job) / name
    if (
        job.status != "done"
        or not name
        or "/" in name
        or not _listed(job.manifest or {}, name)
        or not path.is_file()
    ):
        raise FhirError.of(404, "not-found", "bulk_file_not_found", id=job_id, file=name[:64])
    return FileResponse(path, media_type=NDJSON, filename=None)
