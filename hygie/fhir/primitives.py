"""FHIR R4 primitive data types: JSON representation and lexical checks.

Spec: https://hl7.org/fhir/R4/datatypes.html#primitive (regular expressions and value ranges) and
https://hl7.org/fhir/R4/json.html#primitive (integers and decimals are JSON numbers, booleans are
JSON ``true``/``false``, every other primitive is a non-empty JSON string).

:func:`check` returns :data:`OK`, :data:`BAD_JSON_TYPE` (e.g. a string where a boolean is due) or
:data:`BAD_VALUE` (right JSON type, invalid lexical form or out of range).
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable
from typing import Final

OK: Final = 0
BAD_JSON_TYPE: Final = 1
BAD_VALUE: Final = 2

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1
MAX_STRING_CHARS: Final = 1024 * 1024  # "strings SHALL NOT exceed 1MB in size"

_YEAR = r"(?:[0-9](?:[0-9](?:[0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_MONTH = r"(?:0[1-9]|1[0-2])"
_DAY = r"(?:0[1-9]|[1-2][0-9]|3[0-1])"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]+)?"
_ZONE = r"(?:Z|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))"

DATE_RE: Final = re.compile(rf"{_YEAR}(?:-{_MONTH}(?:-{_DAY})?)?")
DATETIME_RE: Final = re.compile(rf"{_YEAR}(?:-{_MONTH}(?:-{_DAY}(?:T{_TIME}{_ZONE})?)?)?")
INSTANT_RE: Final = re.compile(rf"{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_ZONE}")
TIME_RE: Final = re.compile(_TIME)
ID_RE: Final = re.compile(r"[A-Za-z0-9\-\.]{1,64}")
CODE_RE: Final = re.compile(r"[^\s]+(?: [^\s]+)*")
URI_RE: Final = re.compile(r"\S+")
OID_RE: Final = re.compile(r"urn:oid:[0-2](?:\.(?:0|[1-9][0-9]*))+")
UUID_RE: Final = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The R4 regex for base64Binary forgets "/"; RFC 4648 is what is meant. Whitespace is allowed.
BASE64_RE: Final = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_BASE64_BODY_RE: Final = re.compile(r"[A-Za-z0-9+/]*")  # BASE64_RE, once length and padding are checked


def valid_day(text: str) -> bool:
    """A full date (``YYYY-MM-DD…``, lexically valid) must exist in the calendar (no 2023-02-30)."""
    if len(text) < 10 or text[8:10] <= "28":  # every month has days 01 to 28
        return True
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    return day <= calendar.monthrange(year, month)[1]


def _string_like(pattern: re.Pattern[str] | None) -> Callable[[object], int]:
    def check_string(value: object) -> int:
        if type(value) is not str:
            return BAD_JSON_TYPE
        if not value or len(value) > MAX_STRING_CHARS:
            return BAD_VALUE
        if pattern is not None and pattern.fullmatch(value) is None:
            return BAD_VALUE
        return OK

    return check_string


def _dated(pattern: re.Pattern[str]) -> Callable[[object], int]:
    def check_date(value: object) -> int:
        if type(value) is not str:
            return BAD_JSON_TYPE
        if pattern.fullmatch(value) is None or not valid_day(value):
            return BAD_VALUE
        return OK

    return check_date


def _check_boolean(value: object) -> int:
    return OK if type(value) is bool else BAD_JSON_TYPE


def _integer(minimum: int) -> Callable[[object], int]:
    def check_integer(value: object) -> int:
        if type(value) is not int:
            # A JSON number with a fraction or an exponent, or beyond 64 bits (jsonio reads it as
            # a decimal), is of the right JSON type: its value is what is wrong.
            return BAD_VALUE if isinstance(value, float) else BAD_JSON_TYPE
        return OK if minimum <= value <= INT32_MAX else BAD_VALUE

    return check_integer


def _check_decimal(value: object) -> int:
    if type(value) is int:
        return OK
    if not isinstance(value, float):  # float or jsonio.Decimal (a float keeping its text)
        return BAD_JSON_TYPE
    return OK if math.isfinite(value) else BAD_VALUE


def _check_base64(value: object) -> int:
    """RFC 4648 base64, whitespace ignored: groups of 4 alphabet characters, "=" padding at the end."""
    if type(value) is not str:
        return BAD_JSON_TYPE
    compact = "".join(value.split())  # str.split() and regex \s agree on what whitespace is
    body = compact.rstrip("=")
    if (
        not compact
        or len(compact) % 4
        or len(compact) - len(body) > 2
        or _BASE64_BODY_RE.fullmatch(body) is None
    ):
        return BAD_VALUE
    return OK


CHECKERS: Final[dict[str, Callable[[object], int]]] = {
    "boolean": _check_boolean,
    "integer": _integer(INT32_MIN),
    "unsignedInt": _integer(0),
    "positiveInt": _integer(1),
    "decimal": _check_decimal,
    "string": _string_like(None),
    "markdown": _string_like(None),
    "xhtml": _string_like(None),
    "code": _string_like(CODE_RE),
    "id": _string_like(ID_RE),
    "uri": _string_like(URI_RE),
    "url": _string_like(URI_RE),
    "canonical": _string_like(URI_RE),
    "oid": _string_like(OID_RE),
    "uuid": _string_like(UUID_RE),
    "base64Binary": _check_base64,
    "date": _dated(DATE_RE),
    "dateTime": _dated(DATETIME_RE),
    "instant": _dated(INSTANT_RE),
    "time": _string_like(TIME_RE),
}

# JSON type expected for each primitive, for diagnostics.
JSON_TYPES: Final[dict[str, str]] = {
    "boolean": "boolean",
    "integer": "number",
    "unsignedInt": "number",
    "positiveInt": "number",
    "decimal": "number",
}


class Lexicon(set[str]):
    """Strings already found valid for one primitive type: a bounded cache in front of its checker.

    Codes, URIs, ids and dates repeat a lot across resources (``http://loinc.org``, a patient's
    reference, an encounter's date); a set lookup is ten times cheaper than the regex. Only short
    strings are kept, and the set is emptied when full, so its memory stays small.
    """

    __slots__ = ("check",)
    SIZE: Final = 4096
    MAX_CHARS: Final = 256

    def __init__(self, type_code: str) -> None:
        super().__init__()
        self.check = CHECKERS[type_code]

    def learn(self, value: str) -> bool:
        """Check a string not in the cache; True (and remembered) if it is valid."""
        if self.check(value) != OK:
            return False
        self.remember(value)
        return True

    def remember(self, value: str) -> None:
        """Keep a string known to be valid (if short enough)."""
        if len(value) <= self.MAX_CHARS:
            if len(self) >= self.SIZE:
                self.clear()
            self.add(value)


def check(type_code: str, value: object) -> int:
    """Check one JSON value against primitive type ``type_code`` (OK, BAD_JSON_TYPE or BAD_VALUE)."""
    return CHECKERS[type_code](value)


def json_type_of(type_code: str) -> str:
    """The JSON type a primitive is written as (``string``, ``number`` or ``boolean``)."""
    return JSON_TYPES.get(type_code, "string")


def is_valid_id(value: object) -> bool:
    """True for a valid resource id (``[A-Za-z0-9\\-\\.]{1,64}``)."""
    return type(value) is str and ID_RE.fullmatch(value) is not None
