"""The patient portal in the browser (Playwright + axe-core, docs/web.md): a patient of the demo,
signed in with password and TOTP (fixture ``patient_page``), views their measurements (chart and
table), downloads their record (a ZIP), sees who accessed it, blocks a professional and lifts the
block; every portal page passes axe in French, English and Arabic."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import httpx2
from playwright.sync_api import Page

from hygie.auth.scopes import parse_scopes
from hygie.auth.tokens import Principal
from tests.e2e.support import Site, assert_accessible, assert_accessible_in_every_language, click_and_wait
from tests.security.test_break_glass import token

RECORD = "demo-p00001"
PORTAL_PAGES = (
    "/portal",
    "/portal/measurements",
    "/portal/measurements?measure=heart-rate&period=day",
    "/portal/documents",
    "/portal/messages",
    "/portal/access",
    "/portal/privacy",
    "/portal/record",
)


def test_patient_portal_flows(patient_page: Page, site: Site, tmp_path: Path) -> None:
    """One signed-in patient (sign-ins are throttled per address: one per flow would be many)."""
    views_measurements(patient_page, site)
    downloads_the_record(patient_page, site, tmp_path)
    sees_who_accessed_the_record(patient_page, site)
    blocks_a_professional_and_lifts_the_block(patient_page, site)


def views_measurements(patient_page: Page, site: Site) -> None:
    patient_page.goto(site.url("/portal/measurements?lang=en"))
    assert patient_page.locator("#measure-figure svg.hy-chart[role=img]").count() == 1
    assert patient_page.locator("#measure-table tbody tr").count() > 0
    assert "Heart rate" in patient_page.inner_text("#chart-heading")
    assert patient_page.locator("#measure-summary").inner_text().startswith("Heart rate")
    click_and_wait(patient_page, "#period-menu >> text=24 hours")
    assert "period=day" in patient_page.url
    assert patient_page.locator("#period-menu [aria-current=page]").inner_text() == "24 hours"
    assert patient_page.locator("#measure-table tbody tr").count() > 0
    assert patient_page.is_visible("#measure-table")  # a day's table is shown, not folded
    assert "Montre connectée" in patient_page.inner_text("#devices")
    assert_accessible(patient_page)


def downloads_the_record(patient_page: Page, site: Site, tmp_path: Path) -> None:
    patient_page.goto(site.url("/portal/record?lang=fr"))
    with patient_page.expect_download() as event:
        patient_page.click("#download-record")
    download = event.value
    assert download.suggested_filename == f"hygie-record-{RECORD}.zip"
    target = tmp_path / "record.zip"
    download.save_as(target)
    with zipfile.ZipFile(io.BytesIO(target.read_bytes())) as archive:
        assert archive.testzip() is None
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["format"] == "hygie-record" and manifest["scope"] == {"patient": RECORD}
        assert {f["path"] for f in manifest["files"]} == set(archive.namelist()) - {"manifest.json"}
    patient_page.goto(site.url("/portal/access"))
    assert "A téléchargé tout le dossier" in patient_page.inner_text("#accesses")


def sees_who_accessed_the_record(patient_page: Page, site: Site) -> None:
    gp = next(a for a in site.demo_accounts if a["username"] == "demo.medecin")
    principal = Principal(
        kind="professional",
        subject="e2e-gp",
        scopes=parse_scopes("user/*.rs"),
        fhir_user=gp["fhir"],
        organization=gp["organization"],
    )
    answer = httpx2.get(site.url(f"/fhir/Patient/{RECORD}"), headers=token(site.settings, principal))
    assert answer.status_code == 200, answer.text[:300]
    patient_page.goto(site.url("/portal/access?others=1"))
    history = patient_page.inner_text("#accesses")
    assert "Rousseau" in history and "A consulté votre dossier" in history
    assert "Vous" not in history.split()  # my own visits are left out on request
    assert_accessible(patient_page)


def blocks_a_professional_and_lifts_the_block(patient_page: Page, site: Site) -> None:
    patient_page.goto(site.url("/portal/privacy"))
    patient_page.fill("#name", "Riou")
    click_and_wait(patient_page, "form[action='/portal/privacy/find'] button[type=submit]")
    assert "Riou" in patient_page.inner_text("#found-table")
    click_and_wait(patient_page, "#found-table button:has-text('Bloquer')")
    assert patient_page.url.endswith("/portal/privacy?done=blocked")
    assert "Riou" in patient_page.inner_text("#blocks-table")
    assert patient_page.locator("#privacy-done[role=status]").count() == 1
    assert_accessible(patient_page)
    click_and_wait(patient_page, "#blocks-table button:has-text('Débloquer')")
    assert patient_page.url.endswith("/portal/privacy?done=unblocked")
    assert patient_page.locator("#no-blocks").count() == 1


def test_every_portal_page_is_accessible_in_every_language(patient_page: Page, site: Site) -> None:
    for path in PORTAL_PAGES:
        assert_accessible_in_every_language(patient_page, site, path)
    # with an error shown, and the child's record after "switch profile"
    patient_page.goto(site.url("/portal/messages?lang=ar"))
    click_and_wait(patient_page, "form[action='/portal/messages'] button[type=submit]")
    assert patient_page.locator("#message-error").count() == 1
    assert_accessible(patient_page)
    patient_page.goto(site.url("/account/profile"))
    patient_page.locator("input[name=patient]").nth(1).check()
    click_and_wait(patient_page, "main button[type=submit]")
    patient_page.goto(site.url("/portal"))
    assert "ROBERT" in patient_page.inner_text("#record-of").upper()
    assert_accessible(patient_page)
