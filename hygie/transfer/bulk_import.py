"""Bulk Data ``$import`` (system clients): NDJSON loaded asynchronously, one transaction per file.

Follows the Bulk Data Import draft (https://github.com/smart-on-fhir/bulk-import/blob/master/import.md)
and the asynchronous pattern of the Bulk Data Access IG 2.0
(https://hl7.org/fhir/uv/bulkdata/STU2/export.html): ``POST [base]/$import`` with
``Prefer: respond-async`` → ``202`` and a status URL polled like an export's.

- body ``application/fhir+ndjson`` (or ``application/ndjson``): the resources themselves, stored
  in the job's directory then loaded by the worker;
- body ``Parameters`` (``inputFormat`` = ``application/fhir+ndjson``, ``input`` parts with
  ``type`` and ``url``): the worker downloads each url — only under a prefix listed in
  ``HYGIE_BULK_IMPORT_URL_PREFIXES`` (default none): a server that fetches any URL a client
  names can be made to reach internal services (server-side request forgery), so the operator
  names the file servers it trusts; redirects are not followed.

Loading (docs/import.md, :mod:`hygie.transfer.loading`): a line with an ``id`` is restored with
it (``Store.restore(..., on_conflict="version")``), one without is created; every resource is
validated like a create and written under the caller's access policy. A file is one database
transaction: its first bad line rolls the whole file back and is reported (line number) in the
job's error file; the other files go on. Only ``system`` principals may import (others: 403).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import httpx
import orjson
from starlette.responses import Response

from hygie.api.http import JSON_TYPES, OperationCall, parse_json
from hygie.auth import audit, balp
from hygie.errors import FHIR_JSON
from hygie.fhir.messages import register, render
from hygie.fhir.outcome import FhirError, Issue, outcome
from hygie.storage.store import instant
from hygie.transfer import bulk_jobs as jobs
from hygie.transfer.bulk_http import FILE_OP, kickoff_url, status_url
from hygie.transfer.bulk_request import body_params, prefers_async
from hygie.transfer.loading import Counts, load_resources
from hygie.transfer.readers import LineError, read_ndjson

if TYPE_CHECKING:
    from hygie.transfer.bulk_worker import BulkWorker

NDJSON_TYPES = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
MAX_INPUTS = 1000

register(
    {
        "bulk_import_system_only": {
            "fr": "$import est réservé aux clients système (scopes system/…).",
            "en": "$import is for system clients only (system/… scopes).",
        },
        "bulk_import_url_refused": {
            "fr": "URL d'entrée refusée : {url} (seules les adresses sous HYGIE_BULK_IMPORT_URL_PREFIXES "
            "sont lues par le serveur).",
            "en": "Input URL refused: {url} (the server only reads URLs under "
            "HYGIE_BULK_IMPORT_URL_PREFIXES).",
        },
        "bulk_import_body": {
            "fr": "Corps de $import attendu : NDJSON (application/fhir+ndjson) ou Parameters "
            "(inputFormat, input[type, url]).",
            "en": "Expected $import body: NDJSON (application/fhir+ndjson) or Parameters "
            "(inputFormat, input[type, url]).",
        },
        "bulk_import_file_failed": {
            "fr": "Fichier {file} refusé en entier, rien n'en a été chargé : {where} {line} : {detail}",
            "en": "File {file} refused whole, nothing of it was loaded: {where} {line}: {detail}",
        },
        "bulk_import_file_loaded": {
            "fr": "Fichier {file} chargé : {count} ressources.",
            "en": "File {file} loaded: {count} resources.",
        },
        "bulk_import_fetch_failed": {
            "fr": "Lecture de {url} impossible : {detail}",
            "en": "Could not read {url}: {detail}",
        },
    }
)


def _prefixes(call: OperationCall) -> list[str]:
    raw = call.api.settings.bulk_import_url_prefixes
    return [p.strip() for p in raw.split(",") if p.strip()]


def _inputs(call: OperationCall, body: Any) -> list[dict[str, str]]:
    """The ``input`` parts of a Parameters body ({type, url}), each url under an allowed prefix."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise FhirError.of(400, "invalid", "bulk_import_body")
    parameters = body.get("parameter") or []
    if not isinstance(parameters, list):
        raise FhirError.of(400, "structure", "bulk_import_body")
    fmt = dict(
        body_params({**body, "parameter": [p for p in parameters if isinstance(p, dict) and "part" not in p]})
    )
    if fmt.get("inputFormat", "application/fhir+ndjson") not in NDJSON_TYPES:
        raise FhirError.of(400, "invalid", "bad_param", name="inputFormat", value=fmt["inputFormat"][:64])
    inputs: list[dict[str, str]] = []
    allowed = _prefixes(call)
    for part in parameters:
        if not isinstance(part, dict) or part.get("name") != "input":
            continue
        subparts = part.get("part") or []
        if not isinstance(subparts, list):
            raise FhirError.of(400, "structure", "bulk_import_body")
        values = {p.get("name"): _value(p) for p in subparts if isinstance(p, dict)}
        url = values.get("url")
        if not isinstance(url, str) or not url:
            raise FhirError.of(400, "invalid", "bulk_import_body")
        if not _plain_path(url) or not any(url.startswith(prefix) for prefix in allowed):
            raise FhirError.of(400, "security", "bulk_import_url_refused", url=url[:200])
        inputs.append({"type": str(values.get("type") or ""), "url": url})
    if not inputs or len(inputs) > MAX_INPUTS:
        raise FhirError.of(400, "invalid", "bulk_import_body")
    return inputs


