"""Search criteria → SQL over the index tables (first cut: the common types and modifiers).

Spec: https://hl7.org/fhir/R4/search.html. A criterion is one query parameter; repeated
parameters are ANDed, comma-separated values ORed. Each criterion compiles to a condition on the
``rk`` (or ``id``) of a ``resource`` row alias with ``?`` placeholders: ``r`` for the searched
resources, a join alias for the resources reached by a chain or ``_has``
(:mod:`hygie.search.chain`), so every per-type compiler serves at any depth. Unknown parameters
and bad values raise a 400 OperationOutcome naming the parameter (strict handling).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from hygie.fhir.definitions import is_resource_type
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.search import fulltext
from hygie.search import messages as _messages  # noqa: F401
from hygie.search.cardinality import single_valued
from hygie.search.catalog import registry_of
from hygie.search.normalize import fold
from hygie.search.ranges import date_range, number_range

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
# Result-shaping parameters handled by the search interaction, not compiled here.
CONTROL = frozenset(
    {
        "_count",
        "_offset",
        "_page",
        "_sort",
        "_include",
        "_revinclude",
        "_summary",
        "_elements",
        "_total",
        "_format",
        "_pretty",
        "_contained",
        "_containedType",
    }
)
register(
    {
        "ambiguous_param": {
            "fr": "Paramètre {name} ambigu entre les types {type} : précisez le type "
            "(ex. subject:Patient.name).",
            "en": "Parameter {name} is ambiguous across types {type}: name one (e.g. subject:Patient.name).",
        },
    }
)
_SPLIT = re.compile(r"(?<!\\),")
NAME_LIMIT = 200  # characters of a parameter name quoted back in an OperationOutcome


@dataclass(frozen=True, slots=True)
class Sql:
    clause: str
    args: tuple[Any, ...]


def split_values(raw: str) -> list[str]:
    """Comma-separated OR values, honouring the ``\\,`` escape."""
    return [v.replace("\\,", ",") for v in _SPLIT.split(raw)]


def unescape(value: str) -> str:
    return value.replace("\\$", "$").replace("\\|", "|").replace("\\\\", "\\")


def split_token(value: str) -> tuple[str | None, str]:
    """``system|code`` → (system, code); ``code`` → (None, code); escapes honoured."""
    parts = re.split(r"(?<!\\)\|", value, maxsplit=1)
    if len(parts) == 1:
        return None, unescape(parts[0])
    return unescape(parts[0]), unescape(parts[1])


def bad(name: str, value: str, key: str = "bad_param") -> FhirError:
    return FhirError.of(400, "invalid", key, name=name[:NAME_LIMIT], value=value[:100])


@dataclass(frozen=True, slots=True)
class Target:
    """The rows a criterion applies to: their possible resource types and the SQL alias of their
    ``resource`` row (``r`` at the top level, a join alias inside chains and ``_has``)."""

    types: tuple[str, ...]
    alias: str = "r"


def compile_criteria(
    rtype: str,
    criteria: list[tuple[str, str]],
    pids: Mapping[tuple[str, str], int],
    tz: tzinfo,
    *,
    base: str | None = None,
) -> list[Sql]:
    """Strict handling: the first criterion that cannot be applied raises its 400.

    ``base``: this server's absolute FHIR base URL (no trailing slash); reference values under it
    are local references (https://hl7.org/fhir/R4/search.html#reference).
    """
    criteria = [(name, raw) for name, raw in criteria if not is_empty(name, raw)]
    merged = _merged_dates(rtype, criteria, pids, tz)
    parts: list[Sql] = []
    for name, raw in criteria:
        if name in CONTROL and "\x00" not in name and "\x00" not in raw:
            check_contained(name, raw)
            continue
        if name in merged:
            if (part := merged.pop(name, None)) is not None:
                parts.append(part)
                merged[name] = None  # the other repetitions are in it
            continue
        parts.append(_top_criterion(rtype, name, raw, pids, tz, base))
    return parts


def _merged_dates(
    rtype: str, criteria: list[tuple[str, str]], pids: Mapping[tuple[str, str], int], tz: tzinfo
) -> dict[str, Sql | None]:
    """Repeated criteria on a single-valued date parameter, tested together on one index row."""
    counts: dict[str, int] = {}
    for name, raw in criteria:
        counts[name] = counts.get(name, 0) + (0 if "\x00" in raw else 1)
    out: dict[str, Sql | None] = {}
    for name, count in counts.items():
        param = registry_of(pids).search_param(rtype, name) if count > 1 and name not in CONTROL else None
        if param is None or param.type != "date" or not single_valued(rtype, param.expression):
            continue
        pid = pids.get((rtype, name))
        if pid is None:
            continue
        conds = [_or([_date(name, "", v, tz) for v in split_values(raw)]) for n, raw in criteria if n == name]
        both = Sql(" AND ".join(f"({c.clause})" for c in conds), tuple(a for c in conds for a in c.args))
        out[name] = _in_index("r", "IN", "date", Sql("pid = ?", (pid,)), both)
    return out


@dataclass(frozen=True, slots=True)
class Lenient:
    """What ``Prefer: handling=lenient`` applied: the conditions of the criteria that compiled,
    and for each dropped criterion its index in the input list and the error it raised."""

    parts: list[Sql]
    dropped: list[tuple[int, FhirError]]


def compile_lenient(
    rtype: str,
    criteria: list[tuple[str, str]],
    pids: Mapping[tuple[str, str], int],
    tz: tzinfo,
    *,
    base: str | None = None,
) -> Lenient:
    """Lenient handling (https://hl7.org/fhir/R4/search.html#errors): each criterion is compiled
    on its own; one that is unknown, unsupported or malformed is dropped instead of failing."""
    parts: list[Sql] = []
    dropped: list[tuple[int, FhirError]] = []
    for index, (name, raw) in enumerate(criteria):
        if (name in CONTROL and "\x00" not in name and "\x00" not in raw) or is_empty(name, raw):
            try:
                check_contained(name, raw)
            except FhirError as error:
                dropped.append((index, error))
            continue
        try:
            parts.append(_top_criterion(rtype, name, raw, pids, tz, base))
        except FhirError as error:
            if error.status != 400:
                raise
            dropped.append((index, error))
    return Lenient(parts, dropped)


def _top_criterion(
    rtype: str, name: str, raw: str, pids: Mapping[tuple[str, str], int], tz: tzinfo, base: str | None
) -> Sql:
    if "\x00" in raw or "\x00" in name:
        raise bad(name.replace("\x00", ""), raw.replace("\x00", ""))
    return compile_criterion(Target((rtype,)), name, raw, pids, tz, base=base)


def compile_criterion(
    target: Target,
    name: str,
    raw: str,
    pids: Mapping[tuple[str, str], int],
    tz: tzinfo,
    *,
    depth: int = 0,
    label: str | None = None,
    base: str | None = None,
) -> Sql:
    """One criterion ``name=raw`` as a condition on ``{target.alias}.rk`` / ``.id``.

    Chained names (``subject:Patient.name``) and ``_has:`` names are delegated to
    :mod:`hygie.search.chain`, which calls back here for the inner criterion with a deeper
    ``depth``; ``label`` is the full parameter name used in error messages; ``base`` as in
    :func:`compile_criteria`.
    """
    if name.startswith("_has:") or "." in name:
        from hygie.search import chain

        return chain.compile_link(target, name, raw, pids, tz, depth=depth, label=label or name, base=base)
    code, _, modifier = name.partition(":")
    if "" in split_values(raw) and code not in CONTROL:  # `a,,b`, `a,`: which value was meant?
        raise bad(label or name, raw, "empty_alternative")
    return _criterion(target, label or name, code, modifier, raw, pids, tz, base)


# https://hl7.org/fhir/R4/search.html#contained: only the defaults are served (docs/search.md).
_CONTAINED_DEFAULTS = {"_contained": "false", "_containedType": "container"}


def check_contained(name: str, raw: str) -> None:
    """``_contained=false`` and ``_containedType=container`` (the defaults) are accepted; searching
    inside contained resources is not supported: 400 ``not-supported`` rather than ignoring it."""
    default = _CONTAINED_DEFAULTS.get(name)
    if default is None or raw == default:
        return
    if (name, raw) in {("_contained", "true"), ("_contained", "both"), ("_containedType", "contained")}:
        raise FhirError.of(400, "not-supported", "unsupported_modifier", name=f"{name}={raw}")
    raise bad(name, raw)


def is_empty(name: str, raw: str) -> bool:
    """A criterion with an empty value (``name=``, ``gender=``, ``subject.name=``) is ignored, for
    every parameter type alike: it asks for nothing (as an empty ``_sort=`` or ``_include=``)."""
    return raw == "" and name not in CONTROL and "\x00" not in name


def resolve(
    types: tuple[str, ...], code: str, pids: Mapping[tuple[str, str], int], label: str
) -> tuple[str, tuple[int, ...]]:
    """The parameter type of ``code`` over ``types`` and its ``pid`` per type that defines it.

    Types that do not define ``code`` are skipped; none → 400 unknown parameter; two parameter
    types (a string here, a token there) → 400, the caller must name a single type.
    """
    kinds: set[str] = set()
    found: list[int] = []
    registry = registry_of(pids)
    for rtype in types:
        param = registry.search_param(rtype, code)
        pid = pids.get((rtype, code))
        if param is not None and pid is not None:
            kinds.add(param.type)
            found.append(pid)
    if not found:
        raise FhirError.of(400, "not-supported", "unknown_param", name=label[:NAME_LIMIT], type=_types(types))
    if len(kinds) > 1:
        raise FhirError.of(400, "invalid", "ambiguous_param", name=label[:NAME_LIMIT], type=_types(types))
    return kinds.pop(), tuple(found)


def _types(types: tuple[str, ...]) -> str:
    text = ", ".join(types)
    return text if len(text) <= 100 else text[:97] + "..."


def one_of(column: str, values: tuple[Any, ...]) -> Sql:
    """``column = ?`` or ``column IN (?, ...)``."""
    if len(values) == 1:
        return Sql(f"{column} = ?", values)
    return Sql(f"{column} IN ({','.join('?' * len(values))})", values)


def _criterion(
    target: Target,
    name: str,
    code: str,
    modifier: str,
    raw: str,
    pids: Mapping[tuple[str, str], int],
    tz: tzinfo,
    base: str | None = None,
) -> Sql:
    a = target.alias
    if code in ("_text", "_content"):
        return _fulltext(a, name, code, modifier, raw)
    if code == "_id":
        if modifier:
            raise bad(name, raw, "bad_modifier")
        ids = split_values(raw)
        return Sql(f"{a}.id IN ({','.join('?' * len(ids))})", tuple(ids))
    if code == "_lastUpdated":
        if modifier:
            raise bad(name, raw, "bad_modifier")
        column = f"{a}.last_updated"
        return _or([_date_range(column, f"{column} + 1", name, v, tz) for v in split_values(raw)])
    ptype, found = resolve(target.types, code, pids, name)
    if ptype == "composite":
        from hygie.search import composite

        return composite.compile_composite(target, name, code, modifier, raw, pids, tz)
    table = _TABLES.get(ptype)
    if table is None:
        raise FhirError.of(400, "not-supported", "unsupported_param", name=name[:NAME_LIMIT], type=ptype)
    if modifier == "identifier" and ptype == "reference":
        idents = tuple(p for t in target.types if (p := pids.get((t, f"{code}:identifier"))) is not None)
        if not idents:
            raise bad(name, raw, "bad_modifier")
        cond = _or([_token(name, "", v, tz) for v in split_values(raw)])
        return _in_index(a, "IN", "token", one_of("pid", idents), cond)
    if modifier == "text" and ptype == "token":
        cond = _or(
            [
                Sql("folded LIKE ? ESCAPE '\\'", (f"{_like_escape(fold(unescape(v)))}%",))
                for v in split_values(raw)
            ]
        )
        return _in_index(a, "IN", "token_text", one_of("pid", found), cond)
    if modifier == "missing":
        if raw not in ("true", "false"):
            raise bad(name, raw)
        op = "NOT IN" if raw == "true" else "IN"
        return _in_index(a, op, table, one_of("pid", found), None)
    if ptype == "reference" and modifier:
        _check_target_modifier(target.types, code, name, modifier, raw, pids)
    negate = modifier == "not" and ptype == "token"
    if ptype == "reference":
        parts = [_reference(name, modifier, v, tz, base) for v in split_values(raw)]
    else:
        compile_value = _COMPILERS[ptype]
        parts = [compile_value(name, modifier if not negate else "", v, tz) for v in split_values(raw)]
    return _in_index(a, "NOT IN" if negate else "IN", table, one_of("pid", found), _or(parts))


def _check_target_modifier(
    types: tuple[str, ...], code: str, name: str, modifier: str, raw: str, pids: Mapping[tuple[str, str], int]
) -> None:
    """``subject:Patient`` — the modifier must be a resource type the parameter may point to."""
    for rtype in types:
        param = registry_of(pids).search_param(rtype, code)
        if param is None:
            continue
        if modifier in param.targets or (not param.targets and is_resource_type(modifier)):
            return
    raise bad(name, raw, "bad_modifier")


def _fulltext(alias: str, name: str, code: str, modifier: str, raw: str) -> Sql:
    """``_text`` / ``_content`` (https://hl7.org/fhir/R4/search.html#text): see
    :mod:`hygie.search.fulltext`; the query object is rendered per database by the store."""
    if modifier:
        raise bad(name, raw, "bad_modifier")
    try:
        query = fulltext.parse("text" if code == "_text" else "content", split_values(raw))
    except fulltext.QueryError:
        raise bad(name, raw) from None
    return Sql(f"{alias}.rk IN ({fulltext.SQL})", (query,))


def _in_index(alias: str, op: str, table: str, pid: Sql, cond: Sql | None) -> Sql:
    """``alias.rk [NOT] IN (SELECT rk FROM idx_<table> WHERE <pid> [AND (<cond>)])``."""
    where = pid.clause if cond is None else f"{pid.clause} AND ({cond.clause})"
    args = pid.args if cond is None else (*pid.args, *cond.args)
    return Sql(f"{alias}.rk {op} (SELECT rk FROM idx_{table} WHERE {where})", args)


def _or(parts: list[Sql]) -> Sql:
    if len(parts) == 1:
        return parts[0]
    return Sql(" OR ".join(f"({p.clause})" for p in parts), tuple(a for p in parts for a in p.args))


def _prefix(value: str) -> tuple[str, str]:
    if len(value) > 2 and value[:2] in PREFIXES and not value[2].isalpha():
        return value[:2], value[2:]
    return "eq", value


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _string(name: str, modifier: str, value: str, tz: tzinfo) -> Sql:
    text = unescape(value)
    if modifier == "exact":
        return Sql("exact = ?", (text,))
    if modifier == "contains":
        return Sql("folded LIKE ? ESCAPE '\\'", (f"%{_like_escape(fold(text))}%",))
    if modifier:
        raise bad(name, value, "bad_modifier")
    return Sql("folded LIKE ? ESCAPE '\\'", (f"{_like_escape(fold(text))}%",))


def _token(name: str, modifier: str, value: str, tz: tzinfo) -> Sql:
    if modifier:
        raise bad(name, value, "bad_modifier")
    system, code = split_token(value)
    if system is None:
        return Sql("code = ?", (code,))
    if code == "":
        return Sql("system = ?", (system,))
    return Sql("system = ? AND code = ?", (system, code))


def _reference(name: str, modifier: str, value: str, tz: tzinfo, base: str | None = None) -> Sql:
    """https://hl7.org/fhir/R4/search.html#reference. ``Type/id``, ``id`` and ``:Type`` values
    name local resources: they match stored references that are relative or under ``base`` (this
    server), never an absolute reference to another server with the same type and id. An
    absolute value under ``base`` is local too; any other absolute URL matches exactly."""
    text = unescape(value)
    if base and text.startswith(base + "/") and "://" not in text[len(base) + 1 :]:
        text = text[len(base) + 1 :]
    local = local_reference(base)
    if modifier:
        if "/" in text or not text:
            raise bad(name, value)
        return Sql(f"target_type = ? AND target_id = ? AND ({local.clause})", (modifier, text, *local.args))
    if "://" in text or text.startswith("urn:"):
        return Sql("url = ?", (text,))
    parts = text.split("/")
    if len(parts) == 1:
        return Sql(f"target_id = ? AND ({local.clause})", (text, *local.args))
    if len(parts) == 2 or (len(parts) == 4 and parts[2] == "_history"):
        return Sql(
            f"target_type = ? AND target_id = ? AND ({local.clause})", (parts[0], parts[1], *local.args)
        )
    raise bad(name, value)


def local_reference(base: str | None, alias: str = "") -> Sql:
    """A stored reference row that points into this server: its ``url`` is '' (exactly
    ``Type/id``), another relative form (``Type/id/_history/n``) or an absolute URL under ``base``
    (``None``: only relative references are local). ``alias``: the ``idx_reference`` row's alias.

    Chains, ``_has``, ``_include``/``_revinclude`` and compartments join on the row's
    ``(target_type, target_id)``: without this condition an absolute reference to *another*
    server's ``Patient/1`` would reach this server's ``Patient/1``."""
    url = f"{alias}.url" if alias else "url"
    if not base:
        return Sql(f"{url} NOT LIKE '%://%'", ())
    prefix = base + "/"
    return Sql(f"({url} NOT LIKE '%://%' OR substr({url}, 1, {len(prefix)}) = ?)", (prefix,))


def _uri(name: str, modifier: str, value: str, tz: tzinfo) -> Sql:
    text = unescape(value)
    if modifier == "below":
        return Sql("uri LIKE ? ESCAPE '\\'", (f"{_like_escape(text)}%",))
    if modifier == "above":
        return Sql("? LIKE replace(replace(uri, '%', '\\%'), '_', '\\_') || '%' ESCAPE '\\'", (text,))
    if modifier:
        raise bad(name, value, "bad_modifier")
    return Sql("uri = ?", (text,))


def _date(name: str, modifier: str, value: str, tz: tzinfo) -> Sql:
    if modifier:
        raise bad(name, value, "bad_modifier")
    return _date_range("low", "high", name, value, tz)


def _date_range(low: str, high: str, name: str, value: str, tz: tzinfo) -> Sql:
    """Range semantics of https://hl7.org/fhir/R4/search.html#prefix on [low, high)."""
    prefix, text = _prefix(value)
    rng = date_range(text, tz)
    if rng is None:
        raise bad(name, value)
    lo, hi = rng
    return _range_cond(prefix, low, high, lo, hi)


def _range_cond(prefix: str, low: str, high: str, lo: Any, hi: Any) -> Sql:
    """Index-friendly forms of the R4 prefix rules; every target range has ``low < high``.

    eq: contained, ``lo <= low`` and ``high <= hi`` (``low < hi`` then follows: it bounds the index
    range scan); ge: "above intersects or contained" simplifies to ``low >= lo OR high > hi``; le:
    ``low < lo OR high <= hi`` — each side served by an index ((pid, low) or (pid, high)).
    """
    inside = (f"{low} >= ? AND {high} <= ?", (lo, hi))
    if prefix == "eq":
        return Sql(f"{low} >= ? AND {low} < ? AND {high} <= ?", (lo, hi, hi))
    if prefix == "ne":
        return Sql(f"NOT ({inside[0]})", inside[1])
    if prefix == "gt":
        return Sql(f"{high} > ?", (hi,))
    if prefix == "lt":
        return Sql(f"{low} < ?", (lo,))
    if prefix == "ge":
        return Sql(f"{low} >= ? OR {high} > ?", (lo, hi))
    if prefix == "le":
        return Sql(f"{low} < ? OR {high} <= ?", (lo, hi))
    if prefix == "sa":
        return Sql(f"{low} >= ?", (hi,))
    if prefix == "eb":
        return Sql(f"{high} <= ?", (lo,))
    # ap: within 10 % of the value's range width either side (at least the range itself)
    width = max(hi - lo, 1)
    return Sql(f"{low} < ? AND {high} > ?", (hi + width // 10 + 1, lo - width // 10 - 1))


def _number_range(value: str, name: str) -> tuple[str, float, float, float]:
    prefix, text = _prefix(value)
    parsed = number_range(text) if re.fullmatch(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?", text) else None
    if parsed is None:
        raise bad(name, value)
    return prefix, *parsed


def _number(name: str, modifier: str, value: str, tz: tzinfo) -> Sql:
    if modifier:
        raise bad(name, value, "bad_modifier")
    prefix, number, lo, hi = _number_range(value, name)
    return _numeric_cond(prefix, number, lo, hi)


def _numeric_cond(prefix: str, number: float, lo: float, hi: float) -> Sql:
    if prefix == "eq":
        return Sql("value >= ? AND value < ?", (lo, hi))
    if prefix == "ne":
        return Sql("NOT (value >= ? AND value < ?)", (lo, hi))
    ops = {"gt": ">", "lt": "<", "ge": ">=", "le": "<=", "sa": ">", "eb": "<"}
    if prefix in ops:
        return Sql(f"value {ops[prefix]} ?", (number,))
    margin = abs(number) * 0.1
    return Sql("value >= ? AND value <= ?", (number - margin, number + margin))


def _quantity(name: str, modifier: str, value: str, tz: tzinfo) -> Sql:
    if modifier:
        raise bad(name, value, "bad_modifier")
    parts = re.split(r"(?<!\\)\|", value)
    if len(parts) not in (1, 3):
        raise bad(name, value)
    prefix, number, lo, hi = _number_range(parts[0], name)
    cond = _numeric_cond(prefix, number, lo, hi)
    if len(parts) == 3:
        system, code = unescape(parts[1]), unescape(parts[2])
        extra = ([("system = ?", system)] if system else []) + ([("code = ?", code)] if code else [])
        if extra:
            clause = " AND ".join(c for c, _ in extra)
            return Sql(f"{clause} AND ({cond.clause})", (*(a for _, a in extra), *cond.args))
    return cond


_TABLES = {
    "string": "string",
    "token": "token",
    "reference": "reference",
    "date": "date",
    "number": "number",
    "quantity": "quantity",
    "uri": "uri",
}
_COMPILERS: dict[str, Callable[[str, str, str, tzinfo], Sql]] = {
    "string": _string,
    "token": _token,
    "reference": _reference,
    "date": _date,
    "number": _number,
    "quantity": _quantity,
    "uri": _uri,
}
