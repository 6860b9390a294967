"""Every route of the web UI, mounted by the composition root (:func:`hygie.app.create_app`).

A new page is a :class:`~hygie.web.pages.PageRoute` (``@page(...)``) listed in its area's
``PAGES`` (``hygie/web/portal/__init__.py``, ``hygie/web/workspace/__init__.py``…); this module
gathers the areas. See docs/web.md.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.routing import BaseRoute, Route

from hygie.api.http import FhirApi
from hygie.api.oauth import OAuthServer
from hygie.web import account, home, portal, workspace
from hygie.web.pages import PageRoute, WebState
from hygie.web.static import static_routes

AREAS: list[list[PageRoute]] = [home.PAGES, account.PAGES, portal.PAGES, workspace.PAGES]


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
