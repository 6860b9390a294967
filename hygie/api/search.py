"""search (type level, GET and POST _search) — https://hl7.org/fhir/R4/http.html#search

Criteria compile to SQL over the index tables (:mod:`hygie.search.query`); results are ordered
by ``_sort`` (:mod:`hygie.search.sort`, https://hl7.org/fhir/R4/search.html#sort) then by
insertion. Pages (``_count``, https://hl7.org/fhir/R4/search.html#count) are linked with opaque
``_page`` tokens (:mod:`hygie.search.paging`, https://hl7.org/fhir/R4/http.html#paging): keyset
paging in the default order, offset paging over a snapshot with ``_sort``; a client's own
``_offset`` is still accepted. ``_include`` and ``_revinclude`` (:mod:`hygie.search.include`,
https://hl7.org/fhir/R4/search.html#include) add resources to the page with
``search.mode = include``, outside ``total`` and ``_count``.
A compartment search (``Patient/1/Observation``, https://hl7.org/fhir/R4/search.html#compartment)
is the same search with the membership condition of :mod:`hygie.api.compartment` added.

Errors (https://hl7.org/fhir/R4/search.html#errors): strict by default; with
``Prefer: handling=lenient`` criteria that cannot be applied are dropped, the links carry only the
applied parameters and an OperationOutcome entry (``search.mode = outcome``) warns about each.
``_total`` (https://hl7.org/fhir/R4/search.html#total, :func:`total`): ``accurate`` counts; absent
or ``estimate``, the count stops at ``HYGIE_SEARCH_TOTAL_LIMIT`` and ``total`` is left out above
it (PostgreSQL ``estimate``: the planner's estimate instead); ``none`` never counts. A page known
to be the last one needs no count. ``_count=0`` is answered as ``_summary=count``
(search.html#count), with an exact count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import orjson

from hygie.api.bundle_entries import search_entry
from hygie.api.checks import is_count
from hygie.api.compartment import restriction, search_path
from hygie.api.context import Env, FhirRequest, Result
from hygie.api.history import page_size
from hygie.fhir.messages import register, render
from hygie.fhir.outcome import FhirError, Issue, outcome
from hygie.search.catalog import visible
from hygie.search.include import MAX_INCLUDED, Include, is_include, parse_includes, resolve
from hygie.search.paging import Page, Token, decode, encode, fetch, invalid
from hygie.search.query import Sql, compile_criteria, compile_lenient, is_empty
from hygie.search.sort import compile_sort, sort_values
from hygie.storage.store import Version

register(
    {
        "search_param_ignored": {
            "fr": "Paramètre {name} ignoré (Prefer: handling=lenient) : {reason}",
            "en": "Parameter {name} ignored (Prefer: handling=lenient): {reason}",
        },
    }
)
TOTAL_MODES = frozenset({"none", "estimate", "accurate"})


@dataclass(frozen=True, slots=True)
class Where:
    """A compiled search condition on ``resource r`` and the query pairs it actually applied."""

    clause: str
    args: tuple[Any, ...]
    applied: list[tuple[str, str]]
    ignored: list[Issue]


def handling(req: FhirRequest) -> str:
    """``strict`` or ``lenient`` from the ``Prefer`` header (https://hl7.org/fhir/R4/http.html
    and search.html#errors); absent or unrecognised → ``strict``."""
    for token in (req.header("prefer") or "").replace(";", ",").split(","):
        key, _, value = token.strip().partition("=")
        if key.strip().lower() == "handling" and value.strip().strip('"').lower() == "lenient":
            return "lenient"
    return "strict"


def compile_where(
    env: Env,
    rtype: str,
    query: list[tuple[str, str]],
    restrict: Sql | None = None,
    *,
    lenient: bool = False,
) -> Where:
    """The condition of ``query``'s criteria (result parameters are skipped by the compiler).

    Strict: any criterion that cannot be applied raises its 400. Lenient: such criteria are
    dropped, left out of ``applied`` and reported in ``ignored`` (warnings)."""
    tz = ZoneInfo(env.settings.timezone)
    if lenient:
        found = compile_lenient(rtype, query, env.store.params, tz, base=env.base)
        parts = found.parts
        skip = {i for i, _ in found.dropped}
        applied = [pair for i, pair in enumerate(query) if i not in skip]
        ignored = [_ignored(env, query[i][0], error) for i, error in found.dropped]
    else:
        parts = compile_criteria(rtype, query, env.store.params, tz, base=env.base)
        applied, ignored = list(query), []
    clause = "r.type = ? AND r.deleted = ?"
    args: list[Any] = [rtype, False if env.store.s.dialect == "postgresql" else 0]
    policy = visible(env.store.params, "r", "s")  # the access policy, inside the query
    for part in [p for p in (restrict, policy, *parts) if p is not None]:
        clause += f" AND ({part.clause})"
        args.extend(part.args)
    return Where(clause, tuple(args), applied, ignored)


def _ignored(env: Env, name: str, error: FhirError) -> Issue:
    first = error.issues[0] if error.issues else None
    reason = render(first.key, env.lang, first.params) if first is not None else str(error.status)
    return Issue(
        first.code if first is not None else "invalid",
        "search_param_ignored",
        {"name": name[:200], "reason": reason},
        severity="warning",
    )


def _where(
    env: Env, rtype: str, criteria: list[tuple[str, str]], restrict: Sql | None = None
) -> tuple[str, list[Any]]:
    where = compile_where(env, rtype, criteria, restrict)
    return where.clause, list(where.args)


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
    return _rows(env, rtype, clause, args, limit=limit, offset=offset, sort=sort)


def _rows(
    env: Env, rtype: str, clause: str, args: Any, *, limit: int, offset: int, sort: list[str] | None
) -> list[Version]:
    order = compile_sort(rtype, sort or [], env.store.params, env.store.s.dialect)
    rows = env.store.select(
        f"SELECT r.rk FROM resource r WHERE {clause} ORDER BY {order.clause} LIMIT ? OFFSET ?",
        (*args, *order.args, limit, offset),
    )
    return env.store.read_many([r[0] for r in rows])


def included(env: Env, matches: list[Version], specs: list[Include]) -> tuple[list[Version], bool]:
    """Resources ``_include``/``_revinclude`` add to a page of ``matches``; True if capped."""
    found = resolve(
        [(v.rk, v.type, v.id) for v in matches], specs, env.store.params, env.store.select, base=env.base
    )
    versions = [v for v in env.store.read_many(found.rks) if not v.deleted]
    return versions, found.truncated


def count(env: Env, rtype: str, criteria: list[tuple[str, str]], restrict: Sql | None = None) -> int:
    clause, args = _where(env, rtype, criteria, restrict)
    return _count(env, clause, args)


def _count(env: Env, clause: str, args: Any) -> int:
    rows = env.store.select(f"SELECT count(*) FROM resource r WHERE {clause}", args)
    return int(rows[0][0]) if rows else 0


def total_mode(req: FhirRequest) -> str | None:
    """``_total`` (https://hl7.org/fhir/R4/search.html#total): ``none``, ``estimate``,
    ``accurate``, or None when absent; anything else → 400."""
    value = req.param("_total")
    if value is not None and value not in TOTAL_MODES:
        raise FhirError.of(400, "invalid", "bad_param", name="_total", value=value[:32])
    return value


def total(env: Env, mode: str | None, where: Sql, page: Page, found: int) -> int | None:
    """``Bundle.total`` of a page of ``found`` matches, or None to leave it out.

    - ``none``: None, nothing counted;
    - a page known to be the last one: its position plus its length, nothing counted;
    - ``accurate``: ``count(*)`` of the matches;
    - absent or ``estimate``: the matches counted up to ``HYGIE_SEARCH_TOTAL_LIMIT``; above it
      None (R4 lets a server leave ``total`` out), except ``estimate`` on PostgreSQL: the
      planner's row estimate (at least the limit + 1).

    Sorted pages count the matches of their snapshot (:mod:`hygie.search.paging`).
    """
    if mode == "none":
        return None
    if not page.more and page.start is not None and (found or page.start == 0):
        return page.start + found
    if page.snapshot is not None:
        where = Sql(f"{where.clause} AND {page.snapshot.clause}", (*where.args, *page.snapshot.args))
    if mode == "accurate":
        return _count(env, where.clause, where.args)
    limit = env.settings.search_total_limit
    rows = env.store.select(
        f"SELECT count(*) FROM (SELECT 1 FROM resource r WHERE {where.clause} LIMIT ?) capped",
        (*where.args, limit + 1),
    )
    counted = int(rows[0][0]) if rows else 0
    if counted <= limit:
        return counted
    if mode == "estimate" and env.store.s.dialect == "postgresql":
        return max(limit + 1, _estimate(env, where))
    return None


def _estimate(env: Env, where: Sql) -> int:
    """PostgreSQL's estimate of the number of matches (``EXPLAIN``, nothing is run)."""
    rows = env.store.select(
        f"EXPLAIN (FORMAT JSON) SELECT 1 FROM resource r WHERE {where.clause}", where.args
    )
    plan: Any = rows[0][0] if rows else None
    if isinstance(plan, (str, bytes)):
        plan = orjson.loads(plan)
    try:
        return int(plan[0]["Plan"]["Plan Rows"])
    except (TypeError, LookupError, ValueError):
        return 0


def position(req: FhirRequest) -> tuple[Token | None, int]:
    """The page asked for: a ``_page`` token (:mod:`hygie.search.paging`) or a client's
    ``_offset`` (a plain number of matches to skip; empty means 0). Both together → 400."""
    pages = [value for name, value in req.query if name == "_page"]
    offsets = [value for name, value in req.query if name == "_offset"]
    if pages and offsets:
        raise FhirError.of(400, "invalid", "page_and_offset")
    if len(pages) > 1:
        raise invalid()
    if pages:
        return decode(pages[0]), 0
    offset_text = offsets[0] if offsets and offsets[0] else "0"
    if not is_count(offset_text):
        raise FhirError.of(400, "invalid", "bad_param", name="_offset", value=offset_text[:32])
    return None, int(offset_text)


def search(env: Env, req: FhirRequest) -> Result:
    assert req.type is not None
    count_text = req.param("_count")
    count_only = req.param("_summary") == "count" or count_text == "0"  # search.html#count
    size = 0 if count_text == "0" else page_size(env, count_text)
    token, offset = position(req)
    totals = total_mode(req)
    sort = sort_values(req.query)
    order = compile_sort(req.type, sort, env.store.params, env.store.s.dialect)  # 400 early, even for counts
    specs = parse_includes(req.type, req.query, env.store.params)
    restrict = restriction(req, env.store.params, env.base)
    path = search_path(req)
    lenient = handling(req) == "lenient"
    criteria = [(k, v) for k, v in req.query if not is_include(k) and k != "_page"]
    where = compile_where(env, req.type, criteria, restrict, lenient=lenient)
    dropped = set(criteria) - set(where.applied) if where.ignored else set()
    query = [pair for pair in req.query if pair not in dropped and not is_empty(*pair)]  # as applied
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if count_only:
        bundle["total"] = _count(env, where.clause, where.args)
        bundle["link"] = [{"relation": "self", "url": _url(env, path, query)}]
        if where.ignored:
            bundle["entry"] = [_outcome_entry(env, where.ignored)]
        return Result(200, resource=bundle)
    condition = Sql(where.clause, where.args)
    page = fetch(env.store.select, condition, order if sort else None, size=size, token=token, offset=offset)
    found = env.store.read_many(page.rks)
    if (count := total(env, totals, condition, page, len(found))) is not None:
        bundle["total"] = count
    bundle["link"] = _links(env, path, query, page)
    entries = [search_entry(env, v) for v in found]
    extra, truncated = included(env, found, specs)
    entries.extend(search_entry(env, v, "include") for v in extra)
    warnings = list(where.ignored)
    if truncated:
        warnings.append(Issue("too-costly", "include_truncated", {"limit": MAX_INCLUDED}, severity="warning"))
    if warnings:
        entries.append(_outcome_entry(env, warnings))
    bundle["entry"] = entries
    return Result(200, resource=bundle)


def _links(env: Env, path: str, query: list[tuple[str, str]], page: Page) -> list[dict[str, str]]:
    """``self`` (the page as asked), ``first`` (no position), ``previous`` and ``next`` (a
    ``_page`` token after the search parameters) — https://hl7.org/fhir/R4/http.html#paging."""
    base = [(k, v) for k, v in query if k not in ("_page", "_offset")]
    links = [
        {"relation": "self", "url": _url(env, path, query)},
        {"relation": "first", "url": _url(env, path, base)},
    ]
    for relation, token in (("previous", page.previous), ("next", page.next)):
        if token is not None:
            links.append({"relation": relation, "url": _url(env, path, [*base, ("_page", encode(token))])})
    return links


def _outcome_entry(env: Env, issues: list[Issue]) -> dict[str, Any]:
    return {"resource": outcome(issues, env.lang), "search": {"mode": "outcome"}}


def _url(env: Env, path: str, query: list[tuple[str, str]]) -> str:
    return f"{env.base}/{path}" + (f"?{urlencode(query)}" if query else "")
