"""Valid strings of the lexical FHIR R4 types, cached for the acceptor (:mod:`hygie.fhir.validation_accept`).

Spec: https://hl7.org/fhir/R4/datatypes.html#primitive (the regular expressions of code, id, uri,
dateTime, instant…), https://hl7.org/fhir/R4/references.html#literal.

Codes, URIs and dates repeat a lot across resources; a set lookup is far cheaper than a regular
expression. :class:`Cache` keeps the strings found valid (a plain ``set``: membership in a
subclass costs twice as much), emptied when full like :class:`hygie.fhir.primitives.Lexicon`.
The acceptor's generated code reads ``cache.values`` and calls ``cache.learn`` on a miss.

A full date and time (``2011-10-14T23:37:54+00:00``), the commonest miss, is checked by
:func:`full_datetime` with :meth:`datetime.datetime.fromisoformat` once its exact layout is
known; anything else goes to the type's regular expression (:data:`hygie.fhir.primitives.CHECKERS`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Protocol

from hygie.fhir import primitives

__all__ = ["Cache", "HasRefs", "UriCache", "full_datetime"]

_fromisoformat: Final = datetime.fromisoformat


def full_datetime(value: str) -> bool:
    """True only for ``YYYY-MM-DDThh:mm:ss[.s…](Z|±hh:mm)`` with valid fields: a valid dateTime
    and instant. False says nothing (a leap second ``:60``, a partial date…: the regex decides).

    :meth:`~datetime.datetime.fromisoformat` checks the digits, the ranges (month, day of the
    month in that year, hour 0-23, minute, second 0-59) and refuses year 0; the layout, the
    ``T``, the fraction and the zone (``00:00`` to ``13:59`` or ``14:00``), which it would accept
    in other forms or wider, are checked here first.
    """
    size = len(value)
    if (
        size < 20
        or value[10] != "T"
        or value[4] != "-"
        or value[7] != "-"
        or value[13] != ":"
        or value[16] != ":"
        or not value.isascii()
    ):
        return False
    if value[-1] == "Z":
        fraction = value[19:-1]
    elif size >= 25 and value[-6] in "+-" and value[-3] == ":" and value[-5:] <= "14:00" and value[-2] <= "5":
        fraction = value[19:-6]
    else:
        return False
    if fraction and not (fraction[0] == "." and fraction[1:].isascii() and fraction[1:].isdigit()):
        return False
    try:
        _fromisoformat(value)
    except ValueError:
        return False
    return True


class Cache:
    """Strings already found valid for one primitive type, in front of its checker."""

    __slots__ = ("check", "datetime", "size", "values")

    def __init__(self, type_code: str, size: int = primitives.Lexicon.SIZE) -> None:
        self.values: set[str] = set()
        self.check = primitives.CHECKERS[type_code]
        self.datetime = type_code in ("dateTime", "instant")
        self.size = size

    def learn(self, value: object) -> bool:
        """Check a value not in the cache; True (and remembered, if short) if it is valid."""
        if type(value) is not str:
            return False
        if not (self.datetime and full_datetime(value)) and self.check(value) != primitives.OK:
            return False
        self.remember(value)
        return True

    def remember(self, value: str) -> None:
        """Keep a string known to be valid (if short enough)."""
        if len(value) <= primitives.Lexicon.MAX_CHARS:
            values = self.values
            if len(values) >= self.size:
                values.clear()
            values.add(value)


class HasRefs(Protocol):
    """A resource's context (:class:`hygie.fhir.validation_accept.Context`): its local references."""

    refs: set[str]


class UriCache(Cache):
    """Valid uri, url or canonical strings, but local references (``#id``): noted in the context."""

    __slots__ = ()

    def learn(self, value: object, context: HasRefs | None = None) -> bool:
        if type(value) is not str or self.check(value) != primitives.OK:
            return False
        if value[0] != "#":
            self.remember(value)
        elif context is not None:  # dom-3 looks for the contained resources' references
            context.refs.add(value)
        return True
