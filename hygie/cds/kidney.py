"""Kidney function estimates used by the renal rules (pure arithmetic).

- eGFR, CKD-EPI 2021 creatinine equation without race: Inker LA et al., "New creatinine- and
  cystatin C-based equations to estimate GFR without race", N Engl J Med 2021;385:1737-1749.
  eGFR = 142 × min(Scr/κ, 1)^α × max(Scr/κ, 1)^−1.200 × 0.9938^age × 1.012 [female], Scr in mg/dL,
  κ = 0.7 (female) / 0.9 (male), α = −0.241 (female) / −0.302 (male); mL/min/1.73 m².
- Creatinine clearance, Cockcroft DW, Gault MH, Nephron 1976;16:31-41, in SI units:
  ClCr = (140 − age) × weight (kg) × k / Scr (µmol/L), k = 1.23 (male) / 1.04 (female); mL/min.
"""

from __future__ import annotations

UMOL_PER_MG_DL = 88.4


def ckd_epi_2021(creatinine_umol_l: float, age_years: float, sex: str) -> float:
    """eGFR (mL/min/1.73 m²), CKD-EPI 2021 race-free; ``sex`` is "male" or "female"."""
    if creatinine_umol_l <= 0 or age_years <= 0 or sex not in ("male", "female"):
        raise ValueError("creatinine and age must be positive and sex 'male' or 'female'")
    female = sex == "female"
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    ratio = (creatinine_umol_l / UMOL_PER_MG_DL) / kappa
    egfr: float = 142 * min(ratio, 1.0) ** alpha * max(ratio, 1.0) ** -1.200 * 0.9938**age_years
    return egfr * 1.012 if female else egfr


def cockcroft_gault(creatinine_umol_l: float, age_years: float, weight_kg: float, sex: str) -> float:
    """Creatinine clearance (mL/min), Cockcroft–Gault in SI units."""
    if creatinine_umol_l <= 0 or age_years <= 0 or weight_kg <= 0 or sex not in ("male", "female"):
        raise ValueError("creatinine, age and weight must be positive and sex 'male' or 'female'")
    k = 1.04 if sex == "female" else 1.23
    return (140 - age_years) * weight_kg * k / creatinine_umol_l
