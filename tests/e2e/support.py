"""Browser tier helpers (Playwright driving Debian's chromium, axe-core for accessibility).

- :func:`launch_browser`: headless chromium (``HYGIE_CHROMIUM``, default ``/usr/bin/chromium``).
- :func:`start_site`: a demo-like installation — the demo population (``hygie demo``'s own
  loader, :data:`DEMO_PATIENTS` patients, seed 1: practices, a CHU, deteriorating patients with
  their monitoring alerts) in a fresh database, served by ``python -m hygie serve`` with
  authentication on. :class:`Site` then makes fresh accounts on it: a TOTP code is accepted only
  once per 30-second step, so every signed-in test gets an account of its own, linked to the
  demo's records (:meth:`Site.new_patient`, :meth:`Site.new_professional`).
- :func:`sign_in`: the real sign-in pages — username, password, then the TOTP code.
- :func:`assert_accessible`: axe-core on the current page, WCAG 2.2 A/AA, zero violations.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Playwright

from hygie.api.context import open_storage
from hygie.auth import accounts
from hygie.demo.accounts import credentials_path
from hygie.demo.load import load_demo
from hygie.demo.people import patient_id
from hygie.settings import Settings

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
LANGUAGES = ("fr", "en", "ar")
DEMO_PATIENTS = 20
PASSWORD = "vivid harbour lantern 4821"  # strong enough for hygie.auth.passwords
_AXE = Axe()


def chromium_path() -> str:
    import os

    return os.environ.get("HYGIE_CHROMIUM", "/usr/bin/chromium")


def launch_browser(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)


# --- the site -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str
    totp_secret: str | None
    fhir: str | None  # Patient/… or Practitioner/…
    display: str


@dataclass
class Site:
    """A running server on demo data, and how to make accounts on it."""

    base_url: str
    settings: Settings
    demo_accounts: list[dict[str, Any]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path

    def _account(
        self,
        kind: Any,
        display: str,
        fhir: str | None,
        organization: str | None = None,
        proxies: tuple[str, ...] = (),
        totp: bool = True,
    ) -> Credentials:
        username = f"e2e.{kind}.{secrets.token_hex(4)}"
        db, _ = open_storage(self.settings)
        secret = pyotp.random_base32(32) if totp else None

        def work(session: Any) -> None:
            now = int(time.time() * 1000)
            account = accounts.create_account(
                session,
                username=username,
                kind=kind,
                display=display,
                password=PASSWORD,
                now=now,
                fhir=fhir,
                organization=organization,
            )
            for patient in proxies:
                accounts.add_proxy(session, account, patient, "parent")
            if secret is not None:  # enrolled a minute ago: the code of now is still fresh
                code = pyotp.TOTP(secret).at(time.time() - 60)
                accounts.confirm_totp(session, account, secret, code, now - 60_000)

        try:
            db.run_sync(work)
        finally:
            db.close()
        return Credentials(username, PASSWORD, secret, fhir, display)

    def new_patient(self, index: int = 0, proxies: tuple[int, ...] = (), totp: bool = True) -> Credentials:
        """A patient account for demo patient ``index`` (acting for the demo patients
        ``proxies``), with TOTP enrolled unless ``totp`` is False."""
        return self._account(
            "patient",
            "Patiente de démonstration",
            f"Patient/{patient_id(index)}",
            proxies=tuple(patient_id(i) for i in proxies),
            totp=totp,
        )

    def new_professional(self, demo_username: str = "demo.medecin") -> Credentials:
        """A professional account with the same Practitioner and organisation as a demo account
        (``demo.medecin``: the GP of the first practice; ``demo.infirmier``: the CHU nurse)."""
        item = next(a for a in self.demo_accounts if a["username"] == demo_username)
        return self._account("professional", item["display"], item["fhir"], item["organization"])


def prepare_database(database_url: str, keys_dir: Path) -> Settings:
    """Load the demo population into ``database_url`` (keys and demo credentials in ``keys_dir``)."""
    settings = Settings(database_url=database_url, keys_dir=keys_dir)
    load_demo(settings, DEMO_PATIENTS, 1)
    return settings


def demo_accounts(settings: Settings) -> list[dict[str, Any]]:
    found = json.loads(credentials_path(settings.keys_dir).read_text(encoding="utf-8"))
    return found if isinstance(found, list) else []


# --- the browser ----------------------------------------------------------------------------------
def sign_in(page: Page, site: Site, who: Credentials, lang: str = "fr") -> None:
    """Sign in through the pages (password, then the TOTP code when asked); ends on the home
    page of the account's kind."""
    page.goto(site.url(f"/login?lang={lang}"))
    page.fill("#username", who.username)
    page.fill("#password", who.password)
    click_and_wait(page, "form[action='/login'] button[type=submit]")
    if page.locator("input[name=step][value=totp]").count():
        assert who.totp_secret is not None
        page.fill("#code", pyotp.TOTP(who.totp_secret).now())
        click_and_wait(page, "form[action='/login'] button[type=submit]")
    assert "/login" not in page.url, page.inner_text("main")


def click_and_wait(page: Page, selector: str) -> None:
    """Click what submits a form or follows a link, and wait until the next page has loaded
    (a plain click returns as soon as the navigation starts)."""
    with page.expect_navigation():
        page.click(selector)


def assert_accessible(page: Page, context: str | None = None) -> None:
    """axe-core on the page as it is now: no violation of WCAG 2.0/2.1/2.2 A and AA."""
    results = _AXE.run(page, context=context, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
    violations = results.response.get("violations", [])
    if violations:
        details = "\n".join(
            f"- {v['id']} ({v['impact']}): {v['help']}\n    "
            + "\n    ".join(str(n.get("html", ""))[:200] for n in v.get("nodes", [])[:5])
            for v in violations
        )
        raise AssertionError(f"axe found {len(violations)} violation(s) on {page.url}:\n{details}")


def assert_accessible_in_every_language(page: Page, site: Site, path: str) -> None:
    """``path`` in French, English and Arabic: right ``lang``/``dir``, zero axe violations."""
    for lang in LANGUAGES:
        separator = "&" if "?" in path else "?"
        page.goto(site.url(f"{path}{separator}lang={lang}"))
        assert page.get_attribute("html", "lang") == lang
        assert page.get_attribute("html", "dir") == ("rtl" if lang == "ar" else "ltr")
        assert_accessible(page)
