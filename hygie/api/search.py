"""search (type level, GET and POST _search) — https://hl7.org/fhir/R4/http.html#search

Criteria compile to SQL over the index tables (:mod:`hygie.search.query`); results are ordered
by ``_sort`` (:mod:`hygie.search.sort`, https://hl7.org/fhir/R4/search.html#sort) then by
insertion, paged with ``_count``/``_offset``; ``_summary=count`` and ``_total``. ``_include`` and
``_revinclude`` (:mod:`hygie.search.include`, https://hl7.org/fhir/R4/search.html#include) add
resources to the page with ``search.mode = include``, outside ``total`` and ``_count``.
A compartment search (``Patient/1/Observation``, https://hl7.org/fhir/R4/search.html#compartment)
is the same search with the membership condition of :mod:`hygie.api.compartment` added.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from hygie.api.bundle_entries import search_entry
from hygie.api.checks import is_count
from hygie.api.compartment import restriction, search_path
from hygie.api.context import Env, FhirRequest, Result
from hygie.api.history import page_size
from hygie.fhir.outcome import FhirError, Issue, outcome
from hygie.search.include import MAX_INCLUDED, Include, is_include, parse_includes, resolve
from hygie.search.query import Sql, compile_criteria
from hygie.search.sort import compile_sort, sort_values
from hygie.storage.store import Version


def _where(
    env: Env, rtype: str, criteria: list[tuple[str, str]], restrict: Sql | None = None
) -> tuple[str, list[Any]]:
    parts = compile_criteria(rtype, criteria, env.store.params, ZoneInfo(env.settings.timezone))
    clause = "r.type = ? AND r.deleted = ?"
    args: list[Any] = [rtype, False if env.store.s.dialect == "postgresql" else 0]
    for part in [restrict, *parts] if restrict is not None else parts:
        clause += f" AND ({part.clause})"
        args.extend(part.args)
    return clause, args


def find(
    env: Env,
    rtype: str,
    criteria: list[tuple[str, str]],
    *,
    limit: int,
    offset: int = 0,
    sort: list[str] | None = None,
    restrict: Sql | None = None,
) -> list[Version]:
    """Current matches in ``_sort`` order (``sort``: keys as in :func:`sort_values`), then by key.

    ``restrict``: an extra condition on ``r`` (a compartment, :func:`hygie.api.compartment.restriction`).
    """
    clause, args = _where(env, rtype, criteria, restrict)
    order = compile_sort(rtype, sort or [], env.store.params, env.store.s.dialect)
    rows = env.store.select(
        f"SELECT r.rk FROM resource r WHERE {clause} ORDER BY {order.clause} LIMIT ? OFFSET ?",
        (*args, *order.args, limit, offset),
    )
    return env.store.read_many([r[0] for r in rows])


def included(env: Env, matches: list[Version], specs: list[Include]) -> tuple[list[Version], bool]:
    """Resources ``_include``/``_revinclude`` add to a page of ``matches``; True if capped."""
    found = resolve([(v.rk, v.type, v.id) for v in matches], specs, env.store.params, env.store.select)
    versions = [v for v in env.store.read_many(found.rks) if not v.deleted]
    return versions, found.truncated


def count(env: Env, rtype: str, criteria: list[tuple[str, str]], restrict: Sql | None = None) -> int:
    clause, args = _where(env, rtype, criteria, restrict)
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
    criteria = [(k, v) for k, v in req.query if not is_include(k)]
    sort = sort_values(req.query)
    compile_sort(req.type, sort, env.store.params, env.store.s.dialect)  # 400 early, even for counts
    specs = parse_includes(req.type, req.query, env.store.params)
    restrict = restriction(req, env.store.params)
    path = search_path(req)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if summary == "count":
        bundle["total"] = count(env, req.type, criteria, restrict)
        bundle["link"] = [{"relation": "self", "url": _url(env, path, req.query)}]
        return Result(200, resource=bundle)
    found = find(env, req.type, criteria, limit=size + 1, offset=offset, sort=sort, restrict=restrict)
    more = len(found) > size
    found = found[:size]
    if total_mode == "accurate":
        bundle["total"] = (
            offset + len(found)
            if not more and (found or offset == 0)
            else count(env, req.type, criteria, restrict)
        )
    base = [(k, v) for k, v in req.query if k != "_offset"]
    links = [{"relation": "self", "url": _url(env, path, req.query)}]
    if offset:
        links.append({"relation": "first", "url": _url(env, path, base)})
        links.append(
            {
                "relation": "previous",
                "url": _url(env, path, [*base, ("_offset", str(max(0, offset - size)))]),
            }
        )
    if more:
        links.append({"relation": "next", "url": _url(env, path, [*base, ("_offset", str(offset + size))])})
    bundle["link"] = links
    entries = [search_entry(env, v) for v in found]
    extra, truncated = included(env, found, specs)
    entries.extend(search_entry(env, v, "include") for v in extra)
    if truncated:
        warning = Issue("too-costly", "include_truncated", {"limit": MAX_INCLUDED}, severity="warning")
        entries.append({"resource": outcome([warning], env.lang), "search": {"mode": "outcome"}})
    bundle["entry"] = entries
    return Result(200, resource=bundle)


def _url(env: Env, path: str, query: list[tuple[str, str]]) -> str:
    return f"{env.base}/{path}" + (f"?{urlencode(query)}" if query else "")
