"""``/``: where everybody starts — the sign-in page when signed out, else the home of one's kind
(patients: the portal, professionals: the workspace, administrators: account security)."""

from __future__ import annotations

from starlette.responses import Response

from hygie.web.pages import Page, page

HOMES = {"patient": "/portal", "professional": "/workspace", "admin": "/account/security"}


@page("/", who="anyone")
async def root(p: Page) -> Response:
    if p.who is None:
        return p.redirect(f"/login?lang={p.lang}")
    return p.redirect(HOMES.get(p.who.kind, "/account/security"))


PAGES = [root]
