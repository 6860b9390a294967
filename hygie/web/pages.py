"""How a page is written: ``@page(path, who=…)`` on ``async def handler(p: Page) -> Response``.

The wrapper does, before the handler runs: language (``?lang=`` remembered in a cookie), the
signed-in person (signed out → ``303 /login``; the wrong kind of account → 403 page), the form of
a POST and its CSRF token (wrong or missing → 403 page, the handler never runs); after it: a
:class:`~hygie.web.fhir.WebFhirError` the handler let through becomes the error page of its
status, and every answer gets the security headers (:mod:`hygie.web.security`).

    @page("/portal/measurements", who="patient")
    async def measurements(p: Page) -> Response:
        bundle = await p.fhir.search("Observation", [("patient", p.patient), ("_sort", "-date")])
        return p.render("portal/measurements.html", title="measurements_title",
                        observations=resources(bundle))

    PAGES = [measurements]        # listed in hygie/web/portal/__init__.py

See docs/web.md "Adding a page".
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hygie.api.http import FhirApi
from hygie.api.oauth import OAuthServer
from hygie.auth.tokens import Principal
from hygie.logging import get_logger
from hygie.settings import Settings
from hygie.web import i18n
from hygie.web.fhir import WebFhir, WebFhirError, resources
from hygie.web.format import human_name
from hygie.web.render import Viewer, language_links, layout_values, render_page
from hygie.web.security import Form, FormError, csrf_ok, read_form, secure_page
from hygie.web.session import SESSION_COOKIE, Profiles, SignedIn, signed_in, web_principal

log = get_logger("hygie.web")
Who = Literal["anyone", "signed-in", "patient", "professional"]
WARNING_MINUTES = 15  # the session-end warning shows in the last quarter of an hour
ERROR_KEYS = {400: "error_bad_request", 403: "error_forbidden", 404: "error_not_found", 409: "error_conflict"}


@dataclass(slots=True)
class WebState:
    """What every page shares: the FHIR API, the authorization server (its clock), the
    current profiles. Built by :func:`hygie.web.routes.web_routes`."""

    api: Callable[[], FhirApi]
    server: Callable[[], OAuthServer]
    profiles: Profiles = field(default_factory=Profiles)


@dataclass(slots=True)
class Page:
    """One page request, as the handler sees it."""

    request: Request
    state: WebState
    lang: str
    now_ms: int
    who: SignedIn | None = None
    form: Form = field(default_factory=lambda: Form([]))
    _fhir: WebFhir | None = None

    # -- who and what ---------------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self.state.api().settings

    @property
    def user(self) -> SignedIn:
        """The signed-in person (pages with ``who`` other than ``anyone`` always have one)."""
        assert self.who is not None, "this page does not require a signed-in person"
        return self.who

    @property
    def patient(self) -> str:
        """The patient whose record a patient account is looking at (its own, or the one chosen
        with "switch profile"). Portal pages read and write this record only."""
        profile = self.state.profiles.current(self.user)
        assert profile is not None, "only patient accounts linked to a Patient have a record"
        return profile

    @property
    def principal(self) -> Principal:
        return web_principal(self.user, self.state.profiles.current(self.user))

    @property
    def fhir(self) -> WebFhir:
        """FHIR calls as the signed-in person (policy-filtered, audited): hygie.web.fhir."""
        if self._fhir is None:
            self._fhir = WebFhir.for_request(self.state.api(), self.principal, self.request, self.lang)
        return self._fhir

    @property
    def csrf(self) -> str:
        return self.who.session.csrf if self.who is not None else ""

    async def record_names(self) -> dict[str, str]:
        """Display names of the records a patient account may switch to, read once per session
        (through the audited FHIR path) and kept with the session."""
        who = self.user
        names = self.state.profiles.names(who)
        missing = [pid for pid in who.patients if pid not in names]
        if missing:
            bundle = await self.fhir.search("Patient", [("_id", ",".join(missing)), ("_count", "100")])
            found = {str(r.get("id")): human_name(r) for r in resources(bundle)}
            names.update({pid: found.get(pid) or self.t("profile_record", id=pid) for pid in missing})
            self.state.profiles.remember_names(who, names)
        return names

    def t(self, key: str, **params: Any) -> str:
        return i18n.text(key, self.lang, **params)

    def local_time(self, ms: int, fmt: str = "%H:%M") -> str:
        """An instant (epoch ms) as local time of the server's zone (``HYGIE_TIMEZONE``)."""
        return datetime.fromtimestamp(ms / 1000, ZoneInfo(self.settings.timezone)).strftime(fmt)

    # -- answers ----------------------------------------------------------------------------------
    def render(
        self,
        template: str,
        *,
        title: str,
        status: int = 200,
        nav: str | None = None,
        **values: Any,
    ) -> Response:
        """``template`` inside the layout; ``title`` is a message key (or a text)."""
        layout = layout_values(
            self.lang,
            title=title,
            viewer=self.viewer(),
            links=language_links(  # the same view (period, measure, page…) in another language
                self.request.url.path, {k: v for k, v in self.request.query_params.items() if k != "lang"}
            ),
            nav=nav,
        )
        return render_page(template, {**layout, "csrf": self.csrf, **values}, status=status)

    def redirect(self, url: str) -> Response:
        """``303 See Other`` to ``url`` (after a POST, or to another page)."""
        return RedirectResponse(url, status_code=303)

    def error(self, status: int, key: str | None = None) -> Response:
        """The friendly error page (``key``: a message; by default the one of ``status``)."""
        message = key or ERROR_KEYS.get(status, "error_unavailable")
        return self.render("error.html", title="error_title", status=status, message=message)

    def viewer(self) -> Viewer | None:
        who = self.who
        if who is None:
            return None
        expires = who.session.expires
        left = max(0, math.ceil((expires - self.now_ms) / 60_000))
        profile_name = None
        if len(who.patients) > 1:
            current = self.state.profiles.current(who) or ""
            names = self.state.profiles.names(who)
            profile_name = names.get(current) or self.t("profile_record", id=current)
        return Viewer(
            name=who.account.display,
            kind=who.kind,
            session_ends=self.local_time(expires),
            minutes_left=left,
            ending_soon=left <= WARNING_MINUTES,
            csrf=who.session.csrf,
            profile_name=profile_name,
            can_switch=len(who.patients) > 1,
        )


