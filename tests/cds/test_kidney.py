"""eGFR CKD-EPI 2021 and Cockcroft–Gault against values worked out by hand from the papers."""

from __future__ import annotations

import pytest

from hygie.cds.kidney import ckd_epi_2021, cockcroft_gault

# (creatinine µmol/L, age, sex, eGFR) — 142 × min(Scr/κ,1)^α × max(Scr/κ,1)^-1.2 × 0.9938^age [× 1.012]
EGFR = [
    (88.4, 50, "male", 91.69),  # Scr 1.0 mg/dL: (1/0.9)^-1.2 = 0.88124; 0.9938^50 = 0.73275
    (61.88, 50, "female", 105.30),  # Scr 0.7 mg/dL = κ: 142 × 0.73275 × 1.012
    (132.6, 60, "male", 52.97),  # Scr 1.5 mg/dL: (1.5/0.9)^-1.2 = 0.54171; 0.9938^60 = 0.68857
    (44.2, 70, "female", 100.84),  # Scr 0.5 mg/dL: (0.5/0.7)^-0.241 = 1.08447; 0.9938^70 = 0.64707
]
# (creatinine µmol/L, age, weight, sex, clearance) — (140 − age) × weight × k / Scr, k = 1.23 / 1.04
CLEARANCE = [
    (100, 80, 70, "male", 51.66),
    (100, 80, 70, "female", 43.68),
    (200, 90, 50, "female", 13.0),
    (60, 40, 80, "male", 164.0),
]


@pytest.mark.parametrize(("scr", "age", "sex", "expected"), EGFR)
def test_ckd_epi_2021(scr: float, age: float, sex: str, expected: float) -> None:
    assert ckd_epi_2021(scr, age, sex) == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize(("scr", "age", "weight", "sex", "expected"), CLEARANCE)
def test_cockcroft_gault(scr: float, age: float, weight: float, sex: str, expected: float) -> None:
    assert cockcroft_gault(scr, age, weight, sex) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("args", [(0, 50, "male"), (80, 0, "male"), (80, 50, "other")])
def test_bad_input_is_refused(args: tuple[float, float, str]) -> None:
    with pytest.raises(ValueError, match="positive"):
        ckd_epi_2021(*args)
