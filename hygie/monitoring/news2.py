"""NEWS2, the National Early Warning Score 2 (Royal College of Physicians, December 2017).

The chart lives in ``data/news2.json`` with its source; this module only applies it:

- each parameter is rounded to the chart's precision (integers; temperature to 0.1 °C) and
  scored by the first band whose inclusive upper bound it does not exceed;
- SpO2 uses Scale 1 unless Scale 2 (hypercapnic respiratory failure, target 88–92 %) is asked
  for, where readings of 93 % and above score only on oxygen;
- the aggregate is the sum of the seven sub-scores; the clinical risk is ``high`` from 7,
  ``medium`` from 5, ``low-medium`` when any single parameter scores 3 (and the total is
  under 5), ``low`` otherwise (Chart 2), each with its response (Chart 4).

Pure functions: no I/O beyond reading the chart once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from typing import Any, Literal

Consciousness = Literal["A", "C", "V", "P", "U"]
PARAMETERS = ("respiratoryRate", "spo2", "airOrOxygen", "systolicBP", "pulse", "consciousness", "temperature")
"""The seven parameters, in the chart's order (and the order of the score's components)."""


@cache
def chart() -> dict[str, Any]:
    """The NEWS2 chart (bands, codes, risk thresholds) with its source."""
    data: dict[str, Any] = json.loads(
        resources.files("hygie.monitoring").joinpath("data/news2.json").read_text("utf-8")
    )
    return data


@dataclass(frozen=True, slots=True)
class Vitals:
    """One set of observations, in the chart's units (/min, %, mm[Hg], /min, °C)."""

    respiratory_rate: float
    spo2: float
    on_oxygen: bool
    systolic_bp: float
    pulse: float
    consciousness: Consciousness
    temperature: float
    spo2_scale: int = 1


@dataclass(frozen=True, slots=True)
class Risk:
    """The clinical risk band of an aggregate score and the response it calls for."""

    risk: str  # low | low-medium | medium | high
    response: str
    monitoring: str
    text: dict[str, str]  # language → sentence


@dataclass(frozen=True, slots=True)
class Score:
    """The sub-score of each parameter (keys of :data:`PARAMETERS`), the total and its risk."""

    parts: dict[str, int]
    total: int
    risk: Risk


def rounded(value: float, decimals: int) -> Decimal:
    """``value`` at the chart's precision, half away from zero (36.05 → 36.1, 91.5 → 92)."""
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def banded(value: float, bands: list[list[Any]], decimals: int) -> int:
    """The score of the first band whose inclusive upper bound ``value`` does not exceed."""
    exact = rounded(value, decimals)
    for upper, points in bands:
        if upper is None or exact <= Decimal(repr(upper)):
            return int(points)
    raise ValueError("a chart's last band must be open")  # pragma: no cover (checked by tests)


def spo2_points(spo2: float, on_oxygen: bool, scale: int) -> int:
    """SpO2 sub-score on Scale 1 or Scale 2 (Scale 2: 93 % and above score only on oxygen)."""
    p = chart()["parameters"]
    if scale == 1:
        return banded(spo2, p["spo2"]["bands"], 0)
    if scale != 2:
        raise ValueError(f"SpO2 scale must be 1 or 2, not {scale}")
    return banded(spo2, p["spo2Scale2Oxygen" if on_oxygen else "spo2Scale2Air"]["bands"], 0)


def risk_of(total: int, parts: dict[str, int]) -> Risk:
    """Chart 2: the clinical risk of an aggregate score (a single 3 raises a low total)."""
    for band in chart()["risk"]:
        if "single" in band:
            hit = any(points >= band["single"] for points in parts.values())
        else:
            hit = total >= band["min"]
        if hit:
            text = {"en": band["text_en"], "fr": band["text_fr"]}
            return Risk(band["risk"], band["response"], band["monitoring"], text)
    raise ValueError("the risk bands must end with min 0")  # pragma: no cover


def score(v: Vitals) -> Score:
    """The NEWS2 of one set of vitals."""
    p = chart()["parameters"]
    parts = {
        "respiratoryRate": banded(v.respiratory_rate, p["respiratoryRate"]["bands"], 0),
        "spo2": spo2_points(v.spo2, v.on_oxygen, v.spo2_scale),
        "airOrOxygen": int(p["airOrOxygen"]["oxygen" if v.on_oxygen else "air"]),
        "systolicBP": banded(v.systolic_bp, p["systolicBP"]["bands"], 0),
        "pulse": banded(v.pulse, p["pulse"]["bands"], 0),
        "consciousness": int(p["consciousness"]["scores"][v.consciousness]),
        "temperature": banded(v.temperature, p["temperature"]["bands"], 1),
    }
    total = sum(parts.values())
    return Score(parts, total, risk_of(total, parts))
