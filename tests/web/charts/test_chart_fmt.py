"""Numbers, dates and durations per language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from hygie.web.charts import fmt

PARIS = ZoneInfo("Europe/Paris")


def test_french_decimal_comma_and_narrow_space_between_thousands() -> None:
    assert fmt.number(37.55, "fr", 1) == "37,6"  # half away from zero, as charted by hand
    assert fmt.number(12345.5, "fr", 1) == "12\u202f345,5"
    assert fmt.number(12345.5, "en", 1) == "12,345.5"
    assert fmt.number(12345.5, "ar", 1) == "12,345.5"  # Western digits
    assert fmt.number(-0.04, "fr", 1) == "0,0"
    assert fmt.number(-2.5, "en", 0) == "-3"


def test_percent_and_quantities() -> None:
    assert fmt.percent(72.04, "fr", 1) == "72,0\u202f%"
    assert fmt.percent(72, "en") == "72%"
    assert fmt.percent(0.3, "fr") == "< 1\u202f%"  # a short hypoglycaemia never reads as none
    assert fmt.percent(0.0, "en") == "0%"
    assert fmt.quantity(36.95, "°C", "fr", 1) == "37,0 °C"
    assert fmt.quantity(4200, "", "en", 0) == "4,200"
    assert fmt.bounds(3.9, 10, "mmol/L", "fr", 1) == "3,9–10,0 mmol/L"
    assert fmt.bounds(None, 7, "mmol/L", "en", 1) == "≤ 7.0 mmol/L"
    assert fmt.bounds(88, None, "%", "fr", 0) == "≥ 88\u202f%"
    with pytest.raises(ValueError):
        fmt.bounds(None, None, "%", "fr", 0)
    with pytest.raises(ValueError):
        fmt.number(float("nan"), "fr")


def test_dates_in_the_display_time_zone_with_24_hour_clock() -> None:
    at = datetime(2026, 11, 20, 13, 5, tzinfo=UTC)
    assert fmt.moment(at, "fr", PARIS) == "20 nov. 2026 14:05"
    assert fmt.moment(at, "en", PARIS) == "20 Nov 2026 14:05"
    assert fmt.moment(at, "ar", PARIS) == "20 نوفمبر 2026 14:05"
    assert fmt.moment(at, "en", timezone(timedelta(hours=-5))) == "20 Nov 2026 08:05"
    assert fmt.month(datetime(2027, 2, 1, tzinfo=PARIS), "fr", PARIS, year=True) == "févr. 2027"
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert fmt.clock(summer, PARIS) == "14:00"  # daylight saving time


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        fmt.moment(datetime(2026, 11, 20, 13, 5), "fr", PARIS)


def test_durations() -> None:
    assert fmt.duration(1036.8, "fr") == "17 h 17 min"
    assert fmt.duration(45, "en") == "45 min"
    assert fmt.duration(180, "fr") == "3 h"
    assert fmt.duration(0, "en") == "0 min"
    assert fmt.duration(3 * 1440 + 300, "fr") == "3 j 5 h"
    assert fmt.duration(90, "ar") == "1 س 30 د"
