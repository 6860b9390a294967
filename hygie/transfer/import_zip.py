"""Reading a portability ZIP (``hygie-record`` version 1) for import.

The format (written by ``hygie export record|practice``; docs/import.md): ``manifest.json``
(``format``, ``version``, ``files`` with the path, SHA-256 and size of every other member),
``fhir/<ResourceType>.ndjson`` (current versions with their id, versionId and lastUpdated),
``documents/…`` and ``summary/…`` for humans. Before anything is loaded the whole archive is
checked: a member missing from the manifest, a listed member missing, or a size or digest that
differs refuses the whole ZIP.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hygie.fhir import jsonio
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.transfer.readers import LineError, read_ndjson

register(
    {
        "import_zip_unreadable": {
            "fr": "Archive ZIP illisible ({detail}).",
            "en": "Unreadable ZIP archive ({detail}).",
        },
        "import_zip_manifest": {
            "fr": "manifest.json absent ou invalide ({detail}) : archive hygie-record version 1 attendue.",
            "en": "manifest.json missing or invalid ({detail}): "
            "a hygie-record version 1 archive is expected.",
        },
        "import_zip_unlisted": {
            "fr": "Archive refusée : {path} n'est pas listé dans le manifeste.",
            "en": "Archive refused: {path} is not listed in the manifest.",
        },
        "import_zip_missing": {
            "fr": "Archive refusée : {path}, listé dans le manifeste, est absent.",
            "en": "Archive refused: {path}, listed in the manifest, is missing.",
        },
        "import_zip_name": {
            "fr": "Archive refusée : le nom de membre « {path} » n'est pas un chemin relatif simple.",
            "en": "Archive refused: member name '{path}' is not a plain relative path.",
        },
        "import_zip_encrypted": {
            "fr": "Archive refusée : le membre {path} est chiffré.",
            "en": "Archive refused: member {path} is encrypted.",
        },
        "import_zip_method": {
            "fr": "Archive refusée : le membre {path} est compressé par une méthode non prise en charge.",
            "en": "Archive refused: member {path} uses an unsupported compression method.",
        },
        "import_zip_fhir_member": {
            "fr": "Archive refusée : {path} n'est pas un fichier NDJSON directement sous fhir/ ; ses "
            "données ne seraient pas importées.",
            "en": "Archive refused: {path} is not an NDJSON file directly under fhir/; its data "
            "would not be imported.",
        },
        "import_zip_checksum": {
            "fr": "Archive refusée : {path} ne correspond pas au manifeste ({detail}).",
            "en": "Archive refused: {path} does not match the manifest ({detail}).",
        },
    }
)
FORMAT = "hygie-record"
MANIFEST = "manifest.json"
_FHIR = re.compile(r"fhir/[^/]+\.ndjson")  # fhir/<Type>.ndjson as written; any NDJSON file there
_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})
# Read whole: a 10,000-patient practice lists ~100,000 members (~15 MB); a bomb stops here.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


def _manifest_error(detail: str) -> FhirError:
    return FhirError.of(400, "invalid", "import_zip_manifest", (MANIFEST,), detail=detail)


def _listed(manifest: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("version") != 1:
        raise _manifest_error("format/version")
    files = manifest.get("files")
    if not isinstance(files, list):
        raise _manifest_error("files")
    listed: dict[str, dict[str, Any]] = {}
    for item in files:
        path = item.get("path") if isinstance(item, dict) else None
        if not isinstance(path, str) or path in listed or path == MANIFEST:
            raise _manifest_error(f"files: {str(path)[:100]}")
        if not isinstance(item.get("sha256"), str) or type(item.get("bytes")) is not int:
            raise _manifest_error(f"files: {path[:100]}")
        listed[path] = item
    return listed


def _digest(archive: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with archive.open(name) as member:
        while block := member.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def verify(archive: zipfile.ZipFile) -> dict[str, Any]:
    """Check the archive against its manifest (raises :class:`FhirError` 400); the manifest.

    Refused before anything is read: member names that are not plain relative paths (``..``,
    absolute, backslashes: nothing is extracted, but such a name has no place in an archive
    Hygie writes), encrypted members, files under ``fhir/`` that are not NDJSON files directly there (their
    data would be silently left out). A compression method the standard library cannot read is
    refused as unreadable."""
    infos = archive.infolist()
    for info in infos:
        if not _plain_name(info.filename):
            raise FhirError.of(400, "invalid", "import_zip_name", path=info.filename[:200])
        if info.flag_bits & 0x1:
            raise FhirError.of(400, "invalid", "import_zip_encrypted", path=info.filename[:200])
        if info.compress_type not in _METHODS:
            raise FhirError.of(400, "invalid", "import_zip_method", path=info.filename[:200])
        if info.filename.startswith("fhir/") and not info.is_dir() and not _FHIR.fullmatch(info.filename):
            raise FhirError.of(400, "invalid", "import_zip_fhir_member", path=info.filename[:200])
    names = [info.filename for info in infos if not info.is_dir()]
    if len(names) != len(set(names)):
        raise FhirError.of(400, "invalid", "import_zip_unreadable", detail="duplicate members")
    try:
        return _verify(archive, names)
    except (NotImplementedError, RuntimeError, zipfile.BadZipFile, EOFError) as exc:
        # an unsupported compression method, a member that cannot be decompressed
        raise FhirError.of(400, "invalid", "import_zip_unreadable", detail=str(exc)[:200]) from exc


def _plain_name(name: str) -> bool:
    """A relative path of plain segments: no ``..``/``.``, no leading ``/``, no backslash."""
    if not name or name.startswith("/") or "\\" in name or "\0" in name:
        return False
    return all(segment not in (".", "..") for segment in name.rstrip("/").split("/"))


def _verify(archive: zipfile.ZipFile, names: list[str]) -> dict[str, Any]:
    if MANIFEST not in names:
        raise _manifest_error("missing")
    if archive.getinfo(MANIFEST).file_size > MAX_MANIFEST_BYTES:  # what reading it would inflate to
        raise _manifest_error(f"larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        manifest = jsonio.loads(archive.read(MANIFEST))
    except ValueError as exc:
        raise _manifest_error(str(exc)[:200]) from exc
    listed = _listed(manifest)
    for name in names:
        if name != MANIFEST and name not in listed:
            raise FhirError.of(400, "invalid", "import_zip_unlisted", path=name[:200])
    for path, item in listed.items():
        if path not in names:
            raise FhirError.of(400, "invalid", "import_zip_missing", path=path[:200])
        sha256, size = _digest(archive, path)
        if size != item["bytes"]:
            raise FhirError.of(400, "invalid", "import_zip_checksum", path=path[:200], detail="size")
        if sha256 != item["sha256"].lower():
            raise FhirError.of(400, "invalid", "import_zip_checksum", path=path[:200], detail="SHA-256")
    assert isinstance(manifest, dict)
    return manifest


def fhir_members(archive: zipfile.ZipFile) -> list[str]:
    """The ``fhir/*.ndjson`` members, sorted (:func:`verify` refuses any other file there)."""
    return sorted(n for n in archive.namelist() if _FHIR.fullmatch(n))


def read_members(archive: zipfile.ZipFile, name: str) -> Iterator[tuple[int, Any]]:
    """``(line, resource)`` of one NDJSON member, streamed; a bad line's error names the member."""
    with archive.open(name) as member:
        try:
            yield from read_ndjson(member)
        except LineError as error:
            raise LineError(error.line, error.error, f"{name} line") from error


def open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FhirError.of(400, "invalid", "import_zip_unreadable", detail=str(exc)[:200]) from exc
