"""Screenshots of the clinician workspace (see tests/e2e/screenshots.py), signed in as a
professional of the demo GP's practice: the worklist with the alert of demo-p00007, the search,
the chart's tabs (prescribing with its safety cards included), the break-the-glass page and a
chart opened by it (the NEWS2 of demo-p00003)."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.e2e.screenshots import Shot

REASON = "Patient transféré aux urgences, inconscient, médecin traitant injoignable"


def _search(page: Page) -> None:
    page.fill("#name", "guerin")
    with page.expect_navigation():
        page.click("#search-form button[type=submit]")


def _break_glass_then_vitals(page: Page) -> None:
    page.fill("#reason", REASON)
    with page.expect_navigation():
        page.click("#btg-form button[type=submit]")
    page.goto(page.url.split("?")[0] + "/vitals?lang=fr")


def _prescribe(page: Page) -> None:
    """Two drafts that should not be combined (warfarin + aspirin), then the screen at its cards."""
    for search, amount in (("coumadine 5", "5"), ("kardegic 75", "75")):
        page.fill("#q", search)
        with page.expect_navigation():
            page.click("#drug-search button[type=submit]")
        with page.expect_navigation():
            page.click("#drug-results a >> nth=0")
        page.fill("#add-amount", amount)
        with page.expect_navigation():
            page.click("#add-button")
    page.goto(page.url.split("?")[0] + "?lang=fr#checks")


def _prescribe_in_arabic(page: Page) -> None:
    _prescribe(page)
    page.goto(page.url.split("?")[0] + "?lang=ar#checks")


def _sign_and_print(page: Page) -> None:
    """The two drafts of :func:`_prescribe`, signed with a reason, then the printable prescription."""
    _prescribe(page)
    for select in page.locator("#sign-form select").all():
        select.select_option("monitoring-planned")
    with page.expect_navigation():
        page.click("#sign")
    with page.expect_navigation():
        page.click("#print-link")


SHOTS = [
    Shot("workspace-worklist-fr", "/workspace", who="professional", lang="fr"),
    Shot("workspace-search-fr", "/workspace/search", who="professional", lang="fr", prepare=_search),
    Shot("workspace-chart-fr", "/workspace/patient/demo-p00007", who="professional", lang="fr"),
    Shot("workspace-chart-ar", "/workspace/patient/demo-p00007", who="professional", lang="ar"),
    Shot("workspace-glucose-fr", "/workspace/patient/demo-p00007/glucose", who="professional", lang="fr"),
    Shot("workspace-vitals-fr", "/workspace/patient/demo-p00007/vitals", who="professional", lang="fr"),
    Shot("workspace-results-fr", "/workspace/patient/demo-p00007/results", who="professional", lang="fr"),
    Shot("workspace-timeline-fr", "/workspace/patient/demo-p00007/timeline", who="professional", lang="fr"),
    Shot(
        "workspace-prescription-fr",
        "/workspace/patient/demo-p00007/prescription",
        who="professional",
        lang="fr",
        prepare=_prescribe,
    ),
    Shot(
        "workspace-prescription-ar",
        "/workspace/patient/demo-p00013/prescription",
        who="professional",
        lang="ar",
        prepare=_prescribe_in_arabic,
    ),
    Shot(
        "workspace-ordonnance-fr",
        "/workspace/patient/demo-p00001/prescription",
        who="professional",
        lang="fr",
        prepare=_sign_and_print,
    ),
    Shot("workspace-break-glass-fr", "/workspace/patient/demo-p00005", who="professional", lang="fr"),
    Shot(
        "workspace-emergency-news2-fr",
        "/workspace/patient/demo-p00003",
        who="professional",
        lang="fr",
        prepare=_break_glass_then_vitals,
    ),
]
