"""The catalogue of sample kinds: LOINC code, FHIR category and profile, canonical UCUM unit,
accepted input units with their conversion, and sanity limits.

The knowledge lives in ``hygie/monitoring/data/vitals.json`` with its sources (FHIR R4 Vital
Signs profiles, https://hl7.org/fhir/R4/observation-vitalsigns.html, and the LOINC terms cited
there). The limits are sanity limits — values no living person can show — not clinical ranges.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

Shape = Literal["any", "interval"]


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    loinc: str
    display: str
    limits: tuple[float, float]


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of sample (a key of the catalogue)."""

    key: str
    loinc: str
    display: str
    extra_codes: tuple[tuple[str, str], ...]
    category: str
    profile: str | None
    unit: str  # canonical UCUM code
    unit_display: str
    shape: Shape  # "interval": an end after the start is required (steps, sleep)
    units: dict[str, tuple[float, float]]  # accepted input unit → (factor, offset) to ``unit``
    limits: tuple[float, float] | None
    unit_limits: dict[str, tuple[float, float]]
    components: tuple[Component, ...]
    decimals: int

    def convert(self, value: float, unit: str) -> float | None:
        """``value`` in ``unit`` expressed in the canonical unit, or None for an unknown unit."""
        rule = self.units.get(unit)
        if rule is None:
            return None
        factor, offset = rule
        if factor == 1 and offset == 0:
            return float(value)
        return round(value * factor + offset, self.decimals + 2)

    def within(self, value: float, unit: str, converted: float) -> tuple[float, float, str] | None:
        """None when plausible, else the violated limits and the unit they are in."""
        if unit in self.unit_limits:
            low, high = self.unit_limits[unit]
            return None if low <= value <= high else (low, high, unit)
        if self.limits is None:
            return None
        low, high = self.limits
        return None if low <= converted <= high else (low, high, self.unit)


@cache
def data() -> dict[str, Any]:
    """The raw catalogue with its sources."""
    loaded: dict[str, Any] = json.loads(
        resources.files("hygie.monitoring").joinpath("data/vitals.json").read_text("utf-8")
    )
    return loaded


def _pair(raw: Any) -> tuple[float, float]:
    return (float(raw[0]), float(raw[1]))


@cache
def kinds() -> dict[str, Kind]:
    """Every kind, by key."""
    out: dict[str, Kind] = {}
    for key, raw in data()["kinds"].items():
        out[key] = Kind(
            key=key,
            loinc=raw["loinc"],
            display=raw["display"],
            extra_codes=tuple((c["code"], c["display"]) for c in raw.get("extra_codes", [])),
            category=raw["category"],
            profile=raw.get("profile"),
            unit=raw["unit"],
            unit_display=raw["unit_display"],
            shape=raw["shape"],
            units={u: _pair(r) for u, r in raw["units"].items()},
            limits=_pair(raw["limits"]) if "limits" in raw else None,
            unit_limits={u: _pair(r) for u, r in raw.get("unit_limits", {}).items()},
            components=tuple(
                Component(name, c["loinc"], c["display"], _pair(c["limits"]))
                for name, c in raw.get("components", {}).items()
            ),
            decimals=int(raw["decimals"]),
        )
    return out


def kind(key: str) -> Kind | None:
    return kinds().get(key)


@cache
def by_loinc() -> dict[str, Kind]:
    """Every kind by its LOINC code and extra codes (the first kind naming a code wins)."""
    found: dict[str, Kind] = {}
    for k in kinds().values():
        for code in (k.loinc, *(c for c, _ in k.extra_codes)):
            found.setdefault(code, k)
    return found
