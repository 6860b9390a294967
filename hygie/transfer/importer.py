"""``hygie import``: load FHIR files into the database, one transaction per file.

Formats (docs/import.md): ``transaction``/``batch``/``collection`` Bundles and single resources
(``.json``, ``.json.gz``), NDJSON (``.ndjson``, ``.ndjson.gz``, streamed line by line), folders
(walked recursively in sorted order: the Bulk Data output layout) and portability ZIPs
(``hygie-record`` version 1, verified against their manifest first). A file is loaded whole or not
at all: the first bad line or entry rolls its transaction back and is reported with its position
and the OperationOutcome text; the other files go on. The importer acts as an operator (no access
restriction, like ``hygie token issue``) and records one audit entry per file
(:mod:`hygie.auth.audit`): who loaded which file, with which digest, concerning which patients.
"""

from __future__ import annotations

import getpass
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

import hygie.api.messages  # noqa: F401 (the API's sentences: a reason is printed in words, not as a key)
from hygie.api.context import Env
from hygie.auth import audit, balp
from hygie.fhir.outcome import FhirError
from hygie.search.catalog import Catalog
from hygie.settings import Settings
from hygie.storage.database import Database, Session
from hygie.storage.store import OnConflict, Store, load_catalog
from hygie.transfer import import_zip
from hygie.transfer.loading import Counts, Progress, load_bundle, load_resources
from hygie.transfer.readers import Kind, LineError, kind_of, read_json, read_ndjson, sha256_of
from hygie.transfer.state import FileId, ImportState

Status = Literal["imported", "already", "failed", "ignored"]
_ERRORS = (FhirError, LineError, OSError, EOFError, ValueError, zipfile.BadZipFile)


@dataclass(slots=True)
class FileReport:
    """The outcome of one file."""

    path: Path
    kind: Kind | None
    status: Status
    counts: Counts | None = None
    error: str | None = None
    seconds: float = 0.0


class Events(Protocol):
    """What a progress display hears about (:mod:`hygie.transfer.commands_import`)."""

    def file_started(self, index: int, path: Path) -> None: ...

    def resources(self, count: int) -> None: ...

    def file_done(self, report: FileReport) -> None: ...


class _Quiet:
    def file_started(self, index: int, path: Path) -> None:
        pass

    def resources(self, count: int) -> None:
        pass

    def file_done(self, report: FileReport) -> None:
        pass


def describe(error: BaseException, lang: str = "en") -> str:
    """One line for a report: the position (line/entry) and the OperationOutcome's text."""
    where = ""
    if isinstance(error, LineError):
        where = f"{error.where} {error.line}: "
        error = error.error
    if isinstance(error, FhirError):
        parts = []
        for issue in error.outcome(lang)["issue"]:
            text = str(issue.get("diagnostics", issue.get("code", "")))
            at = issue.get("expression")
            parts.append(f"{text} [{', '.join(at)}]" if at else text)
        return f"{where}{error.status}: " + " | ".join(parts)
    return f"{where}{type(error).__name__}: {error}"


