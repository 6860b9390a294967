"""JSON in and out, preserving the precision of FHIR decimals.

https://hl7.org/fhir/R4/json.html#primitive: a decimal keeps its precision (``1.50`` is not
``1.5``). orjson reads numbers as binary floats, so a body holding a number whose text would
not survive a float round trip (trailing fractional zeros, exponents, more than 15 significant
digits, integers beyond 64 bits) is read by the standard library instead, each such number
becoming a :class:`Decimal` — a ``float`` that remembers its original text — and written back
verbatim. Everything else takes the fast orjson path; a body that orjson writes back byte for byte
(what compact serialisers, Hygie's own exports among them, produce) needs no scan at all.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# A JSON number (after ``:``, ``[`` or ``,``) that a float would not write back as read:
# fractional trailing zeros (1.50, 1.00 — but 1.0 survives), exponents, 16+ digit mantissas,
# 20+ digit integers (orjson reads an integer beyond 64 bits as a float).
# Possessive quantifiers (``++``, ``*+``...) wherever what follows cannot start with what they
# consume: the same matches, without retrying shorter digit runs at every ``12:34`` of a
# timestamp (a third of the search time on the Synthea corpus). One pattern per character a
# number may follow: a pattern that starts with a literal is searched by a fast scan for it,
# where ``[:\[,]`` first tried every position (a third faster on the Synthea lines).
_NUMBER_AFTER = (
    rb"\s*+-?+(?:\d++(?:\.\d*[1-9]0++|\.00++|\.\d{16,}+|(?:\.\d++)?+[eE][+-]?+\d++)\s*+[,\]}]"
    rb"|\d{16,}+\.\d|\d{20,}+\s*+[,\]}])"
)
_LOSSY = tuple(re.compile(re.escape(before) + _NUMBER_AFTER) for before in (b":", b"[", b","))


def _lossy(blob: bytes) -> bool:
    """Whether ``blob`` holds a number a float would not write back as read."""
    return any(pattern.search(blob) is not None for pattern in _LOSSY)


class Decimal(float):
    """A FHIR decimal read from JSON, with its original text."""

    text: str

    def __new__(cls, text: str) -> Decimal:
        value = super().__new__(cls, text)
        value.text = text
        return value


_NUL = re.compile(rb"\\[uU]0000")
_SURROGATE = re.compile(rb"\\[uU][dD][89a-fA-F]")


def _integer(text: str) -> int | Decimal:
    """Integers beyond 64 bits stay exact as decimals (orjson could not write them back)."""
    return int(text) if len(text) < 19 else Decimal(text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return orjson.Fragment(obj.text.encode("ascii"))
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def loads(raw: bytes | str) -> Any:
    """Parse JSON (raises ``ValueError`` on malformed input)."""
    blob = raw.encode() if isinstance(raw, str) else raw
    if _NUL.search(blob):  # no text column of PostgreSQL can hold it; FHIR strings have no use for it
        raise ValueError("the NUL character (\\u0000) is not allowed")
    try:
        value = orjson.loads(blob)
    except orjson.JSONDecodeError:
        if not _lossy(blob):
            raise
    else:
        # Written back byte for byte (but for trailing white space: the end of an NDJSON line),
        # every number reads back as it was written: no scan needed.
        try:
            written = orjson.dumps(value)
        except orjson.JSONEncodeError:  # nested deeper than orjson writes (254): scanned instead
            written = b"\0"
        if (blob.startswith(written) and not blob[len(written) :].strip()) or not _lossy(blob):
            return value
    if _SURROGATE.search(blob):
        orjson.loads(blob)  # rejects lone surrogates, which the standard library lets through
    try:
        return json.loads(blob, parse_float=Decimal, parse_int=_integer, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def dumps(data: Any, *, pretty: bool = False, sort_keys: bool = False) -> bytes:
    option = (orjson.OPT_INDENT_2 if pretty else 0) | (orjson.OPT_SORT_KEYS if sort_keys else 0)
    return orjson.dumps(data, default=_default, option=option)
