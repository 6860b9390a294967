"""``/portal/documents``: my documents (letters, reports…), each attachment downloadable.

DocumentReference (https://hl7.org/fhir/R4/documentreference.html) lists the documents; each
``content.attachment`` (https://hl7.org/fhir/R4/datatypes.html#Attachment) is downloaded from
``/portal/documents/{id}/{n}`` (ids only in the URL) exactly as stored: the inline ``data``
decoded, or the ``Binary`` its ``url`` names when the account may read it (a Binary whose
``securityContext`` names the patient: docs/portability.md). The download is read through ``p.fhir`` (the
access policy and the audit trail): a document of a record the account may not see is a 404.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from hygie.web.fhir import WebFhirError
from hygie.web.pages import Page, page
from hygie.web.portal.common import render, search_all, zone
from hygie.web.portal.dates import fhir_date
from hygie.web.portal.people import concept_text, describe, reference_of

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
EXTENSIONS = {
    "application/pdf": "pdf",
    "text/plain": "txt",
    "text/html": "html",
    "image/png": "png",
    "image/jpeg": "jpg",
}
MAX_ATTACHMENTS = 20  # attachments of one document a download link may name


@dataclass(frozen=True, slots=True)
class Attachment:
    index: int
    title: str
    kind: str  # message key of the file type (pt_file_pdf…) or ''
    size: int | None
    available: bool  # inline data, or a Binary the account may try to read


@dataclass(frozen=True, slots=True)
class Document:
    id: str
    title: str
    kind: str
    date: str
    author: str | None
    attachments: tuple[Attachment, ...]


def content_type(attachment: dict[str, Any]) -> str:
    """The attachment's media type without parameters ('' when absent or malformed)."""
    raw = str(attachment.get("contentType") or "").split(";")[0].strip().lower()
    return raw if _TYPE.fullmatch(raw) else ""


def _attachments(doc: dict[str, Any]) -> tuple[Attachment, ...]:
    found = []
    for n, content in enumerate(doc.get("content") or []):
        attachment = content.get("attachment") if isinstance(content, dict) else None
        if not isinstance(attachment, dict) or n >= MAX_ATTACHMENTS:
            continue
        ctype = content_type(attachment)
        kind = {"application/pdf": "pt_file_pdf", "text/plain": "pt_file_text"}.get(ctype, "pt_file_other")
        data = attachment.get("data")
        size = attachment.get("size") if isinstance(attachment.get("size"), int) else None
        if isinstance(data, str) and size is None:
            size = len(data) * 3 // 4
        url = str(attachment.get("url") or "")
        available = isinstance(data, str) or bool(re.fullmatch(r"Binary/[A-Za-z0-9\-.]{1,64}", url))
        found.append(Attachment(n, str(attachment.get("title") or ""), kind, size, available))
    return tuple(found)


def document(doc: dict[str, Any], lang: str, tz: Any) -> Document:
    title = str(doc.get("description") or "") or concept_text(doc.get("type")) or str(doc.get("id"))
    author = next((r for a in doc.get("author") or [] if (r := reference_of(a))), None)
    return Document(
        str(doc.get("id")),
        title,
        concept_text(doc.get("type")),
        fhir_date(doc.get("date"), lang, tz, time=False),
        author,
        _attachments(doc),
    )


@page("/portal/documents", who="patient")
async def documents(p: Page) -> Response:
    found = await search_all(
        p, "DocumentReference", [("patient", p.patient), ("status", "current"), ("_sort", "-date")]
    )
    docs = [document(d, p.lang, zone(p)) for d in found]
    people = await describe(p.fhir, {d.author for d in docs if d.author})
    return render(
        p, "portal/documents.html", title="pt_documents_title", section="documents", docs=docs, people=people
    )


def file_name(doc: dict[str, Any], index: int, ctype: str) -> str:
    """``<id>-<n>-<title>.<ext>`` with only ``A-Z a-z 0-9 . _ -`` (no path, no leading dot)."""
    attachment = doc["content"][index]["attachment"]
    title = _SAFE_NAME.sub("-", str(attachment.get("title") or "document")).strip("-.")[:60] or "document"
    ext = EXTENSIONS.get(ctype, "bin")
    return f"{doc.get('id')}-{index + 1}-{title}.{ext}"


@page("/portal/documents/{id}/{index:int}", who="patient")
async def download(p: Page) -> Response:
    doc_id, index = str(p.request.path_params["id"]), int(p.request.path_params["index"])
    if not re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", doc_id):
        return p.error(404)
    doc = await p.fhir.get(f"DocumentReference/{doc_id}")
    if reference_of(doc.get("subject")) != f"Patient/{p.patient}":
        return p.error(404)  # a document of another record the account acts for: switch profile
    contents = doc.get("content") or []
    if not 0 <= index < min(len(contents), MAX_ATTACHMENTS):
        return p.error(404)
    attachment = (contents[index] or {}).get("attachment") or {}
    ctype = content_type(attachment) or "application/octet-stream"
    data = await _content(p, attachment)
    if data is None:
        return p.error(404, "pt_document_unavailable")
    return Response(
        data,
        media_type=ctype,
        headers={
            "Content-Disposition": f'attachment; filename="{file_name(doc, index, ctype)}"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


async def _content(p: Page, attachment: dict[str, Any]) -> bytes | None:
    data = attachment.get("data")
    if isinstance(data, str):
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return None
    url = str(attachment.get("url") or "")
    if not re.fullmatch(r"Binary/[A-Za-z0-9\-.]{1,64}", url):
        return None
    try:
        binary = await p.fhir.get(url)
    except WebFhirError:
        return None  # a Binary naming no patient is for system clients (docs/portability.md)
    return await _content(p, {"data": binary.get("data")}) if isinstance(binary.get("data"), str) else None


PAGES = [documents, download]
