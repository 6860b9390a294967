"""Every route of the web UI, mounted by the composition root (:func:`hygie.app.create_app`).

A new page is a :class:`~hygie.web.pages.PageRoute` (``@page(...)``) listed in its area's
``PAGES`` (``hygie/web/portal/__init__.py``, ``hygie/web/workspace/__init__.py``…); this module
gathers the areas. See docs/web.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hygie.api.http import FhirApi
from hygie.api.oauth import OAuthServer
from hygie.web import account, home, portal, workspace
from hygie.web.pages import Page, PageRoute, WebState, serve
from hygie.web.static import static_routes

AREAS: list[list[PageRoute]] = [home.PAGES, account.PAGES, portal.PAGES, workspace.PAGES]
# Paths under these belong to the web UI: one that no page has gets the web's own 404 page.
WEB_PREFIXES = tuple(f"/{area}/" for area in ("portal", "workspace", "account"))


def web_routes(api: Callable[[], FhirApi], server: Callable[[], OAuthServer]) -> list[BaseRoute]:
    """The pages and static files; ``api`` and ``server`` resolve the running FHIR API and
    authorization server (created at start-up)."""
    state = WebState(api, server)
    routes: list[Route] = [*static_routes()]
    for pages in AREAS:
        routes.extend(p.route(state) for p in pages)
    for route in routes:
        setattr(route.endpoint, WEB_MARK, True)
    return list(routes)


WEB_MARK = "hygie_web_page"


def is_web_route(route: BaseRoute) -> bool:
    """A route of the web UI (HTML pages and their static files, docs/web.md) rather than an API
    endpoint (the OpenAPI document describes the latter only)."""
    return isinstance(route, Route) and bool(getattr(route.endpoint, WEB_MARK, False))


async def not_found(p: Page) -> Response:
    return p.error(404)


def missing_page(
    api: Callable[[], FhirApi], server: Callable[[], OAuthServer]
) -> Callable[[Request], Awaitable[Response]]:
    """The answer to a path under :data:`WEB_PREFIXES` that no route has (whatever the method):
    the friendly 404 page in the reader's language, with the layout and security headers of every
    page, rather than the FHIR API's OperationOutcome. The composition root calls it from its
    404 handler, so a page asked with a method it does not take still answers 405."""
    state = WebState(api, server)

    async def answer(request: Request) -> Response:
        return await serve(state, PageRoute(request.url.path, not_found, "anyone", ()), request)

    return answer
