"""A disk-backed staging area for a record export: resources by (type, id), deduplicated, sorted.

A portability export may cover a whole practice: the resources are written here as they are
read (a temporary SQLite file of the standard library, outside the Hygie database), then read
back type by type in id order to fill ``fhir/<Type>.ndjson``. Memory stays bounded whatever the
size of the export.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path


class Staging:
    """Resources gathered for one export (a temporary file, deleted by :meth:`close`)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "staging.sqlite"
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(
            "CREATE TABLE item (type TEXT NOT NULL, id TEXT NOT NULL, body BLOB NOT NULL, "
            "PRIMARY KEY (type, id)) WITHOUT ROWID"
        )

    def add(self, rtype: str, rid: str, body: bytes) -> bool:
        """Keep one resource (its stored JSON); False when (type, id) is already there."""
        cursor = self._db.execute("INSERT OR IGNORE INTO item VALUES (?, ?, ?)", (rtype, rid, body))
        return cursor.rowcount == 1

    def has(self, rtype: str, rid: str) -> bool:
        row = self._db.execute("SELECT 1 FROM item WHERE type = ? AND id = ?", (rtype, rid)).fetchone()
        return row is not None

    def types(self) -> list[str]:
        return [str(r[0]) for r in self._db.execute("SELECT DISTINCT type FROM item ORDER BY type")]

    def count(self, rtype: str) -> int:
        row = self._db.execute("SELECT count(*) FROM item WHERE type = ?", (rtype,)).fetchone()
        return int(row[0])

    def bodies(self, rtype: str) -> Iterator[bytes]:
        """The stored JSON of every resource of ``rtype``, in id order (byte order of the ids)."""
        cursor = self._db.execute("SELECT body FROM item WHERE type = ? ORDER BY id", (rtype,))
        for (body,) in cursor:
            yield bytes(body)

    def get(self, rtype: str, rid: str) -> bytes | None:
        row = self._db.execute("SELECT body FROM item WHERE type = ? AND id = ?", (rtype, rid)).fetchone()
        return bytes(row[0]) if row is not None else None

    def close(self) -> None:
        self._db.close()
        self.path.unlink(missing_ok=True)
