"""FHIR instants → epoch milliseconds (``_since``, ``_at``).

https://hl7.org/fhir/R4/datatypes.html#instant. Values without a time zone are read in the
server's zone (``tz``). Date *ranges* for search live in :func:`hygie.search.extract.date_range`.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

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

