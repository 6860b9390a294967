"""Numbers, dates and durations as each language writes them.

- French: decimal comma, narrow no-break space (U+202F) between thousands and before ``%``,
  24-hour clock, abbreviated month names (``12 nov. 2026 14:05``).
- English: decimal point, comma between thousands, 24-hour clock as in clinical use
  (``12 Nov 2026 14:05``).
- Arabic: Western (Latin) digits, decimal point and comma between thousands as in CLDR ``ar``
  with the ``latn`` numbering system, month names of CLDR ``ar`` (``12 نوفمبر 2026 14:05``).

Datetimes must be timezone-aware; they are shown in the ``tz`` the caller gives.
"""

from __future__ import annotations

import math
from datetime import datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal

from hygie.web.charts.messages import MONTHS, check_lang, t

_NNBSP = "\u202f"


def aware(at: datetime) -> datetime:
    """``at`` itself; a naive datetime is refused (ValueError)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware")
    return at


def number(value: float, lang: str, decimals: int = 0) -> str:
    """``value`` rounded half away from zero to ``decimals`` (36.55 → 36.6, as charted by hand)
    with the language's separators (``-0`` is ``0``)."""
    check_lang(lang)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    exact = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    text = f"{exact:,.{decimals}f}"
    if text.startswith("-") and float(text.replace(",", "")) == 0:
        text = text[1:]
    if lang == "fr":
        return text.replace(",", _NNBSP).replace(".", ",")
    return text


def decimals_for(step: float) -> int:
    """The fewest decimals (0–3) that write multiples of ``step`` exactly."""
    for d in range(4):
        if abs(round(step, d) - step) < 1e-9 * max(1.0, abs(step)):
            return d
    return 3


def percent(value: float, lang: str, decimals: int = 0) -> str:
    """A share in percent (``72 %`` in French, ``72%`` otherwise); a share above zero that would
    round to zero reads ``< 1 %`` (so a short hypoglycaemia never reads as none)."""
    if 0 < value < 10**-decimals / 2:
        smallest = number(10**-decimals, lang, decimals)
        return f"< {smallest}{_NNBSP}%" if lang == "fr" else f"< {smallest}%"
    text = number(value, lang, decimals)
    return f"{text}{_NNBSP}%" if lang == "fr" else f"{text}%"


def quantity(value: float, unit: str, lang: str, decimals: int) -> str:
    """``72 /min``, ``37,5 °C``, ``98 %`` (a unit-less measure is the bare number)."""
    return with_unit(number(value, lang, decimals), unit, lang)


def with_unit(text: str, unit: str, lang: str) -> str:
    if unit == "%":
        return f"{text}{_NNBSP}%" if lang == "fr" else f"{text}%"
    return f"{text} {unit}" if unit else text


def clock(at: datetime, tz: tzinfo) -> str:
    """``14:05`` (24-hour clock in every language)."""
    local = aware(at).astimezone(tz)
    return f"{local.hour:02d}:{local.minute:02d}"


def minute_of_day(minute: int) -> str:
    """``06:30`` for minute 390 of the day (``24:00`` for the end of the day)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def day(at: datetime, lang: str, tz: tzinfo, *, year: bool = False) -> str:
    """``12 nov.`` / ``12 Nov`` / ``12 نوفمبر`` (with the year when asked)."""
    local = aware(at).astimezone(tz)
    text = f"{local.day} {MONTHS[check_lang(lang)][local.month - 1]}"
    return f"{text} {local.year}" if year else text


def month(at: datetime, lang: str, tz: tzinfo, *, year: bool = False) -> str:
    """``nov.`` / ``Nov`` (with the year when asked)."""
    local = aware(at).astimezone(tz)
    text = MONTHS[check_lang(lang)][local.month - 1]
    return f"{text} {local.year}" if year else text


def moment(at: datetime, lang: str, tz: tzinfo) -> str:
    """Date and time for tables and summaries: ``12 nov. 2026 14:05``."""
    return f"{day(at, lang, tz, year=True)} {clock(at, tz)}"


def duration(minutes: float, lang: str) -> str:
    """``45 min``, ``3 h``, ``16 h 48 min``, ``2 j 5 h`` (rounded to the minute, or to the
    hour beyond two days)."""
    total = round(minutes)
    if total >= 48 * 60:
        d, rest = divmod(round(minutes / 60), 24)
        return t("duration.d", lang, d=d, h=rest)
    h, m = divmod(total, 60)
    if h and m:
        return t("duration.hm", lang, h=h, m=m)
    if h:
        return t("duration.h", lang, h=h)
    return t("duration.m", lang, m=m)


def bounds(low: float | None, high: float | None, unit: str, lang: str, decimals: int) -> str:
    """A range as text: ``60–100 /min``, ``≥ 88 %``, ``≤ 7,0 mmol/L``."""
    if low is not None and high is not None:
        return quantity_pair(low, high, unit, lang, decimals)
    if low is not None:
        return "≥ " + quantity(low, unit, lang, decimals)
    if high is not None:
        return "≤ " + quantity(high, unit, lang, decimals)
    raise ValueError("a range needs a low or a high bound")


def quantity_pair(low: float, high: float, unit: str, lang: str, decimals: int) -> str:
    """``60–100 /min`` (the unit once)."""
    return with_unit(f"{number(low, lang, decimals)}–{number(high, lang, decimals)}", unit, lang)
