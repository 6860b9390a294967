"""Regenerate ``docs/screenshots/*.png``: ``python -m tests.e2e.screenshots [NAME…]``
(or ``bash scripts/screenshots.sh``).

Builds a demo installation in a temporary directory (the e2e tier's :func:`start`: demo
population, ``hygie serve`` with authentication on), signs in a patient (demo patient 1, acting
for demo patient 2) and a professional (the demo GP's practice) with fresh accounts, and takes a
full-page screenshot (1280 px wide) of every :class:`Shot` listed in the ``SHOTS`` of the
``tests/e2e/shots_*.py`` modules — one module per area of the UI (``shots_core``, ``shots_portal``,
``shots_workspace``…). With names on the command line, only those shots are taken.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


@dataclass(frozen=True)
class Shot:
    """One screenshot: ``docs/screenshots/{name}.png`` of ``path`` in ``lang``, seen by ``who``
    (``None``: signed out, ``patient``, ``professional``); ``prepare(page)`` may click or fill
    something first."""

    name: str
    path: str
    who: str | None = None
    lang: str = "fr"
    prepare: Callable[[Page], None] | None = None


def all_shots() -> list[Shot]:
    package = importlib.import_module("tests.e2e")
    shots: list[Shot] = []
    modules = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("shots_"))
    for module in modules:
        shots.extend(importlib.import_module(f"tests.e2e.{module}").SHOTS)
    return shots


def main(names: list[str]) -> int:
    from tests.conftest import LiveServer
    from tests.e2e.support import Site, demo_accounts, launch_browser, prepare_database, sign_in

    shots = [s for s in all_shots() if not names or s.name in names]
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hygie-shots-") as tmp:
        work = Path(tmp)
        settings = prepare_database(f"sqlite:///{(work / 'hygie.db').as_posix()}", work / "keys")
        env = {
            "HYGIE_AUTH_REQUIRED": "true",
            "HYGIE_KEYS_DIR": str(settings.keys_dir),
            "HYGIE_LOGIN_ATTEMPTS_PER_MINUTE": "6000",  # every shot signs in from this address
            "HYGIE_LOGIN_BURST": "1000",
        }
        server = LiveServer(settings.database_url, work, env)
        server.start()
        try:
            site = Site(server.base_url, settings, demo_accounts(settings))
            with sync_playwright() as playwright:
                browser = launch_browser(playwright)
                contexts: dict[str | None, BrowserContext] = {}
                for who in sorted({s.who for s in shots}, key=str):
                    ctx = contexts[who] = browser.new_context(viewport=VIEWPORT, locale="fr-FR")  # type: ignore[arg-type]
                    if who == "patient":
                        sign_in(ctx.new_page(), site, site.new_patient(0, proxies=(1,)))
                    elif who == "professional":
                        sign_in(ctx.new_page(), site, site.new_professional("demo.medecin"))
                for shot in shots:
                    page = contexts[shot.who].new_page()
                    separator = "&" if "?" in shot.path else "?"
                    page.goto(site.url(f"{shot.path}{separator}lang={shot.lang}"))
                    if shot.prepare is not None:
                        shot.prepare(page)
                    page.screenshot(path=str(OUT / f"{shot.name}.png"), full_page=True)
                    page.close()
                    print(f"docs/screenshots/{shot.name}.png")
                browser.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
