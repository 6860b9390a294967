"""search (type level, GET and POST _search) — https://hl7.org/fhir/R4/http.html#search

First cut: criteria compile to SQL over the index tables (:mod:`hygie.search.query`), results
ordered by insertion, paged with ``_count``/``_offset``; ``_summary=count`` and ``_total``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from hygie.api.bundle_entries import search_entry
from hygie.api.checks import is_count
from hygie.api.context import Env, FhirRequest, Result
from hygie.api.history import page_size
from hygie.fhir.outcome import FhirError
from hygie.search.query import compile_criteria
from hygie.storage.store import Version


def _where(env: Env, rtype: str, criteria: list[tuple[str, str]]) -> tuple[str, list[Any]]:
    parts = compile_criteria(rtype, criteria, env.store.params, ZoneInfo(env.settings.timezone))
    clause = "r.type = ? AND r.deleted = ?"
    args: list[Any] = [rtype, False if env.store.s.dialect == "postgresql" else 0]
    for part in parts:
        clause += f" AND ({part.clause})"
        args.extend(part.args)
    return clause, args


def find(
    env: Env, rtype: str, criteria: list[tuple[str, str]], *, limit: int, offset: int = 0
) -> list[Version]:
    clause, args = _where(env, rtype, criteria)
    rows = env.store.select(
        f"SELECT r.rk FROM resource r WHERE {clause} ORDER BY r.rk LIMIT ? OFFSET ?", (*args, limit, offset)
    )
    return env.store.read_many([r[0] for r in rows])


def count(env: Env, rtype: str, criteria: list[tuple[str, str]]) -> int:
    clause, args = _where(env, rtype, criteria)
    rows = env.store.select(f"SELECT count(*) FROM resource r WHERE {clause}", args)
    return int(rows[0][0]) if rows else 0


def search(env: Env, req: FhirRequest) -> Result:
    assert req.type is not None
    size = page_size(env, req.param("_count"))
    offset_text = req.param("_offset") or "0"
    if not is_count(offset_text):
        raise FhirError.of(400, "invalid", "bad_param", name="_offset", value=offset_text[:32])
    offset = int(offset_text)
    summary = req.param("_summary")
    total_mode = req.param("_total") or "accurate"
    criteria = [(k, v) for k, v in req.query]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if summary == "count":
        bundle["total"] = count(env, req.type, criteria)
        bundle["link"] = [{"relation": "self", "url": _url(env, req.type, req.query)}]
        return Result(200, resource=bundle)
    found = find(env, req.type, criteria, limit=size + 1, offset=offset)
    more = len(found) > size
    found = found[:size]
    if total_mode == "accurate":
        bundle["total"] = (
            offset + len(found) if not more and (found or offset == 0) else count(env, req.type, criteria)
        )
    base = [(k, v) for k, v in req.query if k != "_offset"]
    links = [{"relation": "self", "url": _url(env, req.type, req.query)}]
    if offset:
        links.append({"relation": "first", "url": _url(env, req.type, base)})
        links.append(
            {
                "relation": "previous",
                "url": _url(env, req.type, [*base, ("_offset", str(max(0, offset - size)))]),
            }
        )
    if more:
        links.append(
            {"relation": "next", "url": _url(env, req.type, [*base, ("_offset", str(offset + size))])}
        )
    bundle["link"] = links
    bundle["entry"] = [search_entry(env, v) for v in found]
    return Result(200, resource=bundle)


def _url(env: Env, rtype: str, query: list[tuple[str, str]]) -> str:
    return f"{env.base}/{rtype}" + (f"?{urlencode(query)}" if query else "")
