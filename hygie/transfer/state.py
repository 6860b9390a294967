"""The resumable-import state: which files an import already loaded, by path, size and SHA-256.

A JSON file rewritten atomically after each imported file. Re-running ``hygie import`` skips a
file whose path, size and digest are recorded; a changed file is imported again. The default
location is next to the SQLite database (``<db>.import-state.json``) or, for PostgreSQL,
``./var/import-state-<digest of the database URL>.json``.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from hygie.storage.database import sqlite_path

_FORMAT = "hygie-import-state"


def default_state_path(database_url: str) -> Path:
    """Where the state of imports into ``database_url`` lives unless told otherwise."""
    if urlsplit(database_url).scheme == "sqlite":
        path = sqlite_path(database_url)
        if path != ":memory:":
            return Path(path + ".import-state.json")
    parts = urlsplit(database_url)
    where = f"{parts.hostname}:{parts.port}{parts.path}".encode()  # no user, no password
    return Path.cwd() / "var" / f"import-state-{hashlib.sha256(where).hexdigest()[:12]}.json"


@dataclass(frozen=True, slots=True)
class FileId:
    """A file as the state knows it."""

    path: str  # resolved, absolute
    size: int
    sha256: str

    @classmethod
    def of(cls, path: Path, sha256: str) -> FileId:
        return cls(str(path.resolve()), path.stat().st_size, sha256)


class ImportState:
    """The set of files already imported, persisted in ``path``."""

    def __init__(self, path: Path, *, restart: bool = False) -> None:
        """Read the state in ``path`` (none yet: empty); ``restart`` forgets it."""
        self.path = path
        self.restart = restart  # also ignore the database's record of imported files
        self._files: dict[str, dict[str, Any]] = {}
        if path.is_dir() or (path.parent.exists() and not path.parent.is_dir()):
            raise StateError(f"{path}: not a file path (a folder, or under a file)")
        if restart:
            path.unlink(missing_ok=True)
        elif path.exists():
            try:
                data = orjson.loads(path.read_bytes())
            except (orjson.JSONDecodeError, OSError) as exc:
                raise StateError(f"{path}: not an import state file (use --restart)") from exc
            if (
                not isinstance(data, dict)
                or data.get("format") != _FORMAT
                or not isinstance(data.get("files"), dict)
                or not all(isinstance(entry, dict) for entry in data["files"].values())
            ):
                raise StateError(f"{path}: not an import state file (use --restart)")
            self._files = data["files"]
        self._check_writable()

    def _check_writable(self) -> None:
        """Fail before anything is imported when the state could not be saved after a file."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"{self.path}: its folder cannot be created ({exc.strerror})") from exc
        if not os.access(self.path.parent, os.W_OK):
            raise StateError(f"{self.path}: its folder is not writable")

    def done(self, file: FileId) -> bool:
        known = self._files.get(file.path) or {}
        return known.get("size") == file.size and known.get("sha256") == file.sha256

    def record(self, file: FileId, resources: int) -> None:
        self._files[file.path] = {
            "size": file.size,
            "sha256": file.sha256,
            "resources": resources,
            "imported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_bytes(
            orjson.dumps({"format": _FORMAT, "version": 1, "files": self._files}, option=orjson.OPT_INDENT_2)
        )
        os.replace(temporary, self.path)


class StateError(Exception):
    """The state file exists but cannot be read."""
