"""history (instance, type, system) — https://hl7.org/fhir/R4/http.html#history

Newest first. Paging is keyset-based on the global version sequence: the ``next`` link carries
an opaque ``_cursor`` (the last sequence number seen), so pages stay consistent while new
versions are written (they only appear on a fresh first page).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from hygie.api.bundle_entries import history_entry
from hygie.api.checks import is_count
from hygie.api.context import Env, FhirRequest, Result
from hygie.fhir.outcome import FhirError
from hygie.search.ranges import date_range

ALLOWED = frozenset({"_since", "_count", "_cursor", "_format", "_pretty", "_summary", "_elements"})


def history(env: Env, req: FhirRequest) -> Result:
    for name, _ in req.query:
        if name not in ALLOWED:
            raise FhirError.of(400, "not-supported", "bad_param", name=name[:64], value="")
    since = _instant(env, req, "_since")
    count = page_size(env, req.param("_count"))
    cursor_text = req.param("_cursor")
    cursor = None
    if cursor_text is not None:
        if not cursor_text.isascii() or not cursor_text.isdigit() or len(cursor_text) > 18:
            raise FhirError.of(400, "invalid", "bad_param", name="_cursor", value=cursor_text[:32])
        cursor = int(cursor_text)
    if req.id is not None and req.type is not None and env.store.read(req.type, req.id) is None:
        raise FhirError.of(404, "not-found", "not_found", type=req.type, id=req.id)
    versions = env.store.history(req.type, req.id, since=since, before_seq=cursor, limit=count + 1)
    more = len(versions) > count
    versions = versions[:count]
    path = "/".join(p for p in (req.type, req.id) if p) + ("/_history" if req.type else "_history")
    kept = [(k, v) for k, v in req.query if k not in ("_cursor",)]
    links = [{"relation": "self", "url": _url(env, path, req.query)}]
    if cursor is not None:
        links.append({"relation": "first", "url": _url(env, path, kept)})
    if more and versions:
        links.append(
            {"relation": "next", "url": _url(env, path, [*kept, ("_cursor", str(versions[-1].seq))])}
        )
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "history",
        "link": links,
        "entry": [history_entry(env, v) for v in versions],
    }
    return Result(200, resource=bundle)


def page_size(env: Env, value: str | None) -> int:
    if value is None:
        return env.settings.default_page_size
    if not is_count(value):
        raise FhirError.of(400, "invalid", "bad_param", name="_count", value=value[:32])
    return max(1, min(int(value), env.settings.max_page_size))


def _instant(env: Env, req: FhirRequest, name: str) -> int | None:
    value = req.param(name)
    if value is None:
        return None
    rng = date_range(value, ZoneInfo(env.settings.timezone))  # its earliest moment
    if rng is None:
        raise FhirError.of(400, "invalid", "bad_param", name=name, value=value[:40])
    return rng[0]


def _url(env: Env, path: str, query: list[tuple[str, str]]) -> str:
    return f"{env.base}/{path}" + (f"?{urlencode(query)}" if query else "")