class Importer:
    """Imports files into ``db`` as an operator; one database transaction per file."""

    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        settings: Settings,
        *,
        audit_key: bytes,
        lang: str = "en",
        on_conflict: OnConflict | None = None,
        agent: str | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        # An operator's import is not bound by the HTTP limit on Bundle sizes.
        self.settings = settings.model_copy(update={"max_bundle_entries": 1 << 40})
        self.audit_key = audit_key
        self.lang = lang
        self.on_conflict = on_conflict
        self.agent = agent or _user()
        self.tz = ZoneInfo(settings.timezone)
        self.server = balp.Server(base_url=settings.base_url)

    def run(
        self, files: Iterable[Path], state: ImportState | None = None, events: Events | None = None
    ) -> list[FileReport]:
        """Import each file (skipping those ``state`` records as done); a report per file."""
        events = events or _Quiet()
        reports = []
        for index, path in enumerate(files):
            events.file_started(index, path)
            report = self.import_file(path, state, events.resources)
            events.file_done(report)
            reports.append(report)
        return reports

    def import_file(
        self, path: Path, state: ImportState | None = None, progress: Progress | None = None
    ) -> FileReport:
        started = time.perf_counter()
        kind = kind_of(path)
        try:
            if kind is None:
                raise ValueError("unknown format (expected .json, .json.gz, .ndjson, .ndjson.gz or .zip)")
            if not path.is_file():  # a named pipe or a device would be read forever
                raise ValueError("not a regular file (a pipe, a device or a folder)")
            file = FileId.of(path, sha256_of(path))
        except OSError as error:
            return FileReport(path, kind, "failed", error=describe(error, self.lang))
        except ValueError as error:
            return FileReport(path, kind, "failed", error=str(error))
        if state is not None and (state.done(file) or (not state.restart and self._loaded(file))):
            return FileReport(path, kind, "already")
        try:
            counts = self._load_file(path, kind, file, progress)
        except _ERRORS as error:
            text = describe(error, self.lang)
            self._audit_failure(path, kind, file, text)
            return FileReport(path, kind, "failed", error=text, seconds=time.perf_counter() - started)
        if counts is None:
            return FileReport(path, kind, "ignored", error="Bulk Data manifest, not data")
        if state is not None:
            state.record(file, counts.total)
        return FileReport(path, kind, "imported", counts, seconds=time.perf_counter() - started)

    # -- one file, one transaction -------------------------------------------------------------------
    def _load_file(self, path: Path, kind: Kind, file: FileId, progress: Progress | None) -> Counts | None:
        changed = False

        def work(session: Session) -> Counts | None:
            nonlocal changed
            env = Env(Store(session, self.catalog, self.tz), self.settings, "urn:hygie", self.lang)
            counts = self._load(env, path, kind, progress)
            if counts is not None:
                self._audit(session, path, kind, file, counts)
                _remember(session, file, counts.total)
            changed = env.store.catalog_changed
            return counts

        counts = self.db.run_sync(work)
        if changed:  # a SearchParameter was imported: later files are indexed with it
            self.catalog = self.db.run_sync(load_catalog)
        return counts

    def _load(self, env: Env, path: Path, kind: Kind, progress: Progress | None) -> Counts | None:
        if kind == "ndjson":
            return load_resources(env, read_ndjson(path), self.on_conflict or "version", progress=progress)
        if kind == "zip":
            return self._load_zip(env, path, progress)
        data = read_json(path)
        if isinstance(data, dict) and "resourceType" not in data and "output" in data:
            return None  # a Bulk Data manifest saved beside its NDJSON files
        if isinstance(data, dict) and data.get("resourceType") == "Bundle":
            return load_bundle(env, data, self.on_conflict or "version", progress=progress)
        return load_resources(
            env, [(1, data)], self.on_conflict or "version", where="resource", progress=progress
        )

    def _load_zip(self, env: Env, path: Path, progress: Progress | None) -> Counts:
        counts = Counts()
        with import_zip.open_zip(path) as archive:
            import_zip.verify(archive)
            for member in import_zip.fhir_members(archive):
                load_resources(
                    env,
                    import_zip.read_members(archive, member),
                    self.on_conflict or "error",
                    counts=counts,
                    where=f"{member} line",
                    progress=progress,
                )
        return counts

    def _loaded(self, file: FileId) -> bool:
        """This content was committed by an earlier import (a crash may have kept the state file
        from knowing it)."""

        def work(session: Session) -> bool:
            row = session.one(
                "SELECT 1 FROM import_file WHERE sha256 = ? AND size = ?", (file.sha256, file.size)
            )
            return row is not None

        return bool(self.db.run_sync(work, write=False))

    # -- audit ---------------------------------------------------------------------------------------
    def _record(
        self, path: Path, kind: Kind | None, file: FileId, counts: Counts | None, error: str | None
    ) -> balp.AccessRecord:
        what = f"{counts.total} resources" if counts is not None else f"refused: {error}"
        return balp.AccessRecord(
            action="rest",
            interaction="transaction",
            time_ms=int(time.time() * 1000),
            outcome=0 if error is None else 4,
            outcome_text=None if error is None else error[:500],
            agent_login=self.agent,
            client_id="hygie-cli",
            patients=tuple(sorted(counts.patients)) if counts is not None else (),
            reason=f"hygie import {file.path} ({kind}, {file.size} bytes, sha256 {file.sha256}): {what}"[
                :1000
            ],
        )

    def _audit(self, session: Session, path: Path, kind: Kind, file: FileId, counts: Counts) -> None:
        record = self._record(path, kind, file, counts, None)
        audit.append_access(session, record, now=record.time_ms, key=self.audit_key, server=self.server)

    def _audit_failure(self, path: Path, kind: Kind | None, file: FileId, error: str) -> None:
        record = self._record(path, kind, file, None, error)
        self.db.run_sync(
            lambda s: audit.append_access(
                s, record, now=record.time_ms, key=self.audit_key, server=self.server
            )
        )


def _remember(session: Session, file: FileId, resources: int) -> None:
    """Record the file in the transaction that loads it (migration 13)."""
    session.execute(
        "INSERT INTO import_file (sha256, size, path, resources, imported) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (sha256, size) DO UPDATE SET path = excluded.path, resources = excluded.resources,"
        " imported = excluded.imported",
        (file.sha256, file.size, file.path[:4000], resources, int(time.time() * 1000)),
    )


def _user() -> str:
    """The operator's login on this machine, for the audit trail."""
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):
        return "operator"
