"""Fixtures of the browser tier (docs/testing.md "Browser tests"; helpers in tests/e2e/support.py).

- ``browser``: one headless chromium for the whole session (pytest-xdist: one per worker).
- ``site``: one demo installation per backend for the whole session (``python -m hygie serve`` on
  a database holding the demo population, authentication on), parametrized like
  ``database_url``: every test using it runs as ``[sqlite]`` and ``[postgresql]``
  (``HYGIE_TEST_BACKENDS`` narrows it).
- ``page``: a fresh browser context and page (no cookies) for one test.
- ``patient`` / ``professional``: a fresh account of the test's own (:class:`Credentials`) — a
  patient of the demo (record ``demo-p00001``, acting for ``demo-p00002`` too) or a professional
  sharing the demo GP's Practitioner and practice (so, their patients and alerts).
- ``patient_page`` / ``professional_page``: ``page`` already signed in with that account (password
  + TOTP), on its home page (``/portal`` or ``/workspace``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.conftest import LiveServer, selected_backends
from tests.e2e.support import Credentials, Site, demo_accounts, launch_browser, prepare_database, sign_in


# Module scope, not session: a live Playwright (sync API) keeps an event loop running in this
# thread, and the other tests that a worker runs afterwards call asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch_browser(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(
    scope="session",
    params=[
        pytest.param(b, id=b, marks=[pytest.mark.postgres] if b == "postgresql" else [])
        for b in ("sqlite", "postgresql")
        if b in selected_backends()
    ],
)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp(f"e2e-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{(workdir / 'hygie.db').as_posix()}"
        cleanup = None
    else:
        databases = request.getfixturevalue("postgres_databases")
        url = databases.create()
        cleanup = databases
    settings = prepare_database(url, workdir / "keys")
    # Every browser test signs in from the same address: the sign-in throttle (10 a minute by
    # default, tested in tests/auth) would refuse the later tests of a run.
    env = {
        "HYGIE_AUTH_REQUIRED": "true",
        "HYGIE_KEYS_DIR": str(Path(settings.keys_dir)),
        "HYGIE_LOGIN_ATTEMPTS_PER_MINUTE": "6000",
        "HYGIE_LOGIN_BURST": "1000",
    }
    server = LiveServer(url, workdir, env)
    server.start()
    try:
        yield Site(server.base_url, settings, demo_accounts(settings))
    finally:
        server.stop()
        if cleanup is not None:
            cleanup.drop(url)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def patient(site: Site) -> Credentials:
    """A fresh patient account on demo patient 1 (``demo-p00001``), acting for ``demo-p00002``."""
    return site.new_patient(0, proxies=(1,))


@pytest.fixture
def professional(site: Site) -> Credentials:
    """A fresh professional account: the demo GP's Practitioner and practice (their patients)."""
    return site.new_professional("demo.medecin")


@pytest.fixture
def patient_page(page: Page, site: Site, patient: Credentials) -> Page:
    sign_in(page, site, patient)
    return page


@pytest.fixture
def professional_page(page: Page, site: Site, professional: Credentials) -> Page:
    sign_in(page, site, professional)
    return page
