"""Compartments — https://hl7.org/fhir/R4/compartmentdefinition.html

Search in a compartment (https://hl7.org/fhir/R4/search.html#compartment,
https://hl7.org/fhir/R4/http.html#search): ``GET [base]/Patient/123/Observation?code=…`` is the
Observation search of :mod:`hygie.api.search` restricted to the resources of the compartment of
Patient/123, and ``GET [base]/Patient/123/*`` searches every resource type of that compartment.

Membership follows the R4 CompartmentDefinitions (Patient, Encounter, RelatedPerson,
Practitioner, Device; registry of :mod:`hygie.fhir.searchparams`): a resource is in the
compartment when ANY of the compartment's parameters for its type references the compartment
resource (e.g. Observation ``subject`` OR ``performer`` = Patient/123). The compartment resource
itself is a member too (``{def}`` in the definitions; the Patient compartment lists ``link``
instead, the patient is added all the same, as ``$everything`` does). Membership is one
``r.rk IN (SELECT … UNION …)`` condition driven by the ``(pid, target_id, target_type)`` index of
``idx_reference``, so it never scans the resource table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from hygie.api.bundle_entries import search_entry
from hygie.api.context import Env, FhirRequest, Result
from hygie.api.history import page_size
from hygie.fhir.definitions import is_resource_type
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.fhir.searchparams import compartment_params, default_registry
from hygie.search.catalog import visible
from hygie.search.query import Sql, Target, bad, compile_criterion, local_reference, one_of
from hygie.storage.store import Version

register(
    {
        "not_a_compartment": {
            "fr": "{type} n'est pas un compartiment (compartiments : {known}).",
            "en": "{type} is not a compartment (compartments: {known}).",
        },
        "not_in_compartment": {
            "fr": "Les ressources {type} ne font pas partie du compartiment {compartment}.",
            "en": "{type} resources are not part of the {compartment} compartment.",
        },
        "compartment_unsupported": {
            "fr": "Le paramètre {name} n'est pas pris en charge dans une recherche sur tous les types "
            "d'un compartiment ({path}).",
            "en": "Parameter {name} is not supported in a search over all the types of a compartment "
            "({path}).",
        },
    }
)

# Parameters a search over every type of a compartment (``Patient/1/*``) handles itself.
ALL_TYPES_CONTROL = frozenset(
    {"_count", "_cursor", "_type", "_summary", "_elements", "_total", "_format", "_pretty"}
)
# Result parameters that need a single resource type.
ALL_TYPES_REJECTED = frozenset(
    {"_sort", "_include", "_revinclude", "_offset", "_page", "_contained", "_containedType"}
)


@cache
def compartments() -> frozenset[str]:
    """The compartment types of the R4 definitions (Patient, Encounter, RelatedPerson, …)."""
    return frozenset(default_registry().compartments())


@cache
def member_types(compartment: str) -> tuple[str, ...]:
    """Resource types that may be in ``compartment``, sorted; the compartment type is always one."""
    members = {t for t, codes in default_registry().compartments().get(compartment, {}).items() if codes}
    return tuple(sorted(members | {compartment}))


def check_compartment(compartment: str) -> str:
    if compartment not in compartments():
        known = ", ".join(sorted(compartments()))
        raise FhirError.of(404, "not-found", "not_a_compartment", type=compartment[:64], known=known)
    return compartment


def split(req: FhirRequest) -> tuple[str, str]:
    """``req.compartment`` (``Patient/123``) → (``Patient``, ``123``)."""
    assert req.compartment is not None
    ctype, _, cid = req.compartment.partition("/")
    return ctype, cid


def member_rks(
    compartment: str,
    cid: str,
    types: Iterable[str],
    pids: Mapping[tuple[str, str], int],
    *,
    base: str | None = None,
) -> Sql:
    """A ``SELECT rk …`` of the resources of ``types`` in the compartment ``compartment/cid``.

    Deleted resources have no index rows, so only live references count; the compartment
    resource itself is selected when its type is among ``types`` (check ``deleted`` on the outer
    query).
    """
    wanted = set(types)
    ref_pids = tuple(
        sorted(
            pid
            for rtype in wanted
            for code in compartment_params(compartment, rtype)
            if code != "{def}" and (pid := pids.get((rtype, code))) is not None
        )
    )
    parts: list[Sql] = []
    if ref_pids:
        by_pid = one_of("pid", ref_pids)
        local = local_reference(base)  # a reference to another server's Patient/1 is not ours
        parts.append(
            Sql(
                f"SELECT rk FROM idx_reference WHERE {by_pid.clause} AND target_id = ? AND target_type = ?"
                f" AND {local.clause}",
                (*by_pid.args, cid, compartment, *local.args),
            )
        )
    if compartment in wanted:
        parts.append(Sql("SELECT rk FROM resource WHERE type = ? AND id = ?", (compartment, cid)))
    if not parts:
        return Sql("SELECT rk FROM resource WHERE 1 = 0", ())
    return union(parts)


def union(parts: list[Sql]) -> Sql:
    return Sql(" UNION ".join(p.clause for p in parts), tuple(a for p in parts for a in p.args))


def restriction(req: FhirRequest, pids: Mapping[tuple[str, str], int], base: str | None = None) -> Sql | None:
    """The condition on ``r`` a compartment search adds to its criteria (None: not one).

    400 when ``req.type`` can never be in the compartment (e.g. ``Patient/1/Organization``).
    """
    if req.compartment is None:
        return None
    assert req.type is not None
    ctype, cid = split(req)
    if req.type not in member_types(ctype):
        raise FhirError.of(400, "invalid", "not_in_compartment", type=req.type, compartment=ctype)
    rks = member_rks(ctype, cid, (req.type,), pids, base=base)
    return Sql(f"r.rk IN ({rks.clause})", rks.args)


def search_path(req: FhirRequest) -> str:
    """The path of a search, relative to the base: ``Observation`` or ``Patient/1/Observation``."""
    path = req.type or "*"
    return f"{req.compartment}/{path}" if req.compartment is not None else path


# -- keyset pages over several resource types (Patient/1/*, $everything) ------------------------


def parse_types(raw: list[str]) -> set[str] | None:
    """``_type`` values (each a comma list) → the set of types; None when absent. 400 unknown type."""
    if not raw:
        return None
    out: set[str] = set()
    for value in raw:
        for name in value.split(","):
            if not is_resource_type(name.strip()):
                raise FhirError.of(400, "invalid", "bad_param", name="_type", value=value[:64])
            out.add(name.strip())
    return out


def parse_cursor(text: str | None) -> int:
    """The opaque ``_cursor`` of a ``next`` link: the last resource key already returned."""
    if text is None:
        return 0
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 18):
        raise FhirError.of(400, "invalid", "bad_param", name="_cursor", value=text[:32])
    return int(text)


def keyset_page(env: Env, where: Sql, *, after: int, size: int) -> tuple[list[Version], bool]:
    """Live resources matching ``where`` (on alias ``r``) with a key above ``after``, in key order.

    Returns at most ``size`` versions and whether more follow. Resource keys only grow, so a
    page boundary never moves: no duplicates and no skips across pages, and resources created
    while paging appear on a later page.
    """
    rows = env.store.select(
        f"SELECT r.rk FROM resource r WHERE {where.clause} AND r.deleted = ? AND r.rk > ? "
        "ORDER BY r.rk LIMIT ?",
        (*where.args, _false(env), after, size + 1),
    )
    versions = env.store.read_many([row[0] for row in rows[:size]])
    return versions, len(rows) > size


def count_where(env: Env, where: Sql) -> int:
    rows = env.store.select(
        f"SELECT count(*) FROM resource r WHERE {where.clause} AND r.deleted = ?", (*where.args, _false(env))
    )
    return int(rows[0][0]) if rows else 0


def _false(env: Env) -> Any:
    return False if env.store.s.dialect == "postgresql" else 0


def paged_bundle(
    env: Env,
    path: str,
    where: Sql,
    query: list[tuple[str, str]],
    *,
    mode: str = "match",
) -> Result:
    """A ``searchset`` page over ``where`` with ``_count``, ``_cursor`` and ``_total`` (both
    compartment-wide searches and ``$everything``); ``query`` is what the links carry."""
    size = page_size(env, _last(query, "_count"))
    after = parse_cursor(_last(query, "_cursor"))
    where = guarded(env, where)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    self_link = {"relation": "self", "url": _url(env, path, query)}
    if _last(query, "_summary") == "count":
        bundle["total"] = count_where(env, where)
        bundle["link"] = [self_link]
        return Result(200, resource=bundle)
    found, more = keyset_page(env, where, after=after, size=size)
    if (_last(query, "_total") or "accurate") != "none":
        bundle["total"] = len(found) if not more and not after else count_where(env, where)
    kept = [(k, v) for k, v in query if k != "_cursor"]
    links = [self_link]
    if after:
        links.append({"relation": "first", "url": _url(env, path, kept)})
    if more and found:
        links.append({"relation": "next", "url": _url(env, path, [*kept, ("_cursor", str(found[-1].rk))])})
    bundle["link"] = links
    bundle["entry"] = [search_entry(env, v, mode) for v in found]
    return Result(200, resource=bundle)


def guarded(env: Env, where: Sql, alias: str = "r", permission: str = "s") -> Sql:
    """``where`` and the caller's access policy on ``alias`` (hygie.auth.policy)."""
    policy = visible(env.store.params, alias, permission)
    if policy is None:
        return where
    return Sql(f"({where.clause}) AND ({policy.clause})", (*where.args, *policy.args))


