"""Lines and bands that stop at gaps: a line is never drawn across missing data."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from itertools import pairwise

from hygie.web.charts.svg import num

XY = tuple[float, float]


def typical_step(times: Sequence[float]) -> float:
    """The usual interval between consecutive times (seconds): the lower median, so that a few
    long gaps among few readings do not pass for the rhythm; 0 with fewer than two."""
    gaps = [b - a for a, b in pairwise(times) if b > a]
    return statistics.median_low(gaps) if gaps else 0.0


def runs(times: Sequence[float], max_gap: float) -> list[range]:
    """Index ranges of ``times`` (sorted) whose consecutive items are at most ``max_gap`` apart."""
    out: list[range] = []
    begin = 0
    for i in range(1, len(times)):
        if times[i] - times[i - 1] > max_gap:
            out.append(range(begin, i))
            begin = i
    if times:
        out.append(range(begin, len(times)))
    return out


def gaps(times: Sequence[float], max_gap: float) -> list[float]:
    """The intervals (seconds) longer than ``max_gap`` between consecutive times."""
    return [b - a for a, b in pairwise(times) if b - a > max_gap]


def line(segments: Sequence[Sequence[XY]]) -> str:
    """Path data with one ``M`` (move) per segment: ``M1,2L3,4M7,8L9,9``."""
    parts = []
    for seg in segments:
        if seg:
            parts.append("M" + "L".join(f"{num(x)},{num(y)}" for x, y in seg))
    return "".join(parts)


def band(upper: Sequence[XY], lower: Sequence[XY], min_width: float = 4.0) -> str:
    """A closed area between two lines over the same x (a lone x becomes a thin bar)."""
    if len(upper) == 1:
        (x, top), (_, bottom) = upper[0], lower[0]
        half = min_width / 2
        upper, lower = [(x - half, top), (x + half, top)], [(x - half, bottom), (x + half, bottom)]
    ring = [*upper, *reversed(lower)]
    return "M" + "L".join(f"{num(x)},{num(y)}" for x, y in ring) + "Z"
