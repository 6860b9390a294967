"""FHIR date/time values → epoch milliseconds.

https://hl7.org/fhir/R4/datatypes.html#instant and #dateTime. Values without a time zone are
read in the server's zone (``tz``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo

_INSTANT_RE = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?")


def parse_instant_ms(value: str, tz: tzinfo) -> int | None:
    """Parse a date, dateTime or instant to epoch ms (its earliest moment); None if invalid."""
    if not _INSTANT_RE.fullmatch(value):
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # Python accepts at most 6 fractional digits
        head, _, tail = text.partition(".")
        digits = re.match(r"\d+", tail)
        assert digits is not None
        text = f"{head}.{digits.group()[:6].ljust(6, '0')}{tail[digits.end() :]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return int(moment.timestamp() * 1000)


_DATE_RE = re.compile(
    r"(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})(T(?P<H>\d{2}):(?P<M>\d{2})(:(?P<S>\d{2})(?P<f>\.\d{1,9})?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def date_range_ms(value: str, tz: tzinfo) -> tuple[int, int] | None:
    """The half-open range [low, high) in epoch ms that a FHIR date/dateTime/instant denotes.

    Precision implies the range (https://hl7.org/fhir/R4/search.html#date): ``2024`` covers
    the whole year, ``2024-03-05T10:00`` the whole minute, a value with milliseconds one ms.
    """
    m = _DATE_RE.fullmatch(value)
    if m is None:
        return None
    parts = m.groupdict()
    zone: tzinfo = tz
    if parts["tz"]:
        zone = datetime.fromisoformat(f"2000-01-01T00:00{parts['tz'].replace('Z', '+00:00')}").tzinfo or tz
    try:
        year = int(parts["y"])
        if parts["m"] is None:
            low, high = datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)
        elif parts["d"] is None:
            month = int(parts["m"])
            low = datetime(year, month, 1, tzinfo=zone)
            high = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
        else:
            day = datetime(year, int(parts["m"]), int(parts["d"]), tzinfo=zone)
            if parts["H"] is None:  # wall-clock day: 23 or 25 hours across a DST change
                return _ms(day), _ms(day + timedelta(days=1))
            low = day.replace(hour=int(parts["H"]), minute=int(parts["M"]))
            if parts["S"] is None:
                return _ms(low), _ms(low) + 60_000
            low = low.replace(second=int(parts["S"]))
            if parts["f"] is None:
                return _ms(low), _ms(low) + 1000
            start = _ms(low) + int(parts["f"][1:4].ljust(3, "0"))
            return start, start + 1
    except ValueError:
        return None
    return _ms(low), _ms(high)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
