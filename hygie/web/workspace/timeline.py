"""``/workspace/patient/{id}/timeline``: encounters and documents, newest first; and
``/workspace/patient/{id}/document/{doc}``: a document's attachment, downloaded.

Encounter (https://hl7.org/fhir/R4/encounter.html: ``class`` AMB consultation, EMER emergency,
IMP hospital stay…, with the service provider's name) and DocumentReference
(https://hl7.org/fhir/R4/documentreference.html, ``content.attachment.data``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response

from hygie.web.charts import fmt
from hygie.web.fhir import resources
from hygie.web.pages import Page, page
from hygie.web.workspace.chart import ChartView, open_chart, render_chart
from hygie.web.workspace.view import concept_text, parse_instant, ref_id, sort_key, valid_id, when

COUNT = 50
CLASSES = ("AMB", "EMER", "IMP", "ACUTE", "NONAC", "HH", "VR", "OBSENC", "SS")
DOWNLOADS = {"text/plain": "txt", "application/pdf": "pdf"}


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # message key suffix: encounter class or "document"
    title: str
    start: str
    end: str
    where: str
    status: str
    document: str  # the DocumentReference id, when the item is a document with an attachment
    sort: str


def encounter_event(e: dict[str, Any], orgs: dict[str, str], lang: str, tz: ZoneInfo) -> Event:
    period = e.get("period") or {}
    kind = str((e.get("class") or {}).get("code") or "")
    return Event(
        kind=f"class_{kind}" if kind in CLASSES else "class_other",
        title=next((concept_text(t) for t in e.get("type") or [] if concept_text(t)), ""),
        start=when(period.get("start"), lang, tz),
        end=_end(period, lang, tz),
        where=orgs.get(str((e.get("serviceProvider") or {}).get("reference")), ""),
        status=str(e.get("status") or ""),
        document="",
        sort=sort_key(period.get("start")),
    )


def _end(period: dict[str, Any], lang: str, tz: ZoneInfo) -> str:
    """The end of a period: its time only when it ends on the day it began."""
    start, end = parse_instant(period.get("start")), parse_instant(period.get("end"))
    if start is not None and end is not None and start.astimezone(tz).date() == end.astimezone(tz).date():
        return fmt.clock(end, tz)
    return when(period.get("end"), lang, tz) if period.get("end") else ""


def document_event(d: dict[str, Any], lang: str, tz: ZoneInfo) -> Event:
    has_data = any(
        isinstance(c, dict) and (c.get("attachment") or {}).get("data") for c in d.get("content") or []
    )
    return Event(
        kind="document",
        title=" — ".join(x for x in (concept_text(d.get("type")), str(d.get("description") or "")) if x)
        or "—",
        start=when(d.get("date"), lang, tz),
        end="",
        where="",
        status=str(d.get("status") or ""),
        document=str(d.get("id")) if has_data else "",
        sort=sort_key(d.get("date")),
    )


@page("/workspace/patient/{patient}/timeline", who="professional")
async def chart_timeline(p: Page) -> Response:
    view = await open_chart(p, "timeline")
    if not isinstance(view, ChartView):
        return view
    tz = ZoneInfo(p.settings.timezone)
    visits, documents = await asyncio.gather(
        p.fhir.search(
            "Encounter",
            [
                ("patient", view.id),
                ("_sort", "-date"),
                ("_count", str(COUNT)),
                ("_include", "Encounter:service-provider"),
            ],
        ),
        p.fhir.search(
            "DocumentReference", [("patient", view.id), ("_sort", "-date"), ("_count", str(COUNT))]
        ),
    )
    orgs = {f"Organization/{o.get('id')}": str(o.get("name") or "") for o in resources(visits, "include")}
    events = [encounter_event(e, orgs, p.lang, tz) for e in resources(visits)]
    events += [
        document_event(d, p.lang, tz) for d in resources(documents) if d.get("status") != "entered-in-error"
    ]
    events.sort(key=lambda e: e.sort, reverse=True)
    return render_chart(p, view, "workspace/timeline.html", events=events)


@page("/workspace/patient/{patient}/document/{doc}", who="professional")
async def document_download(p: Page) -> Response:
    """The first attachment of the document (text or PDF), as a download."""
    pid, doc = str(p.request.path_params["patient"]), str(p.request.path_params["doc"])
    if not valid_id(pid) or not valid_id(doc):
        return p.error(404)
    found = await p.fhir.get(f"DocumentReference/{doc}")
    if ref_id(found.get("subject"), "Patient") != pid:
        return p.error(404)
    for content in found.get("content") or []:
        attachment = (content or {}).get("attachment") or {}
        if not attachment.get("data"):
            continue
        try:
            data = base64.b64decode(str(attachment["data"]), validate=True)
        except (binascii.Error, ValueError):
            return p.error(404)
        media = str(attachment.get("contentType") or "").split(";")[0].strip().lower()
        extension = DOWNLOADS.get(media, "bin")
        headers = {
            "Content-Disposition": f'attachment; filename="document-{doc}.{extension}"',
            "X-Content-Type-Options": "nosniff",
        }
        kind = str(attachment.get("contentType")) if media in DOWNLOADS else "application/octet-stream"
        return Response(data, media_type=kind, headers=headers)
    return p.error(404)


PAGES = [chart_timeline, document_download]
