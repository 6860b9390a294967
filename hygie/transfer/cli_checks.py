"""Checks the export commands make before they read or write anything.

A bad output path, a database that is not there or an unusable key folder is a usage error
(exit code 2, one line naming it), found before the export runs: never after the work, with a
traceback and an unaudited file left behind. An output may not land on the server's own files:
the key folder, the SQLite database and its companions (``-wal``, ``-shm``, the import state).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import typer

from hygie.settings import Settings
from hygie.storage.database import sqlite_path


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def existing_database(settings: Settings) -> None:
    """An export reads a database: a SQLite file that does not exist is an error, not a new
    empty database created on the way."""
    path = _sqlite_file(settings)
    if path is not None and not path.is_file():
        fail(f"no database at {path} (HYGIE_DATABASE_URL; `hygie db upgrade` creates one)")


def audit_key(settings: Settings) -> bytes:
    """The audit key, read first: an export nobody could audit is not written."""
    from hygie.auth.keys import load_audit_key

    try:
        return load_audit_key(settings.keys_dir)
    except (OSError, ValueError) as error:
        fail(f"the key folder {settings.keys_dir} is not usable (HYGIE_KEYS_DIR): {error}")


def output_file(out: Path, settings: Settings) -> Path:
    """The resolved ``--out`` of a ZIP: a file path in a writable folder, none of the server's."""
    if str(out) in ("", "-", "."):
        fail(f"--out {str(out)!r}: give the path of the ZIP file to write")
    target = out.resolve()
    if target.is_dir():
        fail(f"--out {out}: a folder (give the path of the ZIP file to write)")
    _not_the_servers(target, settings, "--out")
    _writable_folder(target.parent, "--out")
    return target


def output_dir(out_dir: Path, settings: Settings) -> Path:
    """The resolved ``OUT_DIR`` of a Bulk export: a new or empty folder, none of the server's."""
    if str(out_dir) in ("", "-"):
        fail(f"OUT_DIR {str(out_dir)!r}: give the folder to write to")
    target = out_dir.resolve()
    if target.exists() and not target.is_dir():
        fail(f"{out_dir} is not a folder")
    if target.is_dir() and any(target.iterdir()):
        fail(f"{out_dir} is not empty")
    _not_the_servers(target, settings, "OUT_DIR")
    _writable_folder(target if target.is_dir() else target.parent, "OUT_DIR")
    return target


def _sqlite_file(settings: Settings) -> Path | None:
    if urlsplit(settings.database_url).scheme != "sqlite":
        return None
    path = sqlite_path(settings.database_url)
    return None if path == ":memory:" else Path(path).resolve()


def _not_the_servers(target: Path, settings: Settings, what: str) -> None:
    keys = settings.keys_dir.resolve()
    if target == keys or keys in target.parents:
        fail(f"{what} {target}: inside the key folder (HYGIE_KEYS_DIR)")
    database = _sqlite_file(settings)  # hygie.db, hygie.db-wal, hygie.db.import-state.json…
    if database is not None and target.parent == database.parent and target.name.startswith(database.name):
        fail(f"{what} {target}: the database or one of its files")


def _writable_folder(folder: Path, what: str) -> None:
    """The nearest existing folder up the path must be a folder we can write in."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        fail(f"{what}: {existing} is a file, not a folder")
    try:  # by trying: os.access answers yes to root everywhere, a read-only file system refuses
        with tempfile.TemporaryFile(prefix=".hygie-check-", dir=existing):
            pass
    except OSError:
        fail(f"{what}: the folder {existing} is not writable")
