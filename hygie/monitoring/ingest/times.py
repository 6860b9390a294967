"""Reading times: ISO 8601 / RFC 3339 date-times (``Z`` or an offset), Apple Health's
``2026-11-20 08:01:00 +0100``, and epoch seconds. A time without an offset is refused unless
the caller gives the timezone the source is known to use (a CSV mapping does)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from hygie.monitoring.ingest.samples import RecordError, Where, shown

_OFFSETS: dict[str, timezone] = {}
# A device's time is taken between these years (in UTC): FHIR offsets stop at ±14:00, and an
# instant whose UTC year is 0 or 10000 could be stored but never read back, nor rounded to its
# hour by the monitoring round (which would then fail for every patient).
FIRST_YEAR, LAST_YEAR = 1900, 9998
MAX_OFFSET = timedelta(hours=14)


def bad_offset(moment: datetime) -> bool:
    """An offset beyond FHIR's ±14:00."""
    offset = moment.utcoffset()
    return offset is not None and abs(offset) > MAX_OFFSET


def outside_years(moment: datetime) -> bool:
    """In UTC, before :data:`FIRST_YEAR` or after :data:`LAST_YEAR` (or off the calendar)."""
    try:
        year = moment.astimezone(UTC).year
    except (OverflowError, ValueError):
        return True
    return not FIRST_YEAR <= year <= LAST_YEAR


def in_range(where: Where, fld: str, moment: datetime, raw: object) -> datetime | RecordError:
    """``moment``, or the record error saying why a device time cannot be taken."""
    if bad_offset(moment):
        return where.error(fld, "ingest_time", value=shown(raw))
    if outside_years(moment):
        return where.error(fld, "ingest_time_range", value=shown(raw), first=FIRST_YEAR, last=LAST_YEAR)
    return moment


def iso(where: Where, fld: str, raw: Any, default_tz: tzinfo | None = None) -> datetime | RecordError:
    """An aware datetime from an ISO 8601 string."""
    if not isinstance(raw, str) or not raw.strip():
        return (
            where.error(fld, "ingest_missing")
            if raw is None
            else where.error(fld, "ingest_time", value=shown(raw))
        )
    text = raw.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return where.error(fld, "ingest_time", value=text[:60])
    if moment.utcoffset() is None:
        if default_tz is None:
            return where.error(fld, "ingest_naive_time", value=text[:60])
        moment = moment.replace(tzinfo=default_tz)
    return in_range(where, fld, moment, text)


def _offset(text: str) -> timezone:
    """``+0100`` → a fixed-offset timezone (cached: exports repeat a handful of offsets)."""
    tz = _OFFSETS.get(text)
    if tz is None:
        sign = -1 if text[0] == "-" else 1
        if text[0] not in "+-" or len(text) != 5 or not (text[1:].isascii() and text[1:].isdigit()):
            raise ValueError(text)
        minutes = int(text[1:3]) * 60 + int(text[3:5])
        tz = UTC if minutes == 0 else timezone(sign * timedelta(minutes=minutes))
        _OFFSETS[text] = tz
    return tz


def apple(where: Where, fld: str, raw: str | None) -> datetime | RecordError:
    """Apple Health's ``YYYY-MM-DD HH:MM:SS ±HHMM`` (fast path), else ISO 8601."""
    if raw is None:
        return where.error(fld, "ingest_missing")
    if len(raw) == 25 and raw[10] == " " and raw[19] == " ":
        try:
            moment = datetime(
                int(raw[0:4]),
                int(raw[5:7]),
                int(raw[8:10]),
                int(raw[11:13]),
                int(raw[14:16]),
                int(raw[17:19]),
                tzinfo=_offset(raw[20:25]),
            )
        except ValueError:
            return where.error(fld, "ingest_time", value=raw[:60])
        return in_range(where, fld, moment, raw)
    if len(raw) == 19 and raw[10] == " ":
        return where.error(fld, "ingest_naive_time", value=raw)
    return iso(where, fld, raw)


def epoch(where: Where, fld: str, raw: Any, tz: tzinfo = UTC) -> datetime | RecordError:
    """Seconds since 1970-01-01T00:00:00Z (an integer or float), shown in ``tz``."""
    if raw is None:
        return where.error(fld, "ingest_missing")
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return where.error(fld, "ingest_time", value=shown(raw))
    try:
        moment = datetime.fromtimestamp(raw, tz)
    except (OverflowError, OSError, ValueError):
        return where.error(fld, "ingest_time", value=shown(raw))
    return in_range(where, fld, moment, raw)
