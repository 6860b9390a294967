"""Patient portability: one patient's whole record, or a whole practice, as a ``hygie-record`` ZIP.

French policy requires a practice changing software to get its "pivot" data back, free, in open
formats; a patient may download their record. :func:`export_patient` and :func:`export_practice`
write the ZIP described in :mod:`hygie.transfer.record_zip` (FHIR R4 NDJSON of current versions
with their ids, ``meta.versionId`` and ``meta.lastUpdated``; decoded documents; an HTML and PDF
summary in French or English; a manifest with SHA-256 digests). Importing it into another Hygie
(:mod:`hygie.transfer.importer`, ``Store.restore``) reproduces the record exactly.

Both run synchronously inside one read transaction of the caller's :class:`~hygie.api.context.Env`
(one consistent snapshot), with the caller's access policy: what the caller may not read is not
exported (:mod:`hygie.transfer.record_collect`). Resources go through a disk staging area
(:mod:`hygie.transfer.record_staging`) and the ZIP is streamed to ``target``, so memory stays
bounded for a large practice. The exported patients' Patient versions are added to
``env.touched``, so the HTTP layer's audit trail records one access per patient.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from hygie.api.context import Env
from hygie.fhir.outcome import FhirError
from hygie.storage.store import Version, instant
from hygie.transfer.record_collect import (
    Collector,
    organization_versions,
    patient_version,
    practice_patients,
)
from hygie.transfer.record_documents import documents
from hygie.transfer.record_html import render_html
from hygie.transfer.record_staging import Staging
from hygie.transfer.record_summary import DocumentInfo, Summary, patient_summary, practice_summary
from hygie.transfer.record_zip import RecordZip

LANGUAGES = ("fr", "en")
CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Export:
    """What an export wrote: the manifest, the patients it covers, the number of resources."""

    manifest: dict[str, Any]
    patients: tuple[str, ...]
    resources: int


def export_patient(env: Env, pid: str, target: IO[bytes], *, language: str, workdir: Path) -> Export:
    """Write the record of patient ``pid`` (404 when the caller may not read it) to ``target``."""
    language = _language(language)
    current = patient_version(env, pid)
    staging = Staging(workdir)
    try:
        collector = Collector(env, staging, {pid})
        collector.add_patient(pid)
        collector.resolve()
        env.touched.append(_audited(current))
        created = datetime.now(UTC)
        return _write(
            staging,
            target,
            env.base,
            created,
            {"patient": pid},
            language,
            (pid,),
            lambda docs: patient_summary(staging, pid, docs, language, _instant(created)),
        )
    finally:
        staging.close()


def export_practice(env: Env, org: str, target: IO[bytes], *, language: str, workdir: Path) -> Export:
    """Write the records of every patient of organisation ``org``, with the organisation and its
    PractitionerRoles, Locations and HealthcareServices (and what they refer to)."""
    language = _language(language)
    organization = env.store.read("Organization", org)
    if organization is None or organization.deleted or organization.body is None:
        raise FhirError.of(404, "not-found", "not_found", type="Organization", id=org[:64])
    patients = practice_patients(env, org)
    staging = Staging(workdir)
    try:
        collector = Collector(env, staging, set(patients))
        collector.add(organization)
        for version in organization_versions(env, org):
            collector.add(version)
        for pid in patients:
            current = env.store.read("Patient", pid)
            if current is None or current.deleted:
                continue
            collector.add_patient(pid)
            env.touched.append(_audited(current))
        collector.resolve()
        name = str(organization.resource().get("name") or f"Organization/{org}")
        created = datetime.now(UTC)
        return _write(
            staging,
            target,
            env.base,
            created,
            {"organization": org, "patients": len(patients)},
            language,
            tuple(patients),
            lambda docs: practice_summary(staging, name, patients, docs, language, _instant(created)),
        )
    finally:
        staging.close()


def _write(
    staging: Staging,
    target: IO[bytes],
    base: str,
    created: datetime,
    scope: dict[str, Any],
    language: str,
    patients: tuple[str, ...],
    summarize: Any,
) -> Export:
    archive = RecordZip(target, created)
    try:
        total = 0
        for rtype in staging.types():
            count = staging.count(rtype)
            total += count
            archive.write(f"fhir/{rtype}.ndjson", _lines(staging.bodies(rtype)), resources=count)
        listed: list[DocumentInfo] = []
        for doc in documents(staging, base):
            archive.write(f"documents/{doc.name}", [doc.data])
            listed.append(DocumentInfo(doc.name, doc.title, doc.content_type, doc.date))
        summary: Summary = summarize(listed)
        archive.write("summary/summary.html", [render_html(summary)])
        # fpdf (and its PIL and fontTools) takes a quarter of a second to import: only the
        # commands and requests that write a record pay it, not every start of the CLI.
        from hygie.transfer.record_pdf import render_pdf

        archive.write("summary/summary.pdf", [render_pdf(summary)])
        manifest = archive.finish(scope, language, _instant(created))
    except BaseException:
        archive.abort()
        raise
    return Export(manifest, patients, total)


def _lines(bodies: Iterable[bytes]) -> Iterator[bytes]:
    """NDJSON lines grouped in chunks of about :data:`CHUNK` bytes."""
    buffer: list[bytes] = []
    size = 0
    for body in bodies:
        buffer.append(body)
        buffer.append(b"\n")
        size += len(body) + 1
        if size >= CHUNK:
            yield b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


def _audited(version: Version) -> Version:
    """The Patient version as the audit trail needs it (the body is not kept in memory)."""
    return Version(version.type, version.id, version.vid, version.last_updated, False, version.method, None)


def _language(language: str) -> str:
    if language not in LANGUAGES:
        raise FhirError.of(400, "invalid", "bad_param", name="_language", value=language[:16])
    return language


def _instant(moment: datetime) -> str:
    return instant(int(moment.timestamp() * 1000))
