"""Chained parameters and reverse chaining (``_has``) compiled to nested SQL.

Specs: https://hl7.org/fhir/R4/search.html#chaining and https://hl7.org/fhir/R4/search.html#has

A chain ``subject:Patient.general-practitioner.name=x`` walks references forward; each link
becomes::

    a.rk IN (SELECT i.rk FROM idx_reference i
             JOIN resource t ON t.type = i.target_type AND t.id = i.target_id AND NOT t.deleted
             WHERE i.pid = ? [AND i.target_type IN (...)] AND (<rest of the chain on t>))

and ``_has:Observation:patient:code=x`` walks one reference backwards::

    a.id IN (SELECT h.target_id FROM idx_reference h JOIN resource s ON s.rk = h.rk
             WHERE h.pid = ? AND h.target_type = ? AND NOT s.deleted AND (<rest on s>))

The innermost criterion is compiled by :func:`hygie.search.query.compile_criterion` against the
alias of the last resource reached, so every parameter type and modifier works at the end of a
chain, with comma-separated OR values. Only current, non-deleted resources satisfy a link.

Choices (the spec lets servers decide):

- An untyped link (``subject.name``) tries every target type of the reference that defines the
  next parameter; it is rejected (400) only when those types give that parameter different
  parameter types (then a ``:Type`` modifier is needed) or when none defines it.
- A name goes through at most :data:`MAX_DEPTH` references (forward links and ``_has`` together).
- ``_has`` needs a single known type on its left: at the top level or after a typed link.
- Every error is a 400 OperationOutcome naming the full parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo

from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.search.catalog import dialect_of, registry_of, visible
from hygie.search.query import NAME_LIMIT, Sql, Target, compile_criterion, local_reference, one_of

MAX_DEPTH = 4
# Parameters every resource type has without a row in the search_param table.
_BUILTIN = frozenset({"_id", "_lastUpdated"})

register(
    {
        "chain_unknown": {
            "fr": "Paramètre chaîné {name} : {param} n'est pas un paramètre de recherche de {type}.",
            "en": "Chained parameter {name}: {param} is not a search parameter of {type}.",
        },
        "chain_not_reference": {
            "fr": "Paramètre chaîné {name} : {param} n'est pas un paramètre de type référence de {type}.",
            "en": "Chained parameter {name}: {param} is not a reference parameter of {type}.",
        },
        "chain_bad_type": {
            "fr": "Paramètre chaîné {name} : {target} n'est pas un type cible possible de {param}.",
            "en": "Chained parameter {name}: {target} is not a possible target type of {param}.",
        },
        "chain_too_deep": {
            "fr": "Paramètre chaîné {name} : au plus {max} références par chaîne.",
            "en": "Chained parameter {name}: at most {max} references per chain.",
        },
        "chain_malformed": {
            "fr": "Paramètre chaîné {name} mal formé (attendu : reference[:Type].parametre ou "
            "_has:Type:reference:parametre).",
            "en": "Malformed chained parameter {name} (expected reference[:Type].parameter or "
            "_has:Type:reference:parameter).",
        },
    }
)


def _error(key: str, label: str, **params: str | int) -> FhirError:
    issue = "not-supported" if key == "chain_unknown" else "invalid"
    return FhirError.of(400, issue, key, (), name=label[:NAME_LIMIT], **params)


def _types_text(types: tuple[str, ...]) -> str:
    text = ", ".join(types)
    return text if len(text) <= 100 else text[:97] + "..."


def compile_link(
    target: Target,
    name: str,
    raw: str,
    pids: Mapping[tuple[str, str], int],
    tz: tzinfo,
    *,
    depth: int,
    label: str,
    base: str | None = None,
) -> Sql:
    """``name=raw`` where ``name`` starts with a chain link or ``_has:``, on ``target``.

    ``base``: this server's FHIR base; only references into this server are followed
    (:func:`~hygie.search.query.local_reference`)."""
    if depth >= MAX_DEPTH:
        raise _error("chain_too_deep", label, max=MAX_DEPTH)
    if name.startswith("_has:"):
        return _reverse(target, name, raw, pids, tz, depth, label, base)
    return _forward(target, name, raw, pids, tz, depth, label, base)


def _forward(
    target: Target,
    name: str,
    raw: str,
    pids: Mapping[tuple[str, str], int],
    tz: tzinfo,
    depth: int,
    label: str,
    base: str | None,
) -> Sql:
    head, _, rest = name.partition(".")
    code, _, type_name = head.partition(":")
    if not code or not rest or rest.startswith("."):
        raise _error("chain_malformed", label)
    ref_pids, targets = _reference_param(target.types, code, pids, label)
    if type_name:
        if type_name not in targets:
            raise _error("chain_bad_type", label, target=type_name[:64], param=code)
        next_types: tuple[str, ...] = (type_name,)
    else:
        next_types = _defining(targets, rest, pids, label)
    level = depth + 1
    ref, res = f"i{level}", f"t{level}"
    inner = compile_criterion(
        Target(next_types, res), rest, raw, pids, tz, depth=level, label=label, base=base
    )
    via = one_of(f"{ref}.pid", ref_pids)
    local = _policy(pids, res, local_reference(base, ref))
    if inner.clause.startswith(f"{res}.rk IN ("):
        # A set of row keys: the targets are read by key, the type filter goes on the reference
        # row (idx_reference_s ends with target_type) and only when some target types are left out.
        # (``t.type || ''`` below keeps SQLite from copying that filter onto t.type, which would
        # make it scan the target type instead of reading the keys.)
        kinds = Sql("", ()) if set(next_types) == set(targets) else one_of(f"{ref}.target_type", next_types)
        target_where = f"({inner.clause})"
        ref_where = f" AND {kinds.clause}" if kinds.clause else ""
        args = (*inner.args, *via.args, *kinds.args)
    else:
        # By id, by date, or a negation: the target rows are found through their type.
        kinds = one_of(f"{res}.type", next_types)
        target_where = f"{kinds.clause} AND ({inner.clause})"
        ref_where = ""
        args = (*kinds.args, *inner.args, *via.args)
    return Sql(
        f"{target.alias}.rk IN (SELECT {ref}.rk FROM resource {res} CROSS JOIN idx_reference {ref}"
        f" WHERE {target_where} AND NOT {res}.deleted AND {via.clause}"
        f" AND {ref}.target_id = {res}.id AND {ref}.target_type = {res}.type || ''{ref_where}"
        f" AND {local.clause})",
        (*args, *local.args),
    )


def _reverse(
    target: Target,
    name: str,
    raw: str,
    pids: Mapping[tuple[str, str], int],
    tz: tzinfo,
    depth: int,
    label: str,
    base: str | None,
) -> Sql:
    parts = name[len("_has:") :].split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise _error("chain_malformed", label)
    source, code, rest = parts
    if len(target.types) != 1:
        raise FhirError.of(
            400, "invalid", "ambiguous_param", name=label[:NAME_LIMIT], type=_types_text(target.types)
        )
    if source not in registry_of(pids).resource_types():
        raise _error("chain_unknown", label, param=source[:64], type="_has")
    ref_pids, targets = _reference_param((source,), code, pids, label)
    if target.types[0] not in targets:
        raise _error("chain_bad_type", label, target=target.types[0], param=f"{source}.{code}")
    level = depth + 1
    ref, res = f"h{level}", f"s{level}"
    inner = compile_criterion(
        Target((source,), res), rest, raw, pids, tz, depth=level, label=label, base=base
    )
    local = _policy(pids, res, local_reference(base, ref))
    # The pid implies the source type. It is spelt out when the inner criterion is not a set of
    # row keys (by id, by date, a negation), so that the (type, id) index finds the sources; for a
    # set of keys SQLite must read them by key (with the type it would scan the whole type), while
    # PostgreSQL needs it to serve the live rows from its (type, deleted, rk) index instead of
    # scanning every live resource (tests/integration/test_query_plans.py).
    by_key = inner.clause.startswith(f"{res}.rk IN (")
    keys_only = by_key and dialect_of(pids) == "sqlite"
    kinds = Sql("", ()) if keys_only else Sql(f"{res}.type = ? AND ", (source,))
    return Sql(
        f"{target.alias}.id IN (SELECT {ref}.target_id FROM resource {res} CROSS JOIN idx_reference {ref}"
        f" WHERE {kinds.clause}({inner.clause}) AND NOT {res}.deleted"
        f" AND {ref}.rk = {res}.rk AND {ref}.pid = ? AND {ref}.target_type = ? AND {local.clause})",
        (*kinds.args, *inner.args, *ref_pids, target.types[0], *local.args),
    )


def _policy(pids: Mapping[tuple[str, str], int], alias: str, local: Sql) -> Sql:
    """The local-reference condition, and the access policy on the linked rows: a chain or
    ``_has`` never tests resources the caller may not search (HAPI #6065, Medplum #9973)."""
    policy = visible(pids, alias, "s")
    if policy is None:
        return local
    return Sql(f"{local.clause} AND ({policy.clause})", (*local.args, *policy.args))


def _reference_param(
    types: tuple[str, ...], code: str, pids: Mapping[tuple[str, str], int], label: str
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The ``pid`` of reference parameter ``code`` on each of ``types`` and their target types."""
    found: list[int] = []
    targets: dict[str, None] = {}
    other = False
    for rtype in types:
        param = registry_of(pids).search_param(rtype, code)
        pid = pids.get((rtype, code))
        if param is None or pid is None:
            continue
        if param.type != "reference":
            other = True
            continue
        found.append(pid)
        targets.update(dict.fromkeys(param.targets))
    if not found:
        key = "chain_not_reference" if other else "chain_unknown"
        raise _error(key, label, param=code[:64], type=_types_text(types))
    return tuple(found), tuple(targets)


def _defining(
    targets: tuple[str, ...], rest: str, pids: Mapping[tuple[str, str], int], label: str
) -> tuple[str, ...]:
    """The target types on which the next element of the chain (``rest``) is defined."""
    if rest.startswith("_has:"):
        if len(targets) != 1:
            raise FhirError.of(
                400, "invalid", "ambiguous_param", name=label[:NAME_LIMIT], type=_types_text(targets)
            )
        return targets
    code = rest.split(".", 1)[0].partition(":")[0]
    if code in _BUILTIN:
        return targets
    kept = tuple(
        t for t in targets if (t, code) in pids and registry_of(pids).search_param(t, code) is not None
    )
    if not kept:
        raise _error("chain_unknown", label, param=code[:64], type=_types_text(targets))
    return kept
