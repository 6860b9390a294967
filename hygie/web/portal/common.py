"""What the portal's pages share: the time zone, the record shown, the section menu."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response

from hygie.web.fhir import resources
from hygie.web.pages import Page

MAX_LIST = 200  # one search page: the portal never lists more of one kind at once


@dataclass(frozen=True, slots=True)
class Section:
    """An entry of the portal's section menu (``portal/_portal.html``)."""

    key: str  # the page's name, also its message key ``nav_<key>``
    path: str


SECTIONS = (
    Section("summary", "/portal"),
    Section("measurements", "/portal/measurements"),
    Section("documents", "/portal/documents"),
    Section("messages", "/portal/messages"),
    Section("access", "/portal/access"),
    Section("privacy", "/portal/privacy"),
    Section("record", "/portal/record"),
)


def zone(p: Page) -> ZoneInfo:
    """The server's time zone: every time of the portal is shown on that clock."""
    return ZoneInfo(p.settings.timezone)


async def search_all(p: Page, resource_type: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The matches of one search page of at most :data:`MAX_LIST` resources."""
    bundle = await p.fhir.search(resource_type, [*params, ("_count", str(MAX_LIST))])
    return resources(bundle)


def render(p: Page, template: str, *, title: str, section: str, status: int = 200, **values: Any) -> Response:
    """``p.render`` with the portal's menu (``sections``, the ``current`` one)."""
    return p.render(
        template,
        title=title,
        nav="portal",
        status=status,
        sections=SECTIONS,
        current=section,
        **values,
    )
