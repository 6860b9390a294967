"""The patient portal (``/portal/…``): every page of it is listed in :data:`PAGES`.

My health summary (``/portal``), measurements and devices, documents, alerts and messages, who
accessed my record, privacy (block a professional), download my record — each page reads and
writes the record shown (``p.patient``) through ``p.fhir`` (docs/web.md "Patient portal").
"""

from __future__ import annotations

from hygie.web.pages import PageRoute
from hygie.web.portal import access, documents, home, measurements, messages, privacy, record

PAGES: list[PageRoute] = [
    *home.PAGES,
    *measurements.PAGES,
    *documents.PAGES,
    *messages.PAGES,
    *access.PAGES,
    *privacy.PAGES,
    *record.PAGES,
]