async def import_kickoff(call: OperationCall) -> Response:
    """``POST [base]/$import``: store the input (or its URLs) and queue the job (202)."""
    if call.req.method != "POST":
        raise FhirError.of(405, "not-supported", "method_not_allowed", method=call.req.method[:16])
    if call.principal is not None and call.principal.kind != "system":
        raise FhirError.of(403, "forbidden", "bulk_import_system_only")
    if not prefers_async(call.request.headers.get("prefer")):
        raise FhirError.of(400, "invalid", "bulk_async_required")
    ctype = (call.request.headers.get("content-type") or "").split(";")[0].strip().lower()
    raw = await call.read_body()
    job_id = jobs.new_job_id()
    request: dict[str, Any] = {"url": kickoff_url(call), "base": call.base, "lang": call.lang}
    if ctype in NDJSON_TYPES:
        folder = jobs.job_dir(call.api.settings.bulk_dir, job_id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "input-1.ndjson").write_bytes(raw)
        request["inputs"] = [{"type": "", "url": "", "file": "input-1.ndjson"}]
    elif ctype in JSON_TYPES:
        inputs = _inputs(call, parse_json(raw, call.api.settings.max_json_depth))
        request["inputs"] = [{**i, "file": f"input-{n}.ndjson"} for n, i in enumerate(inputs, 1)]
    else:
        raise FhirError.of(415, "not-supported", "unsupported_media_type", type=ctype[:80] or "-")
    await call.api.db.run(
        lambda s: jobs.create(s, "import", call.principal, request, job_id=job_id), write=True
    )
    info = Issue("informational", "bulk_accepted", {"id": job_id}, severity="information")
    return Response(
        orjson.dumps(outcome([info], call.lang)),
        status_code=202,
        media_type=FHIR_JSON,
        headers={"Content-Location": status_url(call.base, job_id)},
    )


def _plain_path(url: str) -> bool:
    """Whether ``url``'s path names what it spells: no ``.``/``..`` segment, no encoded ``/`` or
    ``\\``, no backslash, once or twice percent-decoded. A prefix check on the raw text is then
    sound: ``{prefix}../secret`` or ``{prefix}%2e%2e/secret`` would be resolved outside the prefix
    by the client or by the file server."""
    path = urlsplit(url).path
    for text in (path, unquote(path), unquote(unquote(path))):
        lowered = text.lower()
        if "\\" in text or "%2f" in lowered or "%5c" in lowered:
            return False
        if any(segment in (".", "..") for segment in text.split("/")):
            return False
    return True


def _fetch(url: str, target: Path, limit: int) -> None:
    """Download ``url`` to ``target`` (no redirects, at most ``limit`` bytes). The bytes go to a
    side file renamed into place once complete: a failed download leaves nothing that a retry
    of the job would take for the input."""
    partial = target.with_name(target.name + ".part")
    try:
        _download(url, partial, limit)
    except httpx.HTTPError as exc:  # unreachable, refused, timed out, cut: this input's error
        partial.unlink(missing_ok=True)
        raise FhirError.of(
            400, "exception", "bulk_import_fetch_failed", url=url[:200], detail=type(exc).__name__
        ) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)


def _download(url: str, path: Path, limit: int) -> None:
    size = 0
    with httpx.stream("GET", url, follow_redirects=False, timeout=60) as answer, path.open("wb") as fh:
        if answer.status_code != 200:
            raise FhirError.of(
                400, "exception", "bulk_import_fetch_failed", url=url[:200], detail=str(answer.status_code)
            )
        for chunk in answer.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise FhirError.of(413, "too-costly", "body_too_large", limit=limit)
            fh.write(chunk)


def _value(part: dict[str, Any]) -> Any:
    return next((v for k, v in part.items() if k.startswith("value")), None)


