"""The ``hygie import PATH…`` command (wired into :mod:`hygie.cli` by the composition root).

Shows a progress bar on a terminal (files and resources, with :mod:`rich`), then one line per
file: what was imported (resources per type), skipped (already imported) or refused (the
position and the OperationOutcome text). Exits 1 when a file failed. docs/import.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from hygie.api.context import open_storage
from hygie.auth.keys import load_audit_key
from hygie.settings import Settings
from hygie.transfer.importer import FileReport, Importer
from hygie.transfer.readers import discover, kind_of
from hygie.transfer.state import ImportState, StateError, default_state_path

LINK_NOT_FOLLOWED = "symbolic link in a folder: not followed (name the file itself to import it)"

import_cli = typer.Typer(help="Import FHIR files (Bundles, NDJSON, folders, portability ZIPs).")


class _Bar:
    """Progress on a terminal; nothing otherwise (pipes, tests)."""

    def __init__(self, total: int, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[resources]:,} resources"),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        self.files: TaskID = self.progress.add_task("files", total=total, resources=0)
        self.count = 0

    def file_started(self, index: int, path: Path) -> None:
        self.progress.update(self.files, description=f"{path.name[:40]}")

    def resources(self, count: int) -> None:
        self.count += count
        self.progress.update(self.files, resources=self.count)

    def file_done(self, report: FileReport) -> None:
        self.progress.advance(self.files)


def _line(report: FileReport) -> str:
    if report.status == "already":
        return f"already   {report.path}  (imported before with the same content: skipped)"
    if report.status == "ignored":
        return f"ignored   {report.path}  ({report.error})"
    if report.status == "failed":
        return f"FAILED    {report.path}  {report.error}"
    counts = report.counts
    assert counts is not None
    types = ", ".join(f"{t} {n}" for t, n in sorted(counts.written.items(), key=lambda i: (-i[1], i[0])))
    unchanged = sum(counts.unchanged.values())
    extra = f"; {unchanged} unchanged" if unchanged else ""
    written = sum(counts.written.values())
    return f"imported  {report.path}  {written} resources in {report.seconds:.2f} s{extra}" + (
        f"  [{types}]" if types else ""
    )


def _summary(reports: list[FileReport], seconds: float) -> str:
    by = {s: sum(1 for r in reports if r.status == s) for s in ("imported", "already", "failed", "ignored")}
    resources = sum(sum(r.counts.written.values()) for r in reports if r.counts is not None)
    ignored = f", {by['ignored']} ignored" if by["ignored"] else ""
    rate = f" ({resources / seconds:,.0f} resources/s)" if seconds > 0 and resources else ""
    return (
        f"{by['imported']} file(s) imported, {by['already']} already imported, {by['failed']} failed"
        f"{ignored}; "
        f"{resources:,} resources written in {seconds:.1f} s{rate}"
    )


@import_cli.command("import")
def import_command(
    paths: Annotated[
        list[Path], typer.Argument(help="Files or folders (searched recursively).", exists=True)
    ],
    restart: Annotated[
        bool, typer.Option("--restart", help="Forget which files were imported before: import all again.")
    ] = False,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help="State file of this import (default: next to the SQLite database, or ./var/).",
        ),
    ] = None,
    on_conflict: Annotated[
        Literal["version", "error", "skip"] | None,
        typer.Option(
            "--on-conflict",
            help="When a resource with the same id exists with other content: version (a new version "
            "over it; default for Bundles and NDJSON), error (refuse the file; default for ZIPs) or skip.",
        ),
    ] = None,
    lang: Annotated[Literal["en", "fr"], typer.Option("--lang", help="Language of error messages.")] = "en",
) -> None:
    """Import FHIR Bundles (transaction, batch, collection), NDJSON files (.ndjson, .ndjson.gz),
    folders of them (Bulk Data output) and portability ZIPs; one transaction per file,
    resumable (files already imported are skipped)."""
    settings = Settings()
    links: list[Path] = []
    files = discover(paths, links)
    try:
        done = ImportState(state or default_state_path(settings.database_url), restart=restart)
    except StateError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    db, catalog = open_storage(settings)
    bar = _Bar(len(files), Console(stderr=True))
    started = time.perf_counter()
    try:
        importer = Importer(
            db,
            catalog,
            settings,
            audit_key=load_audit_key(settings.keys_dir),
            lang=lang,
            on_conflict=on_conflict,
        )
        with bar.progress:
            reports = importer.run(files, done, bar)
    finally:
        db.close()
    reports += [FileReport(link, kind_of(link), "ignored", error=LINK_NOT_FOLLOWED) for link in links]
    for report in reports:
        typer.echo(_line(report))
    typer.echo(_summary(reports, time.perf_counter() - started))
    if any(r.status == "failed" for r in reports):
        raise typer.Exit(1)
