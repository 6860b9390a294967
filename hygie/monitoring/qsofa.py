"""qSOFA, the quick Sequential Organ Failure Assessment (Sepsis-3, JAMA 2016).

One point each for a respiratory rate of 22/min or more, a systolic blood pressure of 100 mm Hg
or less, and altered mentation (Glasgow Coma Scale under 15 — or, where only ACVPU is charted,
anything but Alert); 2 points or more is positive. The criteria live in ``data/qsofa.json``
with their source. Values are compared as given (no rounding: the criteria are thresholds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@cache
def criteria() -> dict[str, Any]:
    """The qSOFA criteria with their source."""
    data: dict[str, Any] = json.loads(
        resources.files("hygie.monitoring").joinpath("data/qsofa.json").read_text("utf-8")
    )
    return data


@dataclass(frozen=True, slots=True)
class Qsofa:
    points: dict[str, int]  # respiratoryRate, systolicBP, mentation → 0 or 1
    total: int
    positive: bool


def qsofa(
    respiratory_rate: float, systolic_bp: float, *, gcs: int | None = None, acvpu: str | None = None
) -> Qsofa:
    """The qSOFA of one assessment; mentation from ``gcs`` (3–15) or else ``acvpu`` (A, C, V, P, U)."""
    c = criteria()["criteria"]
    if gcs is not None:
        if isinstance(gcs, bool) or not 3 <= gcs <= 15:
            raise ValueError("the Glasgow Coma Scale runs from 3 to 15")
        altered = gcs < c["mentation"]["gcs_below"]
    elif acvpu is not None:
        if acvpu not in ("A", "C", "V", "P", "U"):
            raise ValueError("ACVPU is one of A, C, V, P, U")
        altered = acvpu in c["mentation"]["acvpu_altered"]
    else:
        raise ValueError("mentation needs a GCS or an ACVPU level")
    points = {
        "respiratoryRate": int(respiratory_rate >= c["respiratoryRate"]["at_least"]),
        "systolicBP": int(systolic_bp <= c["systolicBP"]["at_most"]),
        "mentation": int(altered),
    }
    total = sum(points.values())
    return Qsofa(points, total, total >= criteria()["positive_from"])
