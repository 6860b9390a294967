"""search (type level, GET and POST _search) — https://hl7.org/fhir/R4/http.html#search

Criteria compile to SQL over the index tables (:mod:`hygie.search.query`); results are ordered
by ``_sort`` (:mod:`hygie.search.sort`, https://hl7.org/fhir/R4/search.html#sort) then by
insertion, paged with ``_count``/``_offset``; ``_summary=count`` and ``_total``. ``_include`` and
``_revinclude`` (:mod:`hygie.search.include`, https://hl7.org/fhir/R4/search.html#include) add
resources to the page with ``search.mode = include``, outside ``total`` and ``_count``.
A compartment search (``Patient/1/Observation``, https://hl7.org/fhir/R4/search.html#compartment)
is the same search with the membership condition of :mod:`hygie.api.compartment` added.

Errors (https://hl7.org/fhir/R4/search.html#errors): strict by default; with
``Prefer: handling=lenient`` criteria that cannot be applied are dropped, the links carry only the
applied parameters and an OperationOutcome entry (``search.mode = outcome``) warns about each.
``_total`` (search.html#total): ``none`` skips the count; ``estimate`` is served exactly.
``_count=0`` is answered as ``_summary=count`` (search.html#count).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from hygie.api.bundle_entries import search_entry
from hygie.api.checks import is_count
from hygie.api.compartment import restriction, search_path
from hygie.api.context import Env, FhirRequest, Result
from hygie.api.history import page_size
from hygie.fhir.messages import register, render
from hygie.fhir.outcome import FhirError, Issue, outcome
from hygie.search.include import MAX_INCLUDED, Include, is_include, parse_includes, resolve
from hygie.search.query import Sql, compile_criteria, compile_lenient
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
    for part in [restrict, *parts] if restrict is not None else parts:
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
    return _page(env, rtype, clause, args, limit=limit, offset=offset, sort=sort)


def _page(
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
    found = resolve([(v.rk, v.type, v.id) for v in matches], specs, env.store.params, env.store.select)
    versions = [v for v in env.store.read_many(found.rks) if not v.deleted]
    return versions, found.truncated


def count(env: Env, rtype: str, criteria: list[tuple[str, str]], restrict: Sql | None = None) -> int:
    clause, args = _where(env, rtype, criteria, restrict)
    return _count(env, clause, args)


def _count(env: Env, clause: str, args: Any) -> int:
    rows = env.store.select(f"SELECT count(*) FROM resource r WHERE {clause}", args)
    return int(rows[0][0]) if rows else 0


def total_mode(req: FhirRequest) -> str:
    """``_total`` (https://hl7.org/fhir/R4/search.html#total): ``none``, ``estimate`` or
    ``accurate`` (the default); anything else → 400. ``estimate`` is served exactly."""
    value = req.param("_total")
    if value is None:
        return "accurate"
    if value not in TOTAL_MODES:
        raise FhirError.of(400, "invalid", "bad_param", name="_total", value=value[:32])
    return value


def search(env: Env, req: FhirRequest) -> Result:
    assert req.type is not None
    count_text = req.param("_count")
    count_only = req.param("_summary") == "count" or count_text == "0"  # search.html#count
    size = 0 if count_text == "0" else page_size(env, count_text)
    offset_text = req.param("_offset") or "0"
    if not is_count(offset_text):
        raise FhirError.of(400, "invalid", "bad_param", name="_offset", value=offset_text[:32])
    offset = int(offset_text)
    totals = total_mode(req)
    sort = sort_values(req.query)
    compile_sort(req.type, sort, env.store.params, env.store.s.dialect)  # 400 early, even for counts
    specs = parse_includes(req.type, req.query, env.store.params)
    restrict = restriction(req, env.store.params)
    path = search_path(req)
    lenient = handling(req) == "lenient"
    criteria = [(k, v) for k, v in req.query if not is_include(k)]
    where = compile_where(env, req.type, criteria, restrict, lenient=lenient)
    dropped = set(criteria) - set(where.applied) if where.ignored else set()
    query = [pair for pair in req.query if pair not in dropped]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if count_only:
        bundle["total"] = _count(env, where.clause, where.args)
        bundle["link"] = [{"relation": "self", "url": _url(env, path, query)}]
        if where.ignored:
            bundle["entry"] = [_outcome_entry(env, where.ignored)]
        return Result(200, resource=bundle)
    found = _page(env, req.type, where.clause, where.args, limit=size + 1, offset=offset, sort=sort)
    more = len(found) > size
    found = found[:size]
    if totals != "none":
        bundle["total"] = (
            offset + len(found)
            if not more and (found or offset == 0)
            else _count(env, where.clause, where.args)
        )
    bundle["link"] = _links(env, path, query, offset, size, more)
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


def _links(
    env: Env, path: str, query: list[tuple[str, str]], offset: int, size: int, more: bool
) -> list[dict[str, str]]:
    base = [(k, v) for k, v in query if k != "_offset"]
    links = [{"relation": "self", "url": _url(env, path, query)}]
    if offset:
        links.append({"relation": "first", "url": _url(env, path, base)})
        previous = [*base, ("_offset", str(max(0, offset - size)))]
        links.append({"relation": "previous", "url": _url(env, path, previous)})
    if more:
        links.append({"relation": "next", "url": _url(env, path, [*base, ("_offset", str(offset + size))])})
    return links


def _outcome_entry(env: Env, issues: list[Issue]) -> dict[str, Any]:
    return {"resource": outcome(issues, env.lang), "search": {"mode": "outcome"}}


def _url(env: Env, path: str, query: list[tuple[str, str]]) -> str:
    return f"{env.base}/{path}" + (f"?{urlencode(query)}" if query else "")
