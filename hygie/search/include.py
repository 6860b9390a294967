"""``_include`` and ``_revinclude`` (with ``:iterate``) → resources to add to a search page.

Spec: https://hl7.org/fhir/R4/search.html#include. A value is ``SourceType:param`` or
``SourceType:param:TargetType`` (``param`` a reference parameter of ``SourceType``, ``TargetType``
one of its targets), ``SourceType:*`` (every reference parameter of the source type) or ``*``
(``_include``: every reference parameter of the searched type; ``_revinclude``: every reference
of any type to the matches). Values are never comma-split: repeat the parameter instead.

- ``_include`` follows the references of the page's matches (``idx_reference`` rows of the
  matches → the ``resource`` they name by ``(target_type, target_id)``);
- ``_revinclude`` adds the resources whose references point at the matches (``idx_reference``
  rows whose ``(target_type, target_id)`` is a match, through the ``(target_id, target_type)``
  index);
- ``:iterate`` (and its R4 synonym ``:recurse``) applies the parameter to the included resources
  too, for at most :data:`ITERATE_LEVELS` further levels;
- at most :data:`MAX_INCLUDED` resources are added to one page; when the cap cuts the list, the
  result says so (:attr:`Included.truncated`) and the Bundle carries a warning.

Only current, non-deleted versions are included (index rows exist only for those; targets are
joined to ``resource`` with ``NOT deleted``). A resource already in the page (as a match or an
earlier include) is added once. References whose text names a type and id (``Patient/1``, an
absolute URL ending in ``Patient/1``, a versioned reference) resolve to the current local
``Patient/1``; ``#contained``, ``urn:uuid:`` and identifier-only references are not followed.

This module builds SQL and runs it through a ``select`` callable, so it stays below storage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.search.catalog import registry_of, visible
from hygie.search.query import Sql, local_reference

ITERATE_LEVELS = 3  # levels of :iterate after the first pass over the matches
MAX_INCLUDED = 1000  # resources added to one page by _include/_revinclude
_CHUNK = 500  # keys per IN (...) list
NAMES = ("_include", "_revinclude")
_MODIFIERS = ("", "iterate", "recurse")

register(
    {
        "include_invalid": {
            "fr": "{name} : valeur invalide « {value} » ({reason}).",
            "en": "{name}: invalid value '{value}' ({reason}).",
        },
        "include_truncated": {
            "fr": "Ressources incluses limitées à {limit} pour cette page ; certaines manquent.",
            "en": "Included resources capped at {limit} for this page; some are missing.",
        },
    }
)

Node = tuple[int, str, str]  # (rk, type, id)
Select = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


@dataclass(frozen=True, slots=True)
class Include:
    """One ``_include``/``_revinclude`` value, validated.

    ``source`` is the type holding the reference (``None``: any type, for ``*``); ``pids`` the
    reference parameters followed (empty with ``wildcard``: every reference parameter of the
    source, or every reference at all for ``_revinclude=*``); ``target`` the only target type
    followed (``None``: any).
    """

    reverse: bool
    iterate: bool
    source: str | None
    pids: tuple[int, ...] = ()
    target: str | None = None
    wildcard: bool = False


@dataclass(slots=True)
class Included:
    """Resource keys to add to the page, in discovery order; ``truncated`` if the cap was hit."""

    rks: list[int] = field(default_factory=list)
    truncated: bool = False


def is_include(name: str) -> bool:
    """Whether a query parameter name is ``_include``/``_revinclude`` (with a modifier or not)."""
    return name.partition(":")[0] in NAMES


def parse_includes(
    rtype: str, query: Iterable[tuple[str, str]], pids: Mapping[tuple[str, str], int]
) -> list[Include]:
    """The ``_include``/``_revinclude`` parameters of a query; 400 naming the first bad one."""
    out: list[Include] = []
    for name, raw in query:
        base, _, modifier = name.partition(":")
        if base not in NAMES or raw == "":
            continue
        if modifier not in _MODIFIERS:
            raise _invalid(name, raw, "modifier")
        out.append(_parse(rtype, name, raw, base == "_revinclude", modifier != "", pids))
    return out


def _invalid(name: str, value: str, reason: str) -> FhirError:
    return FhirError.of(400, "invalid", "include_invalid", name=name[:64], value=value[:100], reason=reason)


def _parse(
    rtype: str, name: str, raw: str, reverse: bool, iterate: bool, pids: Mapping[tuple[str, str], int]
) -> Include:
    if raw == "*":  # _include:iterate=* follows every reference of every included resource
        return Include(reverse, iterate, None if reverse or iterate else rtype, wildcard=True)
    parts = raw.split(":")
    if len(parts) not in (2, 3):
        raise _invalid(name, raw, "Type:param[:Target]")
    source, code = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    types = registry_of(pids).resource_types()
    if source not in types:
        raise _invalid(name, raw, f"type {source[:64]}")
    if target is not None and target not in types:
        raise _invalid(name, raw, f"type {target[:64]}")
    if not iterate and not reverse and source != rtype:
        raise _invalid(name, raw, f"not a {rtype} parameter (use :iterate)")
    if code == "*":
        if target is not None:
            raise _invalid(name, raw, "*")
        return Include(reverse, iterate, source, wildcard=True)
    param = registry_of(pids).search_param(source, code)
    pid = pids.get((source, code))
    if param is None or pid is None or param.type != "reference":
        raise _invalid(name, raw, f"{code[:64]} is not a reference parameter of {source}")
    if target is not None and param.targets and target not in param.targets:
        raise _invalid(name, raw, f"{target} is not a target of {code[:64]}")
    if reverse and not iterate and rtype != (target or rtype):
        raise _invalid(name, raw, f"target is not {rtype} (use :iterate)")
    if reverse and not iterate and param.targets and rtype not in param.targets:
        raise _invalid(name, raw, f"{code[:64]} never points at {rtype}")
    return Include(reverse, iterate, source, (pid,), target)


def reference_pids(rtype: str, pids: Mapping[tuple[str, str], int]) -> tuple[int, ...]:
    """Keys of every reference parameter of ``rtype``."""
    return tuple(
        pid
        for code, p in registry_of(pids).params_for(rtype).items()
        if p.type == "reference" and (pid := pids.get((rtype, code))) is not None
    )


def resolve(
    matches: Sequence[Node],
    specs: Sequence[Include],
    pids: Mapping[tuple[str, str], int],
    select: Select,
    limit: int = MAX_INCLUDED,
    *,
    base: str | None = None,
) -> Included:
    """Follow ``specs`` from the page's ``matches``; ``select(sql, args)`` runs a query.

    Only references into this server (relative, or absolute under ``base``) are followed."""
    local = local_reference(base, "x")
    result = Included()
    if not specs or not matches:
        return result
    seen = {rk for rk, _, _ in matches}
    frontier = list(matches)
    active = list(specs)
    for _level in range(ITERATE_LEVELS + 1):
        found: list[Node] = []
        queries = [*_forward(frontier, active, pids, local), *_reverse(frontier, active, pids, local)]
        for query in queries:
            room = limit - len(result.rks) - len(found)
            rows = select(f"{query.clause} ORDER BY 1 LIMIT ?", (*query.args, room + len(seen) + 1))
            for rk, rtype, rid in rows:
                if rk in seen:
                    continue
                if len(result.rks) + len(found) >= limit:
                    result.truncated = True
                    break
                seen.add(rk)
                found.append((rk, rtype, rid))
            if result.truncated:
                break
        result.rks.extend(rk for rk, _, _ in found)
        active = [s for s in active if s.iterate]
        frontier = found
        if result.truncated or not frontier or not active:
            break
    return result


def _policy(pids: Mapping[tuple[str, str], int], alias: str) -> Sql:
    """`` AND <access policy>`` on included rows (empty when unrestricted): an include never
    returns what the caller may not read (Microsoft FHIR server PR #5683)."""
    policy = visible(pids, alias, "r")
    return Sql("", ()) if policy is None else Sql(f" AND ({policy.clause})", policy.args)


def _by_type(frontier: Sequence[Node]) -> dict[str, list[Node]]:
    groups: dict[str, list[Node]] = {}
    for node in frontier:
        groups.setdefault(node[1], []).append(node)
    return groups


def _pid_condition(followed: Iterable[tuple[tuple[int, ...], str | None]]) -> Sql | None:
    """``x.pid`` (and ``x.target_type``) condition for (parameter keys, target type) pairs."""
    free: set[int] = set()
    typed: dict[str, set[int]] = {}
    for chosen, target in followed:
        (free if target is None else typed.setdefault(target, set())).update(chosen)
    parts: list[str] = []
    args: list[Any] = []
    if free:
        parts.append(f"x.pid IN ({','.join('?' * len(free))})")
        args.extend(sorted(free))
    for target, typed_keys in sorted(typed.items()):
        keys = sorted(typed_keys - free)
        if keys:
            parts.append(f"(x.target_type = ? AND x.pid IN ({','.join('?' * len(keys))}))")
            args.extend((target, *keys))
    return Sql(" OR ".join(parts), tuple(args)) if parts else None


def _keys(spec: Include, pids: Mapping[tuple[str, str], int], rtype: str) -> tuple[int, ...]:
    """Parameter keys a spec follows from resources of ``rtype`` (wildcards: all of them)."""
    if spec.wildcard:
        return reference_pids(spec.source or rtype, pids)
    return spec.pids


def _forward(
    frontier: Sequence[Node], specs: Sequence[Include], pids: Mapping[tuple[str, str], int], local: Sql
) -> list[Sql]:
    """``_include``: the resources named by the frontier's references."""
    out: list[Sql] = []
    policy = _policy(pids, "t")
    for rtype, nodes in sorted(_by_type(frontier).items()):
        cond = _pid_condition(
            (_keys(s, pids, rtype), s.target) for s in specs if not s.reverse and s.source in (rtype, None)
        )
        if cond is None:
            continue
        for start in range(0, len(nodes), _CHUNK):
            rks = [rk for rk, _, _ in nodes[start : start + _CHUNK]]
            out.append(
                Sql(
                    "SELECT DISTINCT t.rk, t.type, t.id FROM idx_reference x "
                    "JOIN resource t ON t.type = x.target_type AND t.id = x.target_id "
                    f"WHERE x.rk IN ({','.join('?' * len(rks))}) AND ({cond.clause}) AND NOT t.deleted"
                    f" AND {local.clause}{policy.clause}",
                    (*rks, *cond.args, *local.args, *policy.args),
                )
            )
    return out


def _reverse(
    frontier: Sequence[Node], specs: Sequence[Include], pids: Mapping[tuple[str, str], int], local: Sql
) -> list[Sql]:
    """``_revinclude``: the resources whose references name the frontier."""
    out: list[Sql] = []
    policy = _policy(pids, "s")
    for rtype, nodes in sorted(_by_type(frontier).items()):
        applicable = [s for s in specs if s.reverse and s.target in (None, rtype)]
        if not applicable:
            continue
        cond: Sql | None = Sql("1 = 1", ())
        if not any(s.wildcard and s.source is None for s in applicable):
            cond = _pid_condition((_keys(s, pids, rtype), None) for s in applicable)
        if cond is None:
            continue
        for start in range(0, len(nodes), _CHUNK):
            ids = [rid for _, _, rid in nodes[start : start + _CHUNK]]
            out.append(
                Sql(
                    "SELECT DISTINCT x.rk, s.type, s.id FROM idx_reference x "
                    "JOIN resource s ON s.rk = x.rk "
                    f"WHERE x.target_type = ? AND x.target_id IN ({','.join('?' * len(ids))}) "
                    f"AND ({cond.clause}) AND NOT s.deleted AND {local.clause}{policy.clause}",
                    (rtype, *ids, *cond.args, *local.args, *policy.args),
                )
            )
    return out
