"""Every page of the portal (both databases): in French, English and Arabic with no untranslated
text, its section marked in the menu, CSRF on every form, no inline script or style, and under
100 KB with its CSS."""

from __future__ import annotations

import re
from datetime import timedelta

from hygie.settings import Settings
from tests.security.smart_support import installation
from tests.web.portal.support import NOW, ingest, seed
from tests.web.support import form_fields, login

MAX_PAGE_BYTES = 100 * 1024
PAGES = {
    "/portal": "/portal",
    "/portal/measurements": "/portal/measurements",
    "/portal/measurements?measure=heart-rate&period=year": "/portal/measurements",
    "/portal/measurements?measure=body-weight&period=month": "/portal/measurements",
    "/portal/documents": "/portal/documents",
    "/portal/messages": "/portal/messages",
    "/portal/access": "/portal/access",
    "/portal/privacy": "/portal/privacy",
    "/portal/record": "/portal/record",
}


def test_every_portal_page_in_every_language(settings: Settings) -> None:
    with installation(settings) as inst:
        seed(inst)
        # a year of hourly heart rate: the heaviest chart and table the portal draws
        ingest(
            inst,
            "alice",
            "heart-rate",
            "/min",
            [60 + i % 30 for i in range(24 * 366)],
            start=NOW - timedelta(days=366),
            period=3600,
        )
        login(inst, "alice", lang="en")
        csrf = form_fields(inst.http.get("/account/profile").text, "/account/profile")["csrf"]
        css = sum(
            len(inst.http.get(u).content)
            for u in re.findall(r'href="(/static/[^"]+)"', inst.http.get("/portal").text)
        )
        for lang in ("fr", "en", "ar"):
            for path, section in PAGES.items():
                separator = "&" if "?" in path else "?"
                page = inst.http.get(f"{path}{separator}lang={lang}")
                assert page.status_code == 200, (path, lang)
                text = page.text
                assert f'<html lang="{lang}" dir="{"rtl" if lang == "ar" else "ltr"}">' in text
                assert not re.search(r">[^<]*\bpt_[a-z_]+", text), (
                    path,
                    lang,
                    re.findall(r"\bpt_[a-z_]+", text)[:3],
                )
                assert f'<a href="{section}" aria-current="page">' in text, (path, lang)
                assert "<script" not in text and " style=" not in text and "<style" not in text
                for form in re.findall(r'<form method="post".*?</form>', text, re.S):
                    assert f'name="csrf" value="{csrf}"' in form, (path, form[:80])
                assert len(page.content) + css < MAX_PAGE_BYTES, (path, lang, len(page.content))