def _failed(lang: str, name: str, where: str, line: object, detail: str) -> bytes:
    params = {"file": name, "where": where, "line": line, "detail": detail}
    return _outcome_line("bulk_import_file_failed", lang, "error", "processing", **params)


def _outcome_line(key: str, lang: str, severity: str, code: str, **params: Any) -> bytes:
    issue = Issue(code, key, params, severity=severity)  # type: ignore[arg-type]
    return orjson.dumps({"resourceType": "OperationOutcome", "issue": [issue.to_json(lang)]})


def run_import(worker: BulkWorker, job: jobs.Job) -> None:
    """Load every input file of an import job, one transaction each (runs in a worker thread)."""
    from hygie.transfer.bulk_worker import StopJobError, job_env

    req = job.request
    lang, base = str(req.get("lang", "fr")), str(req["base"])
    stored = jobs.job_dir(worker.root, job.id)  # what the kick-off stored
    folder = jobs.run_dir(worker.root, job.id, worker.runner)  # what this run fetches and writes
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    tx_ms = jobs.now_ms()
    outcomes: list[bytes] = []
    errors: list[bytes] = []
    loaded: Counts = Counts()
    server = balp.Server(base_url=worker.settings.base_url)
    for number, item in enumerate(req["inputs"], 1):
        name = item.get("url") or item["file"]
        path = (folder if item.get("url") else stored) / item["file"]

        def work(s: Any, path: Path = path, name: str = name) -> Counts:
            env = job_env(worker.api, s, job.principal, base, lang)
            counts = load_resources(env, read_ndjson(path), "version")
            record = _record(job, counts, name)
            audit.append_access(s, record, now=record.time_ms, key=worker.api.keys.audit, server=server)
            return counts

        try:
            if item.get("url") and not path.exists():
                _fetch(item["url"], path, worker.settings.max_body_bytes * 64)
            counts = worker.step(job.id, work, f"file {number}/{len(req['inputs'])}")
        except LineError as err:
            detail = "; ".join(render(i.key, lang, i.params) for i in err.error.issues)[:500]
            errors.append(_failed(lang, name, err.where, err.line, detail))
            continue
        except FhirError as err:
            detail = "; ".join(render(i.key, lang, i.params) for i in err.issues)[:500]
            errors.append(_failed(lang, name, "file", "", detail))
            continue
        loaded_file = {"file": name, "count": counts.total}
        outcomes.append(
            _outcome_line("bulk_import_file_loaded", lang, "information", "informational", **loaded_file)
        )
        loaded.written.update(counts.written)
        loaded.unchanged.update(counts.unchanged)
    done = _manifest(job, base, tx_ms, outcomes, errors, loaded, folder)
    if not worker.db.run_sync(lambda s: jobs.finish(s, job.id, done, worker.runner)):
        raise StopJobError()
    jobs.drop_other_runs(worker.root, job.id, worker.runner)


def _record(job: jobs.Job, counts: Counts, name: str) -> balp.AccessRecord:
    principal = job.principal
    return balp.AccessRecord(
        action="rest",
        interaction="transaction",
        time_ms=int(time.time() * 1000),
        agent_ref=principal.fhir_user if principal else None,
        agent_login=principal.subject if principal else None,
        client_id=principal.client_id if principal else None,
        patients=tuple(sorted(counts.patients)),
        reason=f"$import {name[:200]}: {counts.total} resources",
        request_id=job.id,
    )


def _manifest(
    job: jobs.Job,
    base: str,
    tx_ms: int,
    outcomes: list[bytes],
    errors: list[bytes],
    loaded: Counts,
    folder: Path,
) -> dict[str, Any]:
    def url(name: str) -> str:
        return f"{base}/{FILE_OP}?_jobId={job.id}&file={name}"

    manifest: dict[str, Any] = {
        "transactionTime": instant(tx_ms),
        "request": job.request["url"],
        "requiresAccessToken": True,
        "output": [],
        "error": [],
        "extension": {
            "https://hygie.health/fhir/bulk-import/written": dict(sorted(loaded.written.items())),
            "https://hygie.health/fhir/bulk-import/unchanged": dict(sorted(loaded.unchanged.items())),
        },
    }
    if outcomes:
        (folder / "outcomes.ndjson").write_bytes(b"\n".join(outcomes) + b"\n")
        manifest["output"].append(
            {"type": "OperationOutcome", "url": url("outcomes.ndjson"), "count": len(outcomes)}
        )
    if errors:
        (folder / "errors.ndjson").write_bytes(b"\n".join(errors) + b"\n")
        manifest["error"].append(
            {"type": "OperationOutcome", "url": url("errors.ndjson"), "count": len(errors)}
        )
    return manifest
