"""Ranges that FHIR date and number values denote — https://hl7.org/fhir/R4/search.html#prefix

A date's precision is its range (``2024`` → [2024-01-01, 2025-01-01)), a decimal's significant
digits are its range (``5.4`` → [5.35, 5.45)). Used both to index values
(:mod:`hygie.search.extract`) and to read search values (:mod:`hygie.search.query`). Dates with a
fixed offset and numbers are ranged by integer arithmetic, with small caches for values that recur.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

DATE_MIN_MS = -62135596800000  # 0001-01-01T00:00:00Z: open Period start
DATE_MAX_MS = 253402300800000  # 10000-01-01T00:00:00Z: open Period end
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MS = timedelta(milliseconds=1)
_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_NUMBER = re.compile(r"(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?")  # JSON numbers, float reprs
_POWERS = [10**k for k in range(40)]


@lru_cache(maxsize=4096)  # the same dates recur within a bundle (an encounter's observations)
def date_range(text: str, default_tz: tzinfo = UTC) -> tuple[int, int] | None:
    """``[low, high)`` in epoch milliseconds for a FHIR date, dateTime or instant (None if invalid)."""
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    groups = match.groups()
    if groups[7] is not None:
        zone_ms = _zone_ms(groups[7])
        return None if zone_ms is None else _fixed(groups, zone_ms)
    offset = default_tz.utcoffset(None) if isinstance(default_tz, timezone) else None
    if offset is not None and not offset % _MS:  # a fixed zone (UTC...): plain arithmetic
        return _fixed(groups, offset // _MS)
    return _zoned_range(match, default_tz)


@lru_cache(maxsize=64)
def _zone_ms(zone: str) -> int | None:
    """The offset of ``Z`` or ``±hh:mm`` in milliseconds; None outside FHIR's offsets
    (``(0[0-9]|1[0-3]):[0-5][0-9]|14:00``: https://hl7.org/fhir/R4/datatypes.html#dateTime)."""
    if zone == "Z":
        return 0
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if minutes > 59 or hours > 14 or (hours == 14 and minutes):
        return None
    return (-1 if zone[0] == "-" else 1) * (hours * 60 + minutes) * 60_000


def _fixed_range(match: re.Match[str], offset_ms: int) -> tuple[int, int] | None:
    """:func:`date_range` in a fixed-offset zone, by integer arithmetic on epoch days.

    The same results as :func:`_zoned_range` (which builds aware datetimes, 5x slower), including
    None where a datetime would be invalid or past year 9999.
    """
    return _fixed(match.groups(), offset_ms)


def _fixed(groups: tuple[str | Any, ...], offset_ms: int) -> tuple[int, int] | None:
    """:func:`_fixed_range` of the match's groups."""
    year, month, day, hour, minute, second, fraction, _ = groups
    if hour is not None:  # the usual dateTime or instant
        h, mi, sec = int(hour), int(minute), int(second) if second else 0
        if h > 23 or mi > 59 or sec > 59:
            return None
        try:
            low = _day_text_ms(year, month, day) + ((h * 60 + mi) * 60 + sec) * 1000
        except ValueError:  # no such month or day
            return None
        if second is None:
            step = 60_000
        elif fraction is None:
            step = 1000
        else:
            low += int(fraction[:3].ljust(3, "0"))
            step = 10 ** (3 - min(len(fraction), 3))
        if low + step >= DATE_MAX_MS:  # past 9999-12-31T23:59:59.999 local time
            return None
        return low - offset_ms, low + step - offset_ms
    try:
        y = int(year)
        if month is None:
            low = _day_ms(y, 1, 1)
            high = _day_ms(y + 1, 1, 1) if y < 9999 else None
        elif day is None:
            m = int(month)
            low = _day_ms(y, m, 1)
            high = _day_ms(y + m // 12, m % 12 + 1, 1) if (y, m) < (9999, 12) else None
        else:
            low = _day_ms(y, int(month), int(day))
            high = low + 86_400_000
    except ValueError:  # no such month or day
        return None
    if high is None:
        return low - offset_ms, DATE_MAX_MS
    if high >= DATE_MAX_MS:  # past 9999-12-31T23:59:59.999 local time
        return None
    return low - offset_ms, high - offset_ms


@lru_cache(maxsize=4096)  # days recur more than instants (an encounter's start and end)
def _day_text_ms(year: str, month: str, day: str) -> int:
    """:func:`_day_ms` of a date's digits."""
    return _day_ms(int(year), int(month), int(day))


def _day_ms(year: int, month: int, day: int) -> int:
    """Epoch milliseconds of a day's start (raises ValueError for an invalid date)."""
    return (date(year, month, day).toordinal() - _EPOCH_ORDINAL) * 86_400_000


def _zoned_range(match: re.Match[str], tz: tzinfo) -> tuple[int, int] | None:
    """:func:`date_range` in a zone whose offset depends on the date (daylight saving time)."""
    year, month, day, hour, minute, second, fraction, _ = match.groups()
    try:
        y = int(year)
        if month is None:
            low = datetime(y, 1, 1, tzinfo=tz)
            high = datetime(y + 1, 1, 1, tzinfo=tz) if y < 9999 else None
        elif day is None:
            m = int(month)
            low = datetime(y, m, 1, tzinfo=tz)
            high = datetime(y + m // 12, m % 12 + 1, 1, tzinfo=tz) if (y, m) < (9999, 12) else None
        elif hour is None:
            low = datetime(y, int(month), int(day), tzinfo=tz)
            high = low + timedelta(days=1)
        else:
            low = datetime(y, int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=tz)
            if second is None:
                step = timedelta(minutes=1)
            elif fraction is None:
                step = timedelta(seconds=1)
            else:
                digits = min(len(fraction), 3)
                low += timedelta(milliseconds=int(fraction[:3].ljust(3, "0")))
                step = timedelta(milliseconds=10 ** (3 - digits))
            high = low + step
    except (ValueError, OverflowError):
        return None
    low_ms = (low - _EPOCH) // _MS
    high_ms = (high - _EPOCH) // _MS if high is not None else DATE_MAX_MS
    return low_ms, high_ms


def number_range(value: float | int | str) -> tuple[float, float, float] | None:
    """``(value, low, high)``: the value and its implicit precision range (5.4 → [5.35, 5.45))."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return _decimal_range(value)
    return number_text_range(getattr(value, "text", None) or repr(value))


@lru_cache(maxsize=1024)  # a value is often indexed twice (value-quantity, combo-value-quantity)
def number_text_range(text: str) -> tuple[float, float, float] | None:
    """:func:`number_range` of a JSON number's text (or a float's repr)."""
    body = text[1:] if text[:1] == "-" else text
    whole, dot, fraction = body.partition(".")
    if body.isascii() and whole.isdigit() and (not dot or fraction.isdigit()):
        sign, exponent = text[:1] == "-" and "-", None  # plain decimal notation (most values): no regex
    else:
        match = _NUMBER.fullmatch(text)
        if match is None:
            return _decimal_range(text)
        sign, whole, fraction, exponent = match.groups()
    digits = whole + (fraction or "")
    mantissa = int(digits)
    scale = (int(exponent) if exponent else 0) - len(fraction or "") - 1  # of the half-unit
    if mantissa == 0 or len(digits) > 17 or not -40 < scale < 40:
        return _decimal_range(text)  # -0.0 keeps its sign; long or extreme values: exact decimals
    if sign:
        mantissa = -mantissa
    # The bounds are exact rationals (10 × mantissa ∓ 5) × 10^scale, each rounded once to the
    # nearest float (int / int and int → float round correctly), as float(Decimal) does: the same
    # floats as _decimal_range, several times faster.
    number = float(text)
    if scale < 0:
        unit = _POWERS[-scale]
        low, high = (10 * mantissa - 5) / unit, (10 * mantissa + 5) / unit
    else:
        unit = _POWERS[scale]
        low, high = float((10 * mantissa - 5) * unit), float((10 * mantissa + 5) * unit)
    if high <= number:  # 17 significant digits: the range is below float resolution
        low, high = number, math.nextafter(number, math.inf)
    return number, low, high


def _decimal_range(text: str) -> tuple[float, float, float] | None:
    """:func:`number_range` of a decimal string, with :class:`decimal.Decimal` arithmetic."""
    try:
        exact = Decimal(text)
    except InvalidOperation:
        return None
    if not exact.is_finite():
        return None
    exponent = exact.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5).scaleb(exponent - 1)
    number, low, high = float(exact), float(exact - half), float(exact + half)
    if high <= number:  # 17 significant digits: the range is below float resolution
        low, high = number, math.nextafter(number, math.inf)
    return number, low, high
