"""``hygie export record PATIENT_ID --out FILE`` and ``hygie export practice ORGANIZATION_ID --out FILE``.

The portability ZIP of :mod:`hygie.transfer.record`, written by an operator on the server's
machine (no access restriction, like ``hygie token issue`` and ``hygie import``). The ZIP is
written next to ``FILE`` under a temporary name and renamed when complete, so a failed export
leaves no partial file. Each export is recorded in the audit trail (a DICOM Export event per
patient, :mod:`hygie.auth.balp`), so patients see it in their access history.

Importing this module adds both commands to :data:`hygie.transfer.commands_export.export_cli`
(the ``hygie export`` group) through :func:`register`.
"""

from __future__ import annotations

import getpass
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import typer

from hygie.api.checks import check_id
from hygie.api.context import Env, open_storage
from hygie.auth import audit, balp
from hygie.fhir.messages import render
from hygie.fhir.outcome import FhirError
from hygie.settings import Settings
from hygie.storage.store import Store
from hygie.transfer.cli_checks import audit_key, existing_database, fail, output_file
from hygie.transfer.commands_export import export_cli
from hygie.transfer.record import Export, export_patient, export_practice

Language = Literal["fr", "en"]
Exporter = Callable[[Env, Any, Path], Export]
OutOption = Annotated[Path, typer.Option("--out", help="The ZIP file to write.")]
LanguageOption = Annotated[
    Language | None, typer.Option("--language", help="Language of the summary (default: the server's).")
]


def record_command(
    patient: Annotated[str, typer.Argument(help="The Patient id.")],
    out: OutOption,
    language: LanguageOption = None,
) -> None:
    """Write one patient's whole record (FHIR NDJSON, documents, summary, manifest) to a ZIP."""
    settings = Settings()
    lang = language or settings.default_language
    done = _export(
        settings,
        out,
        lambda env, target, folder: export_patient(env, patient, target, language=lang, workdir=folder),
        f"hygie export record {patient}",
        ("Patient", patient),
    )
    typer.echo(f"{out}: record of Patient/{patient}, {done.resources} resources")


def practice_command(
    organization: Annotated[str, typer.Argument(help="The Organization id.")],
    out: OutOption,
    language: LanguageOption = None,
) -> None:
    """Write the records of every patient of an organisation to a ZIP (change of software)."""
    settings = Settings()
    lang = language or settings.default_language
    done = _export(
        settings,
        out,
        lambda env, target, folder: export_practice(env, organization, target, language=lang, workdir=folder),
        f"hygie export practice {organization}",
        ("Organization", organization),
    )
    count = len(done.patients)
    typer.echo(f"{out}: practice Organization/{organization}, {count} patients, {done.resources} resources")


def register(app: typer.Typer) -> None:
    """Add ``record`` and ``practice`` to ``app``."""
    app.command("record")(record_command)
    app.command("practice")(practice_command)


register(export_cli)  # ``hygie export record`` / ``hygie export practice``


def _export(settings: Settings, out: Path, export: Exporter, what: str, subject: tuple[str, str]) -> Export:
    # Everything that could fail is checked before the export runs (docs/portability.md).
    try:
        check_id(subject[1])
    except FhirError as error:
        fail(f"{subject[0]}/{subject[1][:64]}: {_message(error, settings.default_language)}", 1)
    existing_database(settings)
    out = output_file(out, settings)
    key = audit_key(settings)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        fail(f"--out {out}: {error.strerror}")
    db, catalog = open_storage(settings)
    base = settings.base_url.rstrip("/") + "/fhir" if settings.base_url else "urn:hygie"
    tz = ZoneInfo(settings.timezone)
    try:
        with tempfile.TemporaryDirectory(prefix="hygie-record-", dir=out.parent) as folder:
            partial = Path(folder) / "record.zip"

            def work(session: Any) -> Export:
                env = Env(Store(session, catalog, tz), settings, base, settings.default_language)
                with partial.open("wb") as target:
                    return export(env, target, Path(folder))

            try:
                done: Export = db.run_sync(work, write=False)
            except FhirError as error:
                typer.echo(f"error: {_message(error, settings.default_language)}", err=True)
                raise typer.Exit(1) from None
            os.replace(partial, out)
        _audit(db, settings, done, what, key)
    finally:
        db.close()
    return done


def _audit(db: Any, settings: Settings, done: Export, what: str, key: bytes) -> None:
    now = int(time.time() * 1000)
    record = balp.AccessRecord(
        action="export",
        time_ms=now,
        agent_login=_operator(),
        client_id="hygie-cli",
        patients=done.patients,
        query=what,
        reason=what,
    )
    server = balp.Server(base_url=settings.base_url)
    db.run_sync(lambda s: audit.append_access(s, record, now=now, key=key, server=server))


def _message(error: FhirError, lang: str) -> str:
    return "; ".join(render(issue.key, lang, issue.params) for issue in error.issues)


def _operator() -> str:
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):
        return "operator"
