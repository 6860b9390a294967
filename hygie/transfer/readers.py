"""Reading import files: NDJSON (streamed line by line, gzip or not), JSON, and which files a
folder holds.

NDJSON is the Bulk Data format: one resource per line, UTF-8, ``\\n``-separated
(https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-output-file-format). Blank lines
are skipped. Numbers keep their precision (:mod:`hygie.fhir.jsonio`).
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

from hygie.fhir import jsonio
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError

register(
    {
        "import_bad_json": {
            "fr": "JSON illisible ({detail}).",
            "en": "Unreadable JSON ({detail}).",
        },
        "import_file_too_large": {
            "fr": "Fichier JSON de plus de {limit} octets : un Bundle est lu en entier ; "
            "au-delà, importez du NDJSON.",
            "en": "JSON file larger than {limit} bytes: a Bundle is read whole; import NDJSON beyond that.",
        },
        "import_line_too_long": {
            "fr": "Ligne de plus de {limit} octets.",
            "en": "Line longer than {limit} bytes.",
        },
    }
)

Kind = Literal["bundle", "ndjson", "zip"]
MAX_LINE_BYTES = 64 * 1024 * 1024  # one resource; a Binary of a few tens of MB still fits
# A Bundle file is parsed whole (Python objects take ~10× its size): 70× the largest Synthea one.
MAX_JSON_BYTES = 256 * 1024 * 1024
_SUFFIXES: tuple[tuple[str, Kind], ...] = (
    (".ndjson.gz", "ndjson"),
    (".ndjson", "ndjson"),
    (".json.gz", "bundle"),
    (".json", "bundle"),
    (".zip", "zip"),
)


def kind_of(path: Path) -> Kind | None:
    """The import format of a file from its name (None: not an import file)."""
    name = path.name.lower()
    for suffix, kind in _SUFFIXES:
        if name.endswith(suffix):
            return kind
    return None


def discover(paths: Iterable[Path], links: list[Path] | None = None) -> list[Path]:
    """Files to import, in order: each path as given; a folder is walked recursively in sorted
    order (a Bulk Data output folder: ``Patient.ndjson``, ``Observation.ndjson``…), keeping only
    regular files of a known format (:func:`kind_of`). A file named explicitly is kept whatever
    its name (it is reported if its format is unknown or it is not a regular file).

    Symbolic links met in a walk are not followed, to a folder (the walk does not enter it: no
    loop) or to a file (nothing outside the folders given is read): links to files of a known
    format go to ``links``, for the caller to report them."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                if kind_of(p) is None:
                    continue
                if p.is_symlink():
                    if links is not None:
                        links.append(p)
                elif p.is_file():
                    found.append(p)
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, gunzipped when its name ends in ``.gz``."""
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def read_ndjson(source: Path | IO[bytes]) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed JSON)`` for each non-blank line, read one line at a time (a file of
    any size in little memory). ``source`` is a path (``.gz`` decompressed) or a binary stream.

    A line that is not JSON raises :class:`FhirError` 400, a line longer than
    :data:`MAX_LINE_BYTES` (its end included) 413; the caller adds the line number (it is in the
    error's ``line`` attribute: see :class:`LineError`).
    """
    if isinstance(source, Path):
        with open_binary(source) as stream:
            yield from read_ndjson(stream)
        return
    # readline with a limit: a line without an end is refused after MAX_LINE_BYTES + 1 bytes,
    # never read whole into memory.
    readline, limit, number = source.readline, MAX_LINE_BYTES + 1, 0
    while raw := readline(limit):
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise LineError(
                number, FhirError.of(413, "too-costly", "import_line_too_long", limit=MAX_LINE_BYTES)
            )
        if not raw.strip():
            continue
        try:
            data = jsonio.loads(raw)
        except ValueError as exc:
            raise LineError(
                number, FhirError.of(400, "structure", "import_bad_json", detail=str(exc)[:200])
            ) from exc
        yield number, data


def read_json(path: Path) -> Any:
    """A whole JSON file (a Bundle or one resource), parsed; 413 above :data:`MAX_JSON_BYTES`
    (decompressed: a gzip bomb stops there)."""
    with open_binary(path) as stream:
        raw = stream.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise FhirError.of(413, "too-costly", "import_file_too_large", limit=MAX_JSON_BYTES)
    try:
        return jsonio.loads(raw)
    except ValueError as exc:
        raise FhirError.of(400, "structure", "import_bad_json", detail=str(exc)[:200]) from exc


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of the file's bytes as stored (hex)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class LineError(Exception):
    """A FHIR error on one line of an NDJSON file (or one entry of a Bundle)."""

    def __init__(self, line: int, error: FhirError, where: str = "line") -> None:
        super().__init__(f"{where} {line}")
        self.line = line
        self.error = error
        self.where = where
