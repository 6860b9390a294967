"""``_sort`` → an SQL ``ORDER BY`` over the index tables.

Spec: https://hl7.org/fhir/R4/search.html#sort. ``_sort`` is a comma-separated list of search
parameters, each optionally prefixed with ``-`` for descending order; repeated ``_sort``
parameters add keys in order. Every key is a correlated subquery on the resource's index rows
(``rk = r.rk AND pid = ?``: the ``(rk, pid, …)`` primary key on SQLite, the ``rk`` index on
PostgreSQL; checked with ``EXPLAIN``). A resource with several values sorts by its lowest value
in ascending order and by its highest value in descending order:

- string: the folded value (case- and accent-insensitive);
- token: the code, then the system;
- date: the start of the range (``low``) ascending, its end (``high``) descending;
- number, quantity: the value (units are not converted);
- reference: ``Type/id`` (the reference text when it names no local resource);
- uri: the URI; ``_id``: the logical id; ``_lastUpdated``: the last update time.

Resources without a value sort last in both directions. Text compares by code point on both
databases (``COLLATE "C"`` on PostgreSQL, SQLite's ``BINARY``). The order always ends with the
resource key ``r.rk``, so equal keys keep the same order from page to page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.search.catalog import registry_of
from hygie.search.query import Sql

register(
    {
        "sort_unknown": {
            "fr": "_sort : paramètre inconnu ou non triable pour {type} : {name}.",
            "en": "_sort: unknown or unsortable parameter for {type}: {name}.",
        },
    }
)

# (table, ascending column expression, descending column expression) per parameter type;
# several entries make several keys (token: code, then system).
_KEYS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "string": (("string", "folded", "folded"),),
    "token": (("token", "code", "code"), ("token", "system", "system")),
    "date": (("date", "low", "high"),),
    "number": (("number", "value", "value"),),
    "quantity": (("quantity", "value", "value"),),
    "uri": (("uri", "uri", "uri"),),
    "reference": (
        (
            "reference",
            "CASE WHEN target_type <> '' THEN target_type || '/' || target_id ELSE url END",
            "CASE WHEN target_type <> '' THEN target_type || '/' || target_id ELSE url END",
        ),
    ),
}
_TEXT_TYPES = frozenset({"string", "token", "uri", "reference"})


def sort_values(query: list[tuple[str, str]]) -> list[str]:
    """The ``_sort`` keys of a query string, in order (empty values ignored)."""
    keys: list[str] = []
    for name, raw in query:
        if name == "_sort" and raw != "":
            keys.extend(part.strip() for part in raw.split(","))
    return keys


def compile_sort(rtype: str, keys: list[str], pids: Mapping[tuple[str, str], int], dialect: str) -> Sql:
    """The ``ORDER BY`` list for ``keys`` (see :func:`sort_values`), ending with ``r.rk``.

    Raises a 400 :class:`FhirError` naming the first unknown or unsortable parameter.
    """
    clauses: list[str] = []
    args: list[Any] = []
    for key in keys:
        descending = key.startswith("-")
        code = key[1:] if descending else key
        direction = "DESC" if descending else "ASC"
        if code == "_id":
            clauses.append(f"{_collate('r.id', dialect)} {direction}")
            continue
        if code == "_lastUpdated":
            clauses.append(f"r.last_updated {direction}")
            continue
        param = registry_of(pids).search_param(rtype, code) if code else None
        pid = pids.get((rtype, code))
        keyspec = _KEYS.get(param.type) if param is not None and param.expression else None
        if param is None or pid is None or keyspec is None:
            raise FhirError.of(400, "not-supported", "sort_unknown", name=key[:64], type=rtype)
        aggregate = "max" if descending else "min"
        # SQLite would rather walk the (pid, value) index to find min/max than look up the
        # resource's few rows by primary key: the unary + keeps it on (rk, pid, …).
        pid_column = "+pid" if dialect == "sqlite" else "pid"
        for table, ascending_column, descending_column in keyspec:
            column = descending_column if descending else ascending_column
            if param.type in _TEXT_TYPES:
                column = _collate(f"({column})", dialect)
            expr = f"(SELECT {aggregate}({column}) FROM idx_{table} WHERE rk = r.rk AND {pid_column} = ?)"
            if param.type in _TEXT_TYPES:
                expr = _collate(expr, dialect)
            clauses.append(f"{expr} {direction} NULLS LAST")
            args.append(pid)
    clauses.append("r.rk")
    return Sql(", ".join(clauses), tuple(args))


def _collate(expr: str, dialect: str) -> str:
    return f'{expr} COLLATE "C"' if dialect == "postgresql" else expr
