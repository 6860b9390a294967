"""``/portal/record``: download my whole record in one click — the portability ZIP.

The file is the ``hygie-record`` ZIP of ``GET Patient/{id}/$export-record?_language=fr|en``
(docs/portability.md: FHIR data as NDJSON, the documents, a summary in HTML and PDF, a manifest
with the SHA-256 of every file), answered as it comes from the API through ``p.fhir.raw`` — the
access policy of the signed-in person, and the audit trail (the export appears in "who accessed
my record"). The download is a CSRF-checked POST, so another site cannot start exports.
"""

from __future__ import annotations

from starlette.responses import Response

from hygie.web.fhir import WebFhirError, body_of
from hygie.web.pages import Page, page
from hygie.web.portal.common import render

SUMMARY_LANGUAGES = ("fr", "en")  # the languages of the ZIP's summary (docs/portability.md)


def summary_language(p: Page, asked: str | None = None) -> str:
    if asked in SUMMARY_LANGUAGES:
        return str(asked)
    return p.lang if p.lang in SUMMARY_LANGUAGES else "fr"


@page("/portal/record", who="patient")
async def record(p: Page) -> Response:
    return render(
        p,
        "portal/record.html",
        title="pt_record_title",
        section="record",
        summary_languages=SUMMARY_LANGUAGES,
        default=summary_language(p),
    )


@page("/portal/record/download", who="patient", methods=["POST"])
async def download(p: Page) -> Response:
    asked = p.form.get("summary")
    if asked and asked not in SUMMARY_LANGUAGES:
        return p.error(400)
    language = summary_language(p, asked)
    answer = await p.fhir.raw("GET", f"Patient/{p.patient}/$export-record", [("_language", language)])
    if answer.status_code != 200:
        await body_of(answer)
        raise WebFhirError(answer.status_code)
    return answer


PAGES = [record, download]
