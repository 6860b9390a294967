"""In a real browser: signing in with password + TOTP, the page frame, sign-out, and axe-core
(WCAG 2.2 A/AA) on every page of the foundation in French, English and Arabic."""

from __future__ import annotations

import pyotp
from playwright.sync_api import Page

from tests.e2e.support import (
    LANGUAGES,
    Credentials,
    Site,
    assert_accessible,
    assert_accessible_in_every_language,
    click_and_wait,
)


def test_patient_signs_in_with_password_and_totp(page: Page, site: Site, patient: Credentials) -> None:
    page.goto(site.url("/"))
    assert page.url.endswith("/login?lang=fr")
    page.fill("#username", patient.username)
    page.fill("#password", patient.password)
    click_and_wait(page, "main button[type=submit]")
    assert page.locator("input[name=step][value=totp]").count() == 1
    assert_accessible(page)  # the second-factor page
    assert patient.totp_secret is not None
    page.fill("#code", pyotp.TOTP(patient.totp_secret).now())
    click_and_wait(page, "main button[type=submit]")
    assert page.url == site.url("/portal")
    assert page.inner_text("#who").startswith(f"Connecté·e : {patient.display}")
    assert "Patient·e" in page.inner_text("#who")
    assert page.is_visible("#session-end")
    # Sign out from the header: the pages are closed again.
    click_and_wait(page, ".account-bar__signout button")
    assert "Vous êtes déconnecté·e." in page.inner_text("main")
    page.goto(site.url("/portal"))
    assert "/login" in page.url


def test_sign_in_pages_are_accessible_in_every_language(page: Page, site: Site) -> None:
    assert_accessible_in_every_language(page, site, "/login")
    for lang in LANGUAGES:  # with an error shown
        page.goto(site.url(f"/login?lang={lang}"))
        page.fill("#username", "nobody")
        page.fill("#password", "not a password at all")
        click_and_wait(page, "main button[type=submit]")
        assert page.locator("[role=alert]").count() == 1
        assert_accessible(page)


def test_patient_pages_are_accessible_in_every_language(patient_page: Page, site: Site) -> None:
    for path in ("/portal", "/account/security", "/account/profile"):
        assert_accessible_in_every_language(patient_page, site, path)


def test_professional_pages_are_accessible_in_every_language(professional_page: Page, site: Site) -> None:
    assert professional_page.url == site.url("/workspace")
    for path in ("/workspace", "/account/security"):
        assert_accessible_in_every_language(professional_page, site, path)


def test_switch_profile_in_the_browser(patient_page: Page, site: Site) -> None:
    patient_page.goto(site.url("/account/profile?lang=en"))
    radios = patient_page.locator("input[name=patient]")
    assert radios.count() == 2
    radios.nth(1).check()
    click_and_wait(patient_page, "main button[type=submit]")
    assert patient_page.url == site.url("/portal")
    shown = patient_page.inner_text("#profile")
    assert shown.startswith("Record shown: ") and "(you)" not in shown
