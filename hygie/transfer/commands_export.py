"""The ``hygie export …`` commands; this module holds ``bulk`` (Bulk Data NDJSON + manifest).

``export_cli`` is the Typer group the composition root wires as ``hygie export``; the
portability commands (``record``, ``practice``) register on it from
:mod:`hygie.transfer.commands_record`. ``hygie export bulk OUT_DIR`` writes what ``$export``
would (https://hl7.org/fhir/uv/bulkdata/STU2/export.html): one ``<Type>.ndjson`` per resource
type and a ``manifest.json``, synchronously, as the operator (no access restriction: it needs
local access to the database, like ``hygie token issue``). The export is audited like an
``$export``: one BALP *Export* event per exported patient. docs/bulk-data.md.
"""

from __future__ import annotations

import getpass
import time
import zoneinfo
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from hygie.api.context import Env, open_storage
from hygie.auth import audit, balp
from hygie.fhir.messages import render
from hygie.fhir.outcome import FhirError
from hygie.settings import Settings
from hygie.storage.store import Store
from hygie.transfer.bulk_request import ExportRequest, Level, parse
from hygie.transfer.cli_checks import audit_key, existing_database, fail, output_dir

export_cli = typer.Typer(help="Export data: Bulk Data NDJSON, patient records, a whole practice.")


@export_cli.callback()
def _group() -> None:
    """Export data: Bulk Data NDJSON, patient records, a whole practice."""


def _operator() -> str:
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):
        return "operator"


def _describe(error: FhirError) -> str:
    return "; ".join(render(i.key, "en", i.params) for i in error.issues)


@export_cli.command("bulk")
def bulk(
    out_dir: Annotated[
        Path, typer.Argument(help="Directory to write the NDJSON files and manifest.json to.")
    ],
    types: Annotated[
        list[str] | None, typer.Option("--type", help="Resource types (repeatable, or comma lists).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only resources updated after this instant.")
    ] = None,
    type_filters: Annotated[
        list[str] | None,
        typer.Option(
            "--type-filter", help="Type?search criteria (repeatable), e.g. Observation?category=laboratory."
        ),
    ] = None,
    elements: Annotated[
        list[str] | None,
        typer.Option(
            "--elements",
            help="Root elements to keep, Type.element or element (repeatable, or comma lists); "
            "the resources are tagged SUBSETTED.",
        ),
    ] = None,
    patient_level: Annotated[
        bool, typer.Option("--patient-level", help="Patient compartments only.")
    ] = False,
    group: Annotated[str | None, typer.Option("--group", help="Members of this Group only.")] = None,
) -> None:
    """Write a Bulk Data export (NDJSON per type + manifest.json) of the configured database."""
    if patient_level and group:
        fail("--patient-level and --group exclude each other")
    settings = Settings()
    existing_database(settings)
    out_dir = output_dir(out_dir, settings)
    key = audit_key(settings)
    level: Level = "group" if group else ("patient" if patient_level else "system")
    base = (settings.base_url or "").rstrip("/") + "/fhir" if settings.base_url else ""
    params = [("_type", t) for t in types or []] + [("_typeFilter", f) for f in type_filters or []]
    params += [("_elements", e) for e in elements or []]
    params += [("_since", since)] if since else []
    command = "hygie export bulk " + " ".join(f"{k}={v}" for k, v in params)
    request = ExportRequest(level=level, base=base, url=command, group=group, lang="en")
    try:
        parse(request, params, timezone=settings.timezone)
    except FhirError as error:
        fail(_describe(error))
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        fail(f"{out_dir}: {error.strerror}")
    try:
        written = _run(settings, request, out_dir, key)
    except FhirError as error:
        fail(_describe(error))
    finally:  # refused before writing anything (a success writes manifest.json): no empty folder
        if created and not any(out_dir.iterdir()):
            out_dir.rmdir()
    for item in written["output"]:
        typer.echo(f"{item['type']:<24} {item['count']:>9}  {out_dir / item['url']}")
    typer.echo(f"manifest: {out_dir / 'manifest.json'}")


def _run(settings: Settings, request: ExportRequest, out_dir: Path, key: bytes) -> dict[str, Any]:
    # Here, not at the top: `hygie export record` shares this module and needs none of them.
    from hygie.api.search import compile_where
    from hygie.transfer.bulk_export import Chunk, Progress
    from hygie.transfer.bulk_worker import export_record, manifest, write_errors

    db, params = open_storage(settings)
    try:
        tz = zoneinfo.ZoneInfo(settings.timezone)

        def env_of(s: Any) -> Env:
            return Env(Store(s, params, tz), settings, request.base, "en")

        def check(s: Any) -> None:
            env = env_of(s)
            group = env.store.read("Group", request.group or "") if request.level == "group" else None
            if request.level == "group" and (group is None or group.deleted):
                raise FhirError.of(404, "not-found", "not_found", type="Group", id=request.group or "")
            for rtype, filters in request.filters.items():
                for criteria in filters:
                    compile_where(env, rtype, list(criteria))

        db.run_sync(check, write=False)
        tx_ms = int(time.time() * 1000)
        progress = Progress(request.chosen_types())
        with Chunk(request, out_dir, tx_ms, max(settings.bulk_chunk_size, 1), progress) as chunk:
            while db.run_sync(lambda s: chunk.run(env_of(s)), write=False):
                pass
        errors = write_errors(out_dir, request.warnings)
        done = manifest(request, tx_ms, progress, errors, lambda name: name, token=False)
        (out_dir / "manifest.json").write_bytes(orjson.dumps(done, option=orjson.OPT_INDENT_2))
        record = export_record(None, progress.patients, set(), f"cli-{tx_ms}", request.url)
        record = replace(record, agent_login=_operator(), client_id="hygie-cli")
        server = balp.Server(base_url=settings.base_url)
        db.run_sync(lambda s: audit.append_access(s, record, now=record.time_ms, key=key, server=server))
        return done
    finally:
        db.close()
