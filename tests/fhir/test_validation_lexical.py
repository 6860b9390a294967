"""The caches and the date-time check of the compiled acceptor (hygie.fhir.validation_lexical).

Spec: https://hl7.org/fhir/R4/datatypes.html#dateTime, https://hl7.org/fhir/R4/datatypes.html#instant.
:func:`full_datetime` may only say True where the R4 regular expressions (and the calendar) do:
here it is compared with them on every single-character change of valid date-times and on a grid
of field values around every bound.
"""

from __future__ import annotations

import itertools

from hygie.fhir import primitives
from hygie.fhir.validation_lexical import Cache, UriCache, full_datetime

DATETIME = primitives.CHECKERS["dateTime"]
INSTANT = primitives.CHECKERS["instant"]
VALID = [
    "2011-10-14T23:37:54+00:00",
    "2024-02-29T00:00:00Z",
    "1900-02-28T12:30:59.123-05:30",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59.9Z",
    "2023-02-28T10:00:00.123456789-13:59",
]
CHARACTERS = [*"0123456789-:TtZz+. _ae/", "\u0661", "\uff10", "\u00b2", "", "00", "60", "24"]


def edits(text: str) -> set[str]:
    """Every replacement, insertion and deletion of one character (or of a short string)."""
    result = set()
    for index, char in itertools.product(range(len(text) + 1), CHARACTERS):
        result.add(text[:index] + char + text[index:])
        if index < len(text):
            result.add(text[:index] + char + text[index + 1 :])
    return result


def fields() -> set[str]:
    """Date-times built from field values on both sides of every bound."""
    years = ["0000", "0001", "1900", "2000", "2023", "2024", "9999"]
    months = ["00", "01", "02", "12", "13"]
    days = ["00", "01", "28", "29", "30", "31", "32"]
    times = ["00:00:00", "23:59:59", "24:00:00", "23:60:00", "23:59:60", "9:00:00"]
    fractions = ["", ".", ".5", ".1234567890"]
    zones = ["Z", "+00:00", "-00:00", "+13:59", "+14:00", "-14:00", "+14:01", "+15:00", "+05:60", "+05:75"]
    zones += ["+0530", "+05", ""]
    return {
        f"{y}-{m}-{d}T{t}{f}{z}"
        for y, m, d, t, f, z in itertools.product(years, months, days, times, fractions, zones)
    }


def test_full_datetime_never_accepts_what_the_regular_expressions_refuse() -> None:
    candidates = set(VALID) | fields()
    for text in VALID:
        candidates |= edits(text)
    accepted = [text for text in candidates if full_datetime(text)]
    wrong = [text for text in accepted if DATETIME(text) != primitives.OK or INSTANT(text) != primitives.OK]
    assert len(candidates) > 50_000 and len(accepted) > 2_000
    assert wrong == []


def test_full_datetime_takes_every_full_date_time_but_leap_seconds() -> None:
    missed = [
        text
        for text in fields()
        if INSTANT(text) == primitives.OK and not full_datetime(text) and ":60" not in text
    ]
    assert all(full_datetime(text) for text in VALID)
    assert missed == []
    assert not full_datetime("2016-12-31T23:59:60Z") and INSTANT("2016-12-31T23:59:60Z") == primitives.OK


def test_caches_keep_short_valid_strings_and_stay_bounded() -> None:
    codes = Cache("code", size=64)
    assert codes.learn("abc") and "abc" in codes.values
    assert not codes.learn("a  b") and "a  b" not in codes.values
    assert not codes.learn(7) and not codes.learn(None)
    assert codes.learn("x" * 300) and "x" * 300 not in codes.values  # valid, too long to keep
    for n in range(100):
        codes.learn(f"c{n}")
    assert 0 < len(codes.values) <= 64
    dates = Cache("dateTime")
    assert dates.learn("2016-12-31T23:59:60Z") and dates.learn("2024-02-29T00:00:00Z") and dates.learn("2024")
    assert not dates.learn("2023-02-29T00:00:00Z") and not dates.learn("2024-02-29T00:00:00")


class _Context:
    def __init__(self) -> None:
        self.refs: set[str] = set()


def test_uri_cache_notes_local_references_in_the_context() -> None:
    uris, context = UriCache("uri"), _Context()
    assert uris.learn("#p", context) and context.refs == {"#p"} and "#p" not in uris.values
    assert uris.learn("#q") and "#q" not in uris.values  # no context: nothing to note
    assert uris.learn("http://x.org/a", context) and "http://x.org/a" in uris.values
    assert not uris.learn("a b", context) and context.refs == {"#p"}
