"""``POST [base]/Patient/[id]/$ingest`` — device data for one patient, in its source format.

Formats (``format`` parameter, else guessed from the content): ``openmhealth`` (one Open mHealth
data point or a JSON array of them), ``withings`` (a getmeas-style JSON answer),
``apple-health`` (an Apple Health ``export.zip`` or ``export.xml``, streamed) — converted by
:mod:`hygie.monitoring.ingest`, written by :mod:`hygie.monitoring.ingest_service`. FHIR
Observations go through the ordinary FHIR API (create, batch, transaction).

JSON bodies are held to ``HYGIE_MAX_BODY_BYTES``; an Apple Health export is streamed to a
temporary file (up to ``HYGIE_INGEST_MAX_BYTES``), read once to check it (malformed XML, an
entity declaration or an oversized file refuses it whole, before anything is written), then
written in chunks of :data:`CHUNK` samples, one transaction each — re-sending the same file
writes nothing twice, so an interrupted upload is simply sent again.

Answer: 200 with an OperationOutcome — a summary (received, new, updated, unchanged, spot
Observations, Devices, refused, skipped) and one warning per refused record (the first 100);
422 when every record was refused. Access: the caller sees the patient (404) and may create
Observations and Devices (403): the patient themselves, a professional caring for them, a
system client.
"""

from __future__ import annotations

import os
import tempfile
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

import anyio
import orjson
from starlette.responses import Response

from hygie.api.http import OperationCall, OperationHandler
from hygie.api.turns import Turns
from hygie.errors import FHIR_JSON
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError, outcome
from hygie.monitoring.ingest.apple_health import AppleHealthStream
from hygie.monitoring.ingest.openmhealth import read_openmhealth
from hygie.monitoring.ingest.samples import Conversion, RecordError, Sample
from hygie.monitoring.ingest.series import read_series
from hygie.monitoring.ingest.withings import read_withings
from hygie.monitoring.ingest_service import IngestReport, check_writer, store_conversion

CHUNK = 5_000
FORMATS = ("openmhealth", "withings", "apple-health", "series")
register(
    {
        "ingest_summary": {
            "fr": "Reçus : {received} ; nouveaux : {inserted} ; mis à jour : {updated} ; inchangés : "
            "{unchanged} ; Observations : {observations} ; appareils : {devices} ; refusés : "
            "{refused} ; ignorés : {skipped}.",
            "en": "Received: {received}; new: {inserted}; updated: {updated}; unchanged: {unchanged}; "
            "Observations: {observations}; devices: {devices}; refused: {refused}; skipped: {skipped}.",
        },
        "ingest_format": {
            "fr": "$ingest : format « {format} » inconnu ou impossible à reconnaître (formats : {known}).",
            "en": "$ingest: format '{format}' unknown or not recognised (formats: {known}).",
        },
        "ingest_upload_too_large": {
            "fr": "$ingest : fichier trop volumineux (plus de {limit} octets).",
            "en": "$ingest: file too large (more than {limit} bytes).",
        },
        "ingest_bad_gzip": {
            "fr": "$ingest : corps gzip illisible ({detail}).",
            "en": "$ingest: unreadable gzip body ({detail}).",
        },
        "ingest_nothing": {
            "fr": "$ingest : aucun enregistrement valable.",
            "en": "$ingest: no valid record.",
        },
    }
)


def guess(fmt: str | None, content_type: str, head: bytes) -> str:
    """The format asked for, or the one the content shows."""
    if fmt:
        if fmt not in FORMATS:
            raise FhirError.of(400, "invalid", "ingest_format", format=fmt[:40], known=", ".join(FORMATS))
        return fmt
    if content_type in ("application/zip", "application/xml", "text/xml") or head.startswith(
        (b"PK", b"<?xml", b"<")
    ):
        return "apple-health"
    if b'"measuregrps"' in head:
        return "withings"
    if b'"kind"' in head and (b'"values"' in head or b'"points"' in head):
        return "series"
    if head.lstrip().startswith((b"[", b"{")):
        return "openmhealth"
    raise FhirError.of(400, "invalid", "ingest_format", format="?", known=", ".join(FORMATS))