def _last(query: list[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in query if k == name]
    return values[-1] if values else None


def _url(env: Env, path: str, query: list[tuple[str, str]]) -> str:
    return f"{env.base}/{path}" + (f"?{urlencode(query)}" if query else "")


# -- GET [base]/Patient/123/* ------------------------------------------------------------------------


def search_all(env: Env, req: FhirRequest) -> Result:
    """Search every resource type of a compartment: common parameters (``_id``, ``_lastUpdated``,
    ``_tag``, ``_profile``, ``_security``, ``_source``) and parameters shared by the types, with
    ``_type`` to narrow the types; ordered by storage key, paged with an opaque cursor."""
    ctype, cid = split(req)
    path = search_path(req)
    members = member_types(ctype)
    chosen = parse_types([v for k, v in req.query if k == "_type"])
    types = tuple(t for t in members if chosen is None or t in chosen)
    rks = member_rks(ctype, cid, types, env.store.params, base=env.base)
    clause, args = f"r.rk IN ({rks.clause})", list(rks.args)
    tz = ZoneInfo(env.settings.timezone)
    target = Target(types or members)
    for name, raw in req.query:
        if name in ALL_TYPES_CONTROL:
            continue
        if name in ALL_TYPES_REJECTED:
            raise FhirError.of(400, "not-supported", "compartment_unsupported", name=name, path=path[:100])
        if "\x00" in name or "\x00" in raw:
            raise bad(name.replace("\x00", ""), raw.replace("\x00", ""))
        part = compile_criterion(target, name, raw, env.store.params, tz, base=env.base)
        clause += f" AND ({part.clause})"
        args.extend(part.args)
    return paged_bundle(env, path, Sql(clause, tuple(args)), req.query)
