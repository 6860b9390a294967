"""FHIR Observations with ``valueSampledData`` (or per-component SampledData) → sample rows.

https://hl7.org/fhir/R4/datatypes.html#SampledData: value i = ``origin.value`` + ``factor`` ×
data[i] (factor 1 when absent), taken at ``start + i × period`` ms; ``E`` (error), ``L`` and
``U`` (below/above the detection limits) carry no value and are skipped. The Observation's
LOINC code picks the catalogue kind (``hygie/monitoring/data/vitals.json``; its extra codes
too), ``origin``'s unit converts to the kind's canonical unit. The rows keep the Observation's
``device`` and are keyed by (patient, kind, time, device) — the sample's identity — so storing
the same series again, in the same or another Observation, changes nothing. Used to take in
series that arrive as FHIR (the demo's streams, a device gateway posting SampledData).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from hygie.monitoring.ingest.catalogue import Kind, by_loinc
from hygie.storage.samples import SampleRow

LOINC = "http://loinc.org"


def _kind_of(obs: dict[str, Any]) -> Kind | None:
    codes = by_loinc()
    for coding in (obs.get("code") or {}).get("coding") or []:
        if coding.get("system") == LOINC and coding.get("code") in codes:
            return codes[coding["code"]]
    return None


def _values(data: dict[str, Any], kind: Kind) -> list[float | None] | None:
    origin = data.get("origin") or {}
    unit = origin.get("code") or origin.get("unit") or kind.unit
    base, factor = origin.get("value", 0), data.get("factor", 1)
    if not isinstance(base, int | float) or not isinstance(factor, int | float) or unit not in kind.units:
        return None
    out: list[float | None] = []
    for token in str(data.get("data") or "").split():
        try:
            raw = float(token)
        except ValueError:
            out.append(None)  # E, L, U
            continue
        out.append(kind.convert(base + factor * raw, unit))
    return out


def rows_from_sampled(obs: dict[str, Any], patient: str) -> list[SampleRow]:
    """The samples of one SampledData Observation (empty when it is not a catalogue kind)."""
    kind = _kind_of(obs)
    period = obs.get("effectivePeriod") or {}
    when = period.get("start") or obs.get("effectiveDateTime")
    if kind is None or not isinstance(when, str) or obs.get("status") in ("entered-in-error", "cancelled"):
        return []
    start = datetime.fromisoformat(when.replace("Z", "+00:00"))
    if start.tzinfo is None:
        return []
    device = ((obs.get("device") or {}).get("reference") or "").removeprefix("Device/")
    series: dict[str, tuple[list[float | None], float]] = {}
    if isinstance(obs.get("valueSampledData"), dict):
        data = obs["valueSampledData"]
        values = _values(data, kind)
        if values is not None:
            series["value"] = (values, float(data.get("period") or 0))
    for component in obs.get("component") or []:
        data = component.get("valueSampledData")
        codes = {c.get("code") for c in (component.get("code") or {}).get("coding") or []}
        name = next((c.name for c in kind.components if c.loinc in codes), None)
        if isinstance(data, dict) and name:
            values = _values(data, kind)
            if values is not None:
                series[name] = (values, float(data.get("period") or 0))
    rows = []
    origin_ms = int(start.timestamp() * 1000)
    first = next(iter(series.values()), None)
    if first is None or first[1] <= 0:
        return []
    period_ms = first[1]
    for i in range(len(first[0])):
        if kind.components:
            systolic = series.get("systolic", ([], 0))[0]
            diastolic = series.get("diastolic", ([], 0))[0]
            v1 = systolic[i] if i < len(systolic) else None
            v2 = diastolic[i] if i < len(diastolic) else None
        else:
            v1, v2 = first[0][i], None
        if v1 is None:
            continue
        t = origin_ms + int(i * period_ms)
        key = hashlib.sha256(f"sampled|{patient}|{kind.key}|{t}|{device}".encode()).hexdigest()[:40]
        rows.append(SampleRow(key, patient, kind.key, t, None, v1, v2, device))
    return rows
