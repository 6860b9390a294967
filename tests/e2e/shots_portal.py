"""Screenshots of the patient portal (docs/web.md "Patient portal"): see tests/e2e/screenshots.py.

``portal-home-fr`` is in shots_core.py (the foundation's list); here: every other portal page in
French, and the summary and the measurements in Arabic (right to left)."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.e2e.screenshots import Shot


def write_a_message(page: Page) -> None:
    """Send a message first, so that the page shows one (and its confirmation)."""
    page.fill(
        "#message", "Bonjour docteur, ma tension était à 15/9 ce matin. Dois-je changer mon traitement ?"
    )
    page.click("form[action='/portal/messages'] button[type=submit]")


SHOTS = [
    Shot("portal-home-ar", "/portal", who="patient", lang="ar"),
    Shot(
        "portal-measurements-fr",
        "/portal/measurements?measure=heart-rate&period=week",
        who="patient",
        lang="fr",
    ),
    Shot(
        "portal-measurements-ar",
        "/portal/measurements?measure=heart-rate&period=day",
        who="patient",
        lang="ar",
    ),
    Shot("portal-documents-fr", "/portal/documents", who="patient", lang="fr"),
    Shot("portal-messages-fr", "/portal/messages", who="patient", lang="fr", prepare=write_a_message),
    Shot("portal-access-fr", "/portal/access", who="patient", lang="fr"),
    Shot("portal-privacy-fr", "/portal/privacy", who="patient", lang="fr"),
    Shot("portal-record-fr", "/portal/record", who="patient", lang="fr"),
]
