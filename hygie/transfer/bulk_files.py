"""The files of a Bulk Data export, written in a thread of their own while the next page is read.

Bulk Data Access IG 2.0, output files (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#file-request):
one resource per line. A page arrives as the stored (zlib-compressed) bodies, which already hold
``id`` and ``meta``: the writer decompresses them, appends them to the type's file as NDJSON
lines and finds the patients they reference (for the audit). zlib, the file writes and the
database driver waiting for its rows all let other Python threads run, so the next page's query
overlaps this page's decompression: on two cores an export takes about the longer of the two
instead of their sum. One page at a time is in the writer's hands (memory: two pages).

With ``_elements`` a page's resources are parsed, subsetted and tagged SUBSETTED
(:mod:`hygie.fhir.summary`) before they are written, exact decimals kept
(:mod:`hygie.fhir.jsonio`); the patients are still found in the whole bodies: the audit names
every patient whose data left, whether or not the kept elements reference them.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from hygie.api.audit_trail import patients_referenced
from hygie.fhir import jsonio
from hygie.fhir.summary import elements, mark_subsetted
from hygie.storage.codec import unpack


class PageWriter:
    """Appends pages to NDJSON files in one background thread, in the order they are given.

    :meth:`add` hands a page over (after the previous one is written: an error of the writer is
    raised there); :meth:`close` waits for the last page and stops the thread. ``patients``
    receives the patients of the pages written."""

    def __init__(self, patients: set[str]) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[set[str]] | None = None
        self.patients = patients

    def add(
        self, path: Path, packed: list[bytes], patients: set[str] | None, keep: list[str] | None = None
    ) -> None:
        """Append the ``packed`` bodies to ``path``; ``patients``: the page's patients when the
        caller knows them (a Patient page), else they are looked for in the bodies; ``keep``:
        the ``_elements`` to keep (None: whole resources)."""
        self.wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hygie-bulk-files")
        self._pending = self._pool.submit(write_page, path, packed, patients, keep)

    def wait(self) -> None:
        """Until the page handed over is written (its error, if any, is raised here)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self.patients.update(pending.result())

    def close(self) -> None:
        """Wait for the last page, then stop the thread (also when the wait raises)."""
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


def write_page(
    path: Path, packed: list[bytes], patients: set[str] | None, keep: list[str] | None = None
) -> set[str]:
    """Decompress and append one page to ``path`` (only the ``keep`` elements, when given);
    the patients it references."""
    bodies = [unpack(body) for body in packed]
    joined = b"\n".join(bodies)
    found = patients if patients is not None else patients_referenced(joined)
    if keep is not None:
        bodies = [jsonio.dumps(mark_subsetted(elements(jsonio.loads(body), keep))) for body in bodies]
        joined = b"\n".join(bodies)
    with path.open("ab") as fh:
        write_lines(fh, bodies, joined)
    return found


def write_lines(fh: BinaryIO, bodies: list[bytes], joined: bytes) -> None:
    """``bodies`` (``joined``: the same joined by line breaks) as NDJSON lines; a body holding a
    line break of its own is re-serialised on one line (JSON allows one only between tokens;
    Hygie's own writer never produces it)."""
    if joined.count(b"\n") != len(bodies) - 1:
        joined = b"\n".join(b if b"\n" not in b else jsonio.dumps(jsonio.loads(b)) for b in bodies)
    fh.write(joined)
    fh.write(b"\n")
