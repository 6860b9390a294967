"""NEWS2 against the RCP 2017 chart: every band boundary of every parameter, both SpO2 scales,
the aggregate risk bands (Chart 2) — a table of cases, each written from the chart, not from
the code."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hygie.monitoring.news2 import Vitals, chart, score

NORMAL = Vitals(
    respiratory_rate=16,
    spo2=97,
    on_oxygen=False,
    systolic_bp=120,
    pulse=70,
    consciousness="A",
    temperature=37.0,
)

# (parameter field, value, expected sub-score) — RCP NEWS2 Chart 1, each boundary on both sides.
BOUNDARIES = [
    ("respiratory_rate", 0, 3), ("respiratory_rate", 8, 3), ("respiratory_rate", 9, 1),
    ("respiratory_rate", 11, 1), ("respiratory_rate", 12, 0), ("respiratory_rate", 20, 0),
    ("respiratory_rate", 21, 2), ("respiratory_rate", 24, 2), ("respiratory_rate", 25, 3),
    ("respiratory_rate", 60, 3),
    ("spo2", 85, 3), ("spo2", 91, 3), ("spo2", 92, 2), ("spo2", 93, 2), ("spo2", 94, 1),
    ("spo2", 95, 1), ("spo2", 96, 0), ("spo2", 100, 0),
    ("systolic_bp", 60, 3), ("systolic_bp", 90, 3), ("systolic_bp", 91, 2), ("systolic_bp", 100, 2),
    ("systolic_bp", 101, 1), ("systolic_bp", 110, 1), ("systolic_bp", 111, 0), ("systolic_bp", 219, 0),
    ("systolic_bp", 220, 3), ("systolic_bp", 260, 3),
    ("pulse", 30, 3), ("pulse", 40, 3), ("pulse", 41, 1), ("pulse", 50, 1), ("pulse", 51, 0),
    ("pulse", 90, 0), ("pulse", 91, 1), ("pulse", 110, 1), ("pulse", 111, 2), ("pulse", 130, 2),
    ("pulse", 131, 3), ("pulse", 180, 3),
    ("temperature", 34.0, 3), ("temperature", 35.0, 3), ("temperature", 35.1, 1), ("temperature", 36.0, 1),
    ("temperature", 36.1, 0), ("temperature", 38.0, 0), ("temperature", 38.1, 1), ("temperature", 39.0, 1),
    ("temperature", 39.1, 2), ("temperature", 41.0, 2),
]  # fmt: skip
FIELD_TO_PART = {
    "respiratory_rate": "respiratoryRate",
    "spo2": "spo2",
    "systolic_bp": "systolicBP",
    "pulse": "pulse",
    "temperature": "temperature",
}


@pytest.mark.parametrize(("field", "value", "points"), BOUNDARIES)
def test_each_band_boundary(field: str, value: float, points: int) -> None:
    result = score(replace(NORMAL, **{field: value}))  # type: ignore[arg-type]
    assert result.parts[FIELD_TO_PART[field]] == points
    assert result.total == points  # every other parameter is normal


# Values between charted figures are rounded to the chart's precision, half away from zero.
ROUNDING = [
    ("temperature", 36.04, 1), ("temperature", 36.05, 0), ("temperature", 35.05, 1),
    ("temperature", 38.04, 0), ("temperature", 38.05, 1), ("spo2", 91.4, 3), ("spo2", 91.5, 2),
    ("respiratory_rate", 20.4, 0), ("respiratory_rate", 20.5, 2), ("pulse", 50.5, 0),
    ("systolic_bp", 219.5, 3),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value", "points"), ROUNDING)
def test_values_are_rounded_as_charted(field: str, value: float, points: int) -> None:
    assert score(replace(NORMAL, **{field: value})).parts[FIELD_TO_PART[field]] == points  # type: ignore[arg-type]


@pytest.mark.parametrize(("level", "points"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_consciousness_acvpu(level: str, points: int) -> None:
    result = score(replace(NORMAL, consciousness=level))  # type: ignore[arg-type]
    assert result.parts["consciousness"] == points


def test_supplemental_oxygen_scores_two() -> None:
    result = score(replace(NORMAL, on_oxygen=True))
    assert result.parts["airOrOxygen"] == 2
    assert result.total == 2


# SpO2 Scale 2 (target 88-92 %): (SpO2, on oxygen, expected sub-score) — Chart 1, Scale 2 row.
SCALE_2 = [
    (80, False, 3), (83, False, 3), (84, False, 2), (85, False, 2), (86, False, 1), (87, False, 1),
    (88, False, 0), (92, False, 0), (93, False, 0), (97, False, 0), (100, False, 0),
    (83, True, 3), (84, True, 2), (86, True, 1), (88, True, 0), (92, True, 0), (93, True, 1),
    (94, True, 1), (95, True, 2), (96, True, 2), (97, True, 3), (100, True, 3),
]  # fmt: skip


@pytest.mark.parametrize(("spo2", "oxygen", "points"), SCALE_2)
def test_spo2_scale_2(spo2: int, oxygen: bool, points: int) -> None:
    result = score(replace(NORMAL, spo2=spo2, on_oxygen=oxygen, spo2_scale=2))
    assert result.parts["spo2"] == points


@pytest.mark.parametrize(("spo2", "points"), [(88, 3), (93, 2), (97, 0)])
def test_scale_1_ignores_oxygen_for_the_spo2_part(spo2: int, points: int) -> None:
    assert score(replace(NORMAL, spo2=spo2, on_oxygen=True)).parts["spo2"] == points


def test_an_unknown_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="scale"):
        score(replace(NORMAL, spo2_scale=3))


# Aggregate → clinical risk (Chart 2): (vitals changes, total, risk).
RISKS = [
    ({}, 0, "low"),
    ({"pulse": 95}, 1, "low"),
    ({"pulse": 95, "respiratory_rate": 22, "temperature": 38.5}, 4, "low"),
    ({"consciousness": "V"}, 3, "low-medium"),  # a single parameter scoring 3
    ({"temperature": 34.5, "pulse": 95}, 4, "low-medium"),
    ({"respiratory_rate": 22, "pulse": 115, "temperature": 38.5}, 5, "medium"),
    ({"respiratory_rate": 25, "pulse": 95, "temperature": 38.5}, 5, "medium"),  # 5 with a 3: medium
    ({"respiratory_rate": 22, "pulse": 115, "on_oxygen": True}, 6, "medium"),
    ({"respiratory_rate": 25, "pulse": 115, "temperature": 38.5, "on_oxygen": False}, 6, "medium"),
    ({"respiratory_rate": 25, "pulse": 115, "on_oxygen": True}, 7, "high"),
    ({"respiratory_rate": 30, "spo2": 88, "on_oxygen": True, "systolic_bp": 85, "pulse": 135,
      "consciousness": "U", "temperature": 34.0}, 20, "high"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "total", "risk"), RISKS)
def test_aggregate_and_clinical_risk(changes: dict[str, object], total: int, risk: str) -> None:
    result = score(replace(NORMAL, **changes))  # type: ignore[arg-type]
    assert result.total == total
    assert result.risk.risk == risk
    assert result.risk.text["fr"] and result.risk.text["en"]


def test_the_chart_cites_its_source_and_the_contract_codes() -> None:
    data = chart()
    assert "Royal College of Physicians" in data["source"] and "2017" in data["source"]
    p = data["parameters"]
    codes = {
        "respiratoryRate": "1104301000000104", "spo2": "1104311000000102", "airOrOxygen": "1104331000000105",
        "systolicBP": "1104341000000101", "pulse": "1104351000000103", "consciousness": "1104361000000100",
        "temperature": "1104371000000107",
    }  # fmt: skip
    assert {k: p[k]["snomed"] for k in codes} == codes
    assert data["total"]["snomed"] == "1104051000000101"
    for name in (
        "respiratoryRate",
        "spo2",
        "spo2Scale2Air",
        "spo2Scale2Oxygen",
        "systolicBP",
        "pulse",
        "temperature",
    ):
        bands = p[name]["bands"]
        assert bands[-1][0] is None
        uppers = [b[0] for b in bands[:-1]]
        assert uppers == sorted(uppers)
