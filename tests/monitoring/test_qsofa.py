"""qSOFA (Sepsis-3) boundaries: each criterion on both sides of its threshold, and the total."""

from __future__ import annotations

import pytest

from hygie.monitoring.qsofa import criteria, qsofa

# (respiratory rate, systolic BP, GCS, ACVPU, total, positive)
CASES = [
    (16, 120, 15, None, 0, False),
    (21, 120, 15, None, 0, False),
    (21.9, 120, 15, None, 0, False),
    (22, 120, 15, None, 1, False),
    (16, 101, 15, None, 0, False),
    (16, 100.5, 15, None, 0, False),
    (16, 100, 15, None, 1, False),
    (16, 120, 14, None, 1, False),
    (22, 100, 15, None, 2, True),
    (22, 120, 14, None, 2, True),
    (16, 100, 14, None, 2, True),
    (30, 80, 8, None, 3, True),
    (22, 120, None, "A", 1, False),
    (22, 120, None, "C", 2, True),
    (16, 100, None, "V", 2, True),
    (16, 120, None, "U", 1, False),
]


@pytest.mark.parametrize(("rr", "sbp", "gcs", "acvpu", "total", "positive"), CASES)
def test_table(rr: float, sbp: float, gcs: int | None, acvpu: str | None, total: int, positive: bool) -> None:
    result = qsofa(rr, sbp, gcs=gcs, acvpu=acvpu)
    assert result.total == total
    assert result.positive is positive
    assert sum(result.points.values()) == total


def test_gcs_wins_over_acvpu_and_bad_input() -> None:
    assert qsofa(16, 120, gcs=15, acvpu="V").points["mentation"] == 0
    for bad in ({"gcs": 2}, {"gcs": 16}, {"acvpu": "X"}, {}):
        with pytest.raises(ValueError):
            qsofa(16, 120, **bad)


def test_source() -> None:
    assert "Sepsis-3" in criteria()["source"] and "JAMA 2016" in criteria()["source"]
