"""Index rows as stored: the rows :func:`hygie.search.extract.extract` gives for one resource,
keyed by the resource's ``rk`` and each parameter's ``pid`` (schema: migrations 1-4).

Columns that are part of a primary key cannot be NULL: absent token systems and codes, quantity
systems and codes and reference targets are stored as ``''``; a reference's ``url`` is ``''`` when
it is exactly ``Type/id`` (migration 4: it would be stored three times). Rows of parameters the
catalog does not index (no pid) are dropped, and each row is kept once (the extraction gives
distinct rows; only the conversions above can merge two). This runs on every write:
one specialised loop per table, and the pids of a type looked up once per code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hygie.search.extract import IndexRows

Row = tuple[Any, ...]
_MISSING: Any = object()


def _token(rk: int, pid_of: Callable[[str], int | None], rows: list[Any]) -> list[Row]:
    out = []
    for code, system, value in rows:
        if (pid := pid_of(code)) is not None:
            out.append((rk, pid, "" if system is None else system, "" if value is None else value))
    return out


def _reference(rk: int, pid_of: Callable[[str], int | None], rows: list[Any]) -> list[Row]:
    out = []
    for code, found_type, found_id, found_url in rows:
        if (pid := pid_of(code)) is not None:
            target_type = "" if found_type is None else found_type
            target_id = "" if found_id is None else found_id
            url = "" if found_url is None else found_url
            if url == f"{target_type}/{target_id}":
                url = ""  # a plain Type/id: the url adds nothing (stored three times)
            out.append((rk, pid, target_type, target_id, url))
    return out


def _quantity(rk: int, pid_of: Callable[[str], int | None], rows: list[Any]) -> list[Row]:
    out = []
    for code, system, unit, value, low, high in rows:
        if (pid := pid_of(code)) is not None:
            system_or = "" if system is None else system
            out.append((rk, pid, system_or, "" if unit is None else unit, value, low, high))
    return out


def _plain(rk: int, pid_of: Callable[[str], int | None], rows: list[Any]) -> list[Row]:
    out = []
    for row in rows:
        if (pid := pid_of(row[0])) is not None:
            out.append((rk, pid, *row[1:]))
    return out


# (table, conversion, whether the conversion can make two rows one: '' for None, a url dropped).
# Otherwise the rows stay distinct: extract() gives each row once, and a type's codes have
# distinct pids (search_param's key).
_TABLES: tuple[tuple[str, Callable[[int, Callable[[str], int | None], list[Any]], list[Row]], bool], ...] = (
    ("token", _token, True),
    ("token_text", _plain, False),
    ("string", _plain, False),
    ("reference", _reference, True),
    ("date", _plain, False),
    ("number", _plain, False),
    ("quantity", _quantity, True),
    ("uri", _plain, False),
    ("composite", _plain, False),
)


class Pids:
    """``code → pid`` of each resource type, looked up in the catalog once per code."""

    __slots__ = ("_by_type", "_params")

    def __init__(self, params: Mapping[tuple[str, str], int]) -> None:
        self._params = params
        self._by_type: dict[str, Callable[[str], int | None]] = {}

    def of(self, rtype: str) -> Callable[[str], int | None]:
        found = self._by_type.get(rtype)
        if found is None:
            found = self._by_type[rtype] = _lookup(self._params, rtype)
        return found


def _lookup(params: Mapping[tuple[str, str], int], rtype: str) -> Callable[[str], int | None]:
    known: dict[str, int | None] = {}

    def pid_of(code: str) -> int | None:
        pid = known.get(code, _MISSING)
        if pid is _MISSING:
            pid = known[code] = params.get((rtype, code))
        return pid  # type: ignore[no-any-return]

    return pid_of


def stored_rows(rk: int, pid_of: Callable[[str], int | None], rows: IndexRows) -> list[tuple[str, list[Row]]]:
    """``(table, rows)`` for each index table with rows, in the order of the tables."""
    out = []
    for table, convert, merges in _TABLES:
        found = getattr(rows, table)
        if found:
            stored = convert(rk, pid_of, found)
            if stored:
                out.append((table, list(dict.fromkeys(stored)) if merges and len(stored) > 1 else stored))
    return out