def chunks(items: Iterable[Sample | RecordError], size: int = CHUNK) -> Iterator[Conversion]:
    """Conversions of at most ``size`` items each."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        conversion = Conversion()
        for item in batch:
            conversion.add(item)
        yield conversion


def merge(total: IngestReport, part: IngestReport) -> None:
    for name in ("received", "inserted", "updated", "unchanged", "observations", "devices"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.errors.extend(part.errors)


def respond(report: IngestReport, lang: str) -> Response:
    if report.received and len(report.errors) == report.received:
        issues = [FhirError.of(422, "invalid", "ingest_nothing").issues[0], *report.outcome_issues()[1:]]
        return Response(orjson.dumps(outcome(issues, lang)), status_code=422, media_type=FHIR_JSON)
    return Response(
        orjson.dumps(outcome(report.outcome_issues(), lang)), status_code=200, media_type=FHIR_JSON
    )


async def _spool(call: OperationCall, limit: int) -> str:
    """The body in a temporary file (deleted by the caller), at most ``limit`` bytes; sent with
    ``Content-Encoding: gzip``, it is decompressed as it arrives (``limit`` applies to what it
    decompresses to), as the FHIR API reads JSON bodies."""
    handle, path = tempfile.mkstemp(prefix="hygie-ingest-")
    size = 0
    gzipped = call.request.headers.get("content-encoding", "identity").strip().lower() == "gzip"
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    try:
        with os.fdopen(handle, "wb") as out:
            async for received in call.request.stream():
                chunk = received
                if inflate is not None:
                    try:  # never more than the room left (a gzip bomb stops at the limit)
                        chunk = inflate.decompress(received, limit - size + 1)
                    except zlib.error as exc:
                        raise FhirError.of(400, "invalid", "ingest_bad_gzip", detail=str(exc)[:80]) from exc
                    if inflate.unconsumed_tail:
                        raise FhirError.of(413, "too-costly", "ingest_upload_too_large", limit=limit)
                size += len(chunk)
                if size > limit:
                    raise FhirError.of(413, "too-costly", "ingest_upload_too_large", limit=limit)
                out.write(chunk)
            if inflate is not None and not inflate.eof:
                raise FhirError.of(400, "invalid", "ingest_bad_gzip", detail="truncated")
    except BaseException:
        os.unlink(path)
        raise
    return path


Touch = Callable[[str], None]


def ingest_operation(touch: Touch | None = None) -> OperationHandler:
    """The ``$ingest`` handler; ``touch(patient)`` is told of every patient that got data (the
    monitoring checks them at once, :meth:`hygie.monitoring.service.Monitor.touch`)."""

    # Uploads are converted and written one admission per event-loop turn (hygie/api/turns.py):
    # a stream of uploads would otherwise keep the alert check and the notification they trigger
    # waiting (docs/monitoring.md, "Alert latency under load"). SQLite runs inline on the loop:
    # one upload at a time; PostgreSQL work runs in threads: two overlap (four kept the alert
    # check waiting behind uploads: p99 1.0 s instead of 0.7 s, docs/benchmarks.md).
    gates: dict[str, Turns] = {}

    async def handler(call: OperationCall) -> Response:
        dialect = call.api.db.dialect
        gate = gates.get(dialect) or gates.setdefault(dialect, Turns(1 if dialect == "sqlite" else 2))
        response = await _ingest(call, gate)
        if touch is not None and response.status_code == 200:
            touch(call.req.id or "")
        return response

    return handler


async def _ingest(call: OperationCall, gate: Turns) -> Response:
    if call.req.method != "POST":
        raise FhirError.of(405, "not-supported", "method_not_allowed", method=call.req.method[:16])
    patient = call.req.id or ""
    ctype = (call.request.headers.get("content-type") or "").split(";")[0].strip().lower()
    fmt = call.req.param("format")
    if fmt == "apple-health" or (fmt is None and ctype in ("application/zip", "application/xml", "text/xml")):
        return await _apple(call, patient, gate)
    raw = await call.read_body()
    kind = guess(fmt, ctype, raw[:4096])
    if kind == "apple-health":
        raise FhirError.of(400, "invalid", "ingest_format", format="apple-health (send it as application/zip "
                           "or application/xml)", known=", ".join(FORMATS))  # fmt: skip
    async with gate:
        if kind == "series":
            conversion = read_series(raw)
        else:
            conversion = read_withings(raw) if kind == "withings" else read_openmhealth(raw)
        now_ms = int(time.time() * 1000)

        def work(session: Any) -> IngestReport:
            env = call.env(session)
            env.touched.append(check_writer(env, patient))
            return store_conversion(env, patient, conversion, now_ms)

        report = await retried(call, work)
    return respond(report, call.lang)


async def retried(call: OperationCall, work: Callable[[Any], IngestReport]) -> IngestReport:
    """Run ``work``; once more after a 409 (two uploads for one patient creating the same Device
    or sample at the same moment: the second sees the first's rows and changes nothing)."""
    try:
        result: IngestReport = await call.api.db.run(work)
    except FhirError as err:
        if err.status != 409:
            raise
        result = await call.api.db.run(work)
    return result


async def _apple(call: OperationCall, patient: str, gate: Turns) -> Response:
    def access(session: Any) -> None:
        env = call.env(session)
        env.touched.append(check_writer(env, patient))

    await call.api.db.run(access, write=False)  # before reading a large body
    path = await _spool(call, call.api.settings.ingest_max_bytes)
    try:
        check = AppleHealthStream(path)
        await anyio.to_thread.run_sync(lambda: deque(check, maxlen=0))  # malformed: refused here, whole
        total = IngestReport(skipped=dict(check.skipped))
        parts = chunks(iter(AppleHealthStream(path)))
        now_ms = int(time.time() * 1000)
        while (part := await anyio.to_thread.run_sync(lambda: next(parts, None))) is not None:

            def work(session: Any, part: Conversion = part) -> IngestReport:
                env = call.env(session)
                check_writer(env, patient)
                return store_conversion(env, patient, part, now_ms)

            async with gate:
                merge(total, await retried(call, work))
        return respond(total, call.lang)
    finally:
        os.unlink(path)