Handler = Callable[[Page], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class PageRoute:
    """A page: its path, who may see it, its methods and handler (see :func:`page`)."""

    path: str
    handler: Handler
    who: Who = "signed-in"
    methods: tuple[str, ...] = ("GET",)

    def route(self, state: WebState) -> Route:
        async def endpoint(request: Request) -> Response:
            return await serve(state, self, request)

        return Route(self.path, endpoint, methods=list(self.methods), name=self.handler.__name__)


def page(
    path: str, *, who: Who = "signed-in", methods: Iterable[str] = ("GET",)
) -> Callable[[Handler], PageRoute]:
    """Declare a page (see the module docstring). ``who``: ``anyone``, ``signed-in``,
    ``patient`` (a patient account with a record) or ``professional``. POST pages get their
    form in ``p.form``, CSRF-checked."""

    def declare(handler: Handler) -> PageRoute:
        return PageRoute(path, handler, who, tuple(m.upper() for m in methods))

    return declare


async def serve(state: WebState, route: PageRoute, request: Request) -> Response:
    """Run one page (the wrapper described in the module docstring)."""
    api, server = state.api(), state.server()
    settings = api.settings
    lang = i18n.choose(
        request.query_params.get("lang"),
        request.cookies.get(i18n.LANG_COOKIE),
        request.headers.get("accept-language"),
        settings.default_language,
    )
    p = Page(request, state, lang, server.now_ms())
    if route.who != "anyone" or request.cookies.get(SESSION_COOKIE):
        p.who = await signed_in(
            api.db, request.cookies.get(SESSION_COOKIE), now_ms=p.now_ms, hours=settings.strong_session_hours
        )
    response = await _checked(p, route)
    secure = request.url.scheme == "https" or (settings.base_url or "").startswith("https:")
    return finish(request, response, lang, secure=secure)


async def _checked(p: Page, route: PageRoute) -> Response:
    if route.who != "anyone":
        if p.who is None:
            return p.redirect(f"/login?lang={p.lang}")
        if route.who == "patient" and (p.who.kind != "patient" or not p.who.patients):
            return p.error(403)
        if route.who == "professional" and p.who.kind != "professional":
            return p.error(403)
    if p.request.method == "POST" and "POST" in route.methods:  # (a missing page takes none)
        try:
            p.form = await read_form(p.request)
        except FormError:
            return p.error(400, "bad_form")
        if not csrf_ok(p.form.get("csrf"), p.csrf):
            return p.error(403, "csrf_failed")
    try:
        if len(p.who.patients if p.who is not None else ()) > 1:
            await p.record_names()  # the header names the record shown
        return await route.handler(p)
    except WebFhirError as failure:
        return p.error(shown_status(failure.status))
    except Exception:  # a bug: logged with its traceback (no patient data), a friendly page shown
        reference = secrets.token_hex(6)
        log.exception("page_failed", page=route.path, reference=reference)
        return p.error(500, "error_unavailable")


def shown_status(api_status: int) -> int:
    """The status of the page shown when the FHIR API refused what a page asked: gone is not
    found; a refusal the page has no words for (412, 422…) is still the reader's request that
    failed (400), never a server error; only the API's own failures are 503."""
    if api_status in (404, 410):
        return 404
    if api_status in ERROR_KEYS:
        return api_status
    return 400 if 400 <= api_status < 500 else 503


def finish(request: Request, response: Response, lang: str, *, secure: bool = False) -> Response:
    """Security headers, and the language cookie when ``?lang=`` chose one."""
    if request.query_params.get("lang") == lang and request.cookies.get(i18n.LANG_COOKIE) != lang:
        remember_language(response, lang, secure=secure)
    if response.headers.get("content-type", "").startswith("text/html"):
        secure_page(response)
    else:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def remember_language(response: Response, lang: str, *, secure: bool) -> None:
    response.set_cookie(
        i18n.LANG_COOKIE,
        lang,
        max_age=i18n.LANG_COOKIE_MAX_AGE,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )
