"""The ``documents/`` folder of a portability export: attachments decoded for people.

Each ``DocumentReference.content.attachment`` (https://hl7.org/fhir/R4/documentreference.html)
whose content is inline (``data``, base64) or in a ``Binary`` of the export (``url`` =
``Binary/[id]``, https://hl7.org/fhir/R4/binary.html) becomes one file; Binaries that no
document points to are written too. File names are built from the document's id, position and
title, reduced to ``[A-Za-z0-9._-]`` (accents dropped, no path separators, no leading dot), so
unpacking the ZIP cannot write outside its folder; an extension follows the content type.
The FHIR data in ``fhir/`` stays the reference: these files are a convenience copy.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hygie.fhir import jsonio
from hygie.transfer.record_collect import local_target
from hygie.transfer.record_staging import Staging

EXTENSIONS = {
    "application/pdf": "pdf",
    "text/plain": "txt",
    "text/html": "html",
    "text/markdown": "md",
    "text/csv": "csv",
    "text/xml": "xml",
    "application/xml": "xml",
    "application/json": "json",
    "application/fhir+json": "json",
    "application/rtf": "rtf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/tiff": "tiff",
    "application/dicom": "dcm",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 80


@dataclass(frozen=True, slots=True)
class Document:
    """One decoded attachment: its file name under ``documents/`` and what the summary shows."""

    name: str
    title: str
    content_type: str
    date: str
    source: str  # DocumentReference/id or Binary/id
    data: bytes


def safe_name(text: str, fallback: str = "document") -> str:
    """``text`` as a harmless file name: ASCII letters, digits, ``.``, ``_`` and ``-`` only."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = _UNSAFE.sub("-", ascii_text).strip("-.")
    cleaned = re.sub(r"[-.]{2,}", "-", cleaned)  # "../" and the like become a single dash
    return cleaned[:MAX_NAME].strip("-.") or fallback


def extension(content_type: str) -> str:
    return EXTENSIONS.get(content_type.split(";", maxsplit=1)[0].strip().lower(), "bin")


def documents(staging: Staging, base: str) -> Iterator[Document]:
    """The decoded attachments of the export, one at a time (names unique), in a stable order."""
    used: set[str] = set()
    pointed: set[str] = set()
    for body in staging.bodies("DocumentReference"):
        doc = jsonio.loads(body)
        date = _text(doc.get("date")) or _text((doc.get("context") or {}).get("period", {}).get("start"))
        label = _text(doc.get("description")) or _concept(doc.get("type"))
        for position, content in enumerate(_dicts(doc.get("content")), start=1):
            attachment = content.get("attachment")
            if not isinstance(attachment, dict):
                continue
            data, ctype = _attachment_data(attachment, staging, base, pointed)
            if data is None:
                continue
            ctype = _text(attachment.get("contentType")) or ctype
            title = _text(attachment.get("title")) or label or f"DocumentReference/{doc.get('id')}"
            stem = safe_name(f"{doc.get('id')}-{position}-{title}")
            name = _unique(f"{stem}.{extension(ctype)}", used)
            yield Document(name, title, ctype, date, f"DocumentReference/{doc.get('id')}", data)
    for body in staging.bodies("Binary"):
        binary = jsonio.loads(body)
        rid = str(binary.get("id"))
        if rid in pointed:
            continue
        data = _decode(binary.get("data"))
        if data is None:
            continue
        ctype = _text(binary.get("contentType")) or "application/octet-stream"
        name = _unique(f"{safe_name('binary-' + rid)}.{extension(ctype)}", used)
        yield Document(name, f"Binary/{rid}", ctype, "", f"Binary/{rid}", data)


def _attachment_data(
    attachment: dict[str, Any], staging: Staging, base: str, pointed: set[str]
) -> tuple[bytes | None, str]:
    inline = _decode(attachment.get("data"))
    if inline is not None:
        return inline, "application/octet-stream"
    url = attachment.get("url")
    target = local_target(url, base) if isinstance(url, str) else None
    if target is None or target[0] != "Binary":
        return None, ""
    stored = staging.get("Binary", target[1])
    if stored is None:
        return None, ""
    binary = jsonio.loads(stored)
    pointed.add(target[1])
    return _decode(binary.get("data")), _text(binary.get("contentType")) or "application/octet-stream"


def _decode(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _unique(name: str, used: set[str]) -> str:
    stem, dot, ext = name.rpartition(".")
    candidate, n = name, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{stem}-{n}{dot}{ext}"
    used.add(candidate.lower())
    return candidate


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _concept(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    if isinstance(value.get("text"), str):
        return str(value["text"])
    for coding in _dicts(value.get("coding")):
        if isinstance(coding.get("display"), str):
            return str(coding["display"])
    return ""
