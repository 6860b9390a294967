"""Writing a ``hygie-record`` version 1 ZIP: members streamed in, SHA-256 as they go, manifest last.

Layout (docs/portability.md)::

    manifest.json                   format, version, created, generator, scope, language, files
    fhir/<ResourceType>.ndjson      current versions as stored, one per line, sorted by id
    documents/<name>                attachments decoded for people
    summary/summary.html, summary/summary.pdf

Every member but ``manifest.json`` is listed in ``files`` with its SHA-256, size in bytes and,
for NDJSON files, the number of resources (``null`` for the others). Members are deflated and
written one at a time through :meth:`zipfile.ZipFile.open` (ZIP64 when large), so nothing is held
whole in memory. The reading side is :mod:`hygie.transfer.import_zip`.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable
from datetime import datetime
from typing import IO, Any

from hygie import __version__
from hygie.fhir import jsonio

FORMAT = "hygie-record"
VERSION = 1
MANIFEST = "manifest.json"


class RecordZip:
    """One ZIP being written to ``target`` (a binary file opened for writing)."""

    def __init__(self, target: IO[bytes], created: datetime) -> None:
        self.zip = zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        self.created = created
        self.files: list[dict[str, Any]] = []

    def _info(self, path: str) -> zipfile.ZipInfo:
        at = self.created
        info = zipfile.ZipInfo(path, (at.year, at.month, at.day, at.hour, at.minute, at.second))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    def write(self, path: str, chunks: Iterable[bytes], resources: int | None = None) -> None:
        """Add one member from ``chunks``, recording its digest and size."""
        digest = hashlib.sha256()
        size = 0
        with self.zip.open(self._info(path), "w", force_zip64=True) as member:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                member.write(chunk)
        self.files.append({"path": path, "sha256": digest.hexdigest(), "bytes": size, "resources": resources})

    def finish(self, scope: dict[str, Any], language: str, created: str) -> dict[str, Any]:
        """Write ``manifest.json`` and close the ZIP; returns the manifest."""
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created": created,
            "generator": f"Hygie {__version__}",
            "scope": scope,
            "language": language,
            "files": self.files,
        }
        with self.zip.open(self._info(MANIFEST), "w") as member:
            member.write(jsonio.dumps(manifest, pretty=True))
        self.zip.close()
        return manifest

    def abort(self) -> None:
        self.zip.close()
