"""Rendering: the Jinja2 environment, static file URLs and the layout's common values.

Templates live in ``hygie/web/templates`` (``layout.html`` is the page frame every page extends;
``macros.html`` the form and content components). Autoescaping is on for every template. Each
template receives :func:`layout_values` (language, direction, texts, the signed-in person…) plus
the page's own values, and calls ``t('key', field=…)`` for texts (:mod:`hygie.web.i18n`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse

from hygie.web import i18n
from hygie.web.security import secure_page

STATIC_FILES = ("hygie.css", "favicon.svg")


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("hygie.web", "templates"),
        autoescape=select_autoescape(("html",), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static_url
    env.globals["bdi"] = bdi
    return env


def bdi(value: object) -> Markup:
    """``value`` isolated from the surrounding text direction (a Latin name in an Arabic
    sentence, an Arabic name in a French one): ``<bdi>`` (HTML "bidi isolate")."""
    return Markup("<bdi>{}</bdi>").format(value)


def translate(key: str, lang: str, **params: Any) -> Markup:
    """A text for templates: the catalogue's text with its fields escaped — except fields that
    are markup already (:func:`bdi`) — so ``t('signed_in_as', name=bdi(name))`` keeps the name
    isolated and escaped."""
    if not i18n.has(key):
        return escape(key)
    template = escape(i18n.text(key, lang))
    if not params:
        return template
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


@cache
def static_digest(name: str) -> str:
    """A short digest of a static file, appended to its URL so browsers may cache it for ever."""
    data = resources.files("hygie.web").joinpath("static", name).read_bytes()
    return hashlib.sha256(data).hexdigest()[:12]


def static_url(name: str) -> str:
    return f"/static/{name}?v={static_digest(name)}"


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is signed in, as the layout shows it (header: name, role, record shown, session end)."""

    name: str
    kind: str  # patient, professional, admin
    session_ends: str  # "14:05"
    minutes_left: int
    ending_soon: bool  # the last 15 minutes: a visible warning
    csrf: str
    profile_name: str | None = None  # the record shown, when the account acts for others
    can_switch: bool = False


def language_links(path: str, params: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """The language switch: one link per language to ``path`` with ``params`` and ``lang``."""
    links = []
    for code in i18n.LANGUAGES:
        query = urlencode({**(params or {}), "lang": code})
        links.append({"code": code, "name": i18n.NAMES[code], "href": f"{path}?{query}"})
    return links


def layout_values(
    lang: str,
    *,
    title: str,
    viewer: Viewer | None = None,
    links: list[dict[str, str]] | None = None,
    nav: str | None = None,
) -> dict[str, Any]:
    """What ``layout.html`` needs. ``title``: a message key or text; ``nav``: the current
    section (``portal``, ``workspace``, ``account``) for the main menu."""

    def t(key: str, **params: Any) -> Markup:
        return translate(key, lang, **params)

    return {
        "lang": lang,
        "dir": i18n.direction(lang),
        "t": t,
        "title": i18n.text(title, lang) if i18n.has(title) else title,
        "viewer": viewer,
        "languages": links if links is not None else language_links("/"),
        "nav": nav,
    }


def render_page(
    template: str,
    values: Mapping[str, Any],
    *,
    status: int = 200,
    form_targets: Iterable[str] = (),
) -> HTMLResponse:
    """The HTML response of ``template`` with the web UI's security headers."""
    html = environment().get_template(template).render(**values)
    return secure_page(HTMLResponse(html, status_code=status), form_targets)
