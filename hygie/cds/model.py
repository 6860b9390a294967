"""The engine's inputs: the drugs (current and draft) and the facts about the patient.

Public contract between :mod:`hygie.cds.engine` and the CDS Hooks / FHIR side, which builds these
from MedicationRequest / MedicationStatement / AllergyIntolerance / Observation resources. Fields may
be added with defaults; none is renamed.
"""

from __future__ import annotations

from dataclasses import dataclass

CIS = "http://data.esante.gouv.fr/ansm/medicament/SpecialitePharmaceutique"
"""BDPM product code (Code Identifiant de Spécialité), ANS ePrescription guide."""
CIP13 = "http://data.esante.gouv.fr/ansm/medicament/Presentation"
"""BDPM pack code (Code Identifiant de Présentation, 13 digits)."""
UCD = "http://data.esante.gouv.fr/ansm/medicament/UCD"
"""Unité Commune de Dispensation (hospital dispensing unit)."""
SUBSTANCE = "http://data.esante.gouv.fr/ansm/medicament/substance"
"""ANSM substance code (the code column of BDPM CIS_COMPO)."""
ATC = "http://www.whocc.no/atc"
"""WHO ATC classification."""


@dataclass(frozen=True, slots=True)
class DrugCode:
    """One coding of a drug: a system URL (see the constants above) and a code."""

    system: str
    code: str
    display: str | None = None


@dataclass(frozen=True, slots=True)
class DrugItem:
    """One drug of the patient: an order being prescribed (draft) or a current one."""

    ref: str  # "MedicationRequest/123", or a draft's id
    codes: tuple[DrugCode, ...]  # CIS / CIP13 / UCD / ANSM substance / ATC systems
    text: str | None = None  # free text / brand name when no code resolves
    draft: bool = False  # True for the orders being prescribed now
    daily_dose_mg: float | None = None


@dataclass(frozen=True, slots=True)
class AllergyFact:
    """One allergy or intolerance of the patient, coded like a drug or as free text."""

    codes: tuple[DrugCode, ...]
    text: str | None = None
    criticality: str | None = None  # AllergyIntolerance.criticality: "low" | "high" | "unable-to-assess"


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """What the engine needs to know about the patient; ``None`` means unknown."""

    age_years: float | None = None
    sex: str | None = None  # "male" | "female"
    weight_kg: float | None = None
    pregnant: bool | None = None
    breastfeeding: bool | None = None
    creatinine_umol_l: float | None = None
    allergies: tuple[AllergyFact, ...] = ()
    pregnancy_weeks: float | None = None  # weeks of amenorrhoea, when known
