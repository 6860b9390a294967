"""Allergy, duplication, renal, pregnancy/lactation and maximum-dose rules (pure).

Each rule reads its data file in ``hygie/cds/data`` (allergy.json, duplication.json, renal.json,
pregnancy.json, max_doses.json), where every threshold sits next to its source and edition.
"""

from __future__ import annotations

from typing import Any

from hygie.cds.findings import Finding
from hygie.cds.kidney import ckd_epi_2021, cockcroft_gault
from hygie.cds.knowledge import Knowledge, Resolved
from hygie.cds.model import AllergyFact, DrugItem, PatientFacts
from hygie.cds.names import fold


# --- classes (ATC prefixes or listed substances) --------------------------------------------------
def in_class(kb: Knowledge, substance: str, spec: dict[str, Any]) -> bool:
    """The substance is listed by ``spec`` or its ATC code starts with one of its prefixes."""
    key = ("in_class", substance, spec.get("id", ""), *spec.get("atc_prefixes", []))
    if key not in kb.memo:
        code = kb.atc(substance)
        kb.memo[key] = substance in {fold(s) for s in spec.get("substances", [])} or (
            code is not None and any(code.startswith(p) for p in spec.get("atc_prefixes", []))
        )
    return bool(kb.memo[key])


def allergy_classes(kb: Knowledge, substances: tuple[str, ...]) -> set[str]:
    return {c["id"] for c in kb.rules["allergy"]["classes"] for s in substances if in_class(kb, s, c)}


# --- allergy ---------------------------------------------------------------------------------
def _allergy_target(kb: Knowledge, fact: AllergyFact) -> tuple[set[str], set[str]]:
    """(substances, class ids) an allergy points at."""
    resolved = kb.resolve(DrugItem(ref="allergy", codes=fact.codes, text=fact.text))
    substances = set(resolved.substances)
    classes = allergy_classes(kb, resolved.substances)
    words = set(fold(fact.text or "").replace(",", " ").split()) | {
        w for c in fact.codes if c.display for w in fold(c.display).split()
    }
    spec = kb.rules["allergy"]
    for cls in spec["classes"]:
        if words & set(cls["words"]):
            classes.add(cls["id"])
    for family, family_words in spec["families"].items():
        if words & set(family_words):
            classes |= {c["id"] for c in spec["classes"] if c["family"] == family}
    return substances, classes


def allergy_findings(kb: Knowledge, patient: PatientFacts, items: list[Resolved]) -> list[Finding]:
    spec = kb.rules["allergy"]
    by_id = {c["id"]: c for c in spec["classes"]}
    cross_pairs = {tuple(p) for p in spec["cross"]["pairs"]}
    out = []
    for fact in patient.allergies:
        substances, classes = _allergy_target(kb, fact)
        label = fact.text or ", ".join(sorted(substances)) or ", ".join(sorted(classes))
        for item in items:
            drug_classes = allergy_classes(kb, item.substances)
            same = (substances & set(item.substances)) or (classes & drug_classes)
            if same:
                rule, level = spec["same"], spec["same"]["level"]
                why = sorted(str(s) for s in same)
            else:
                crossing = sorted(f"{a} → {b}" for a, b in cross_pairs if a in classes and b in drug_classes)
                if not crossing:
                    continue
                rule = spec["cross"]
                level = rule["level_if_high_criticality"] if fact.criticality == "high" else rule["level"]
                why = crossing
            named = [by_id[c]["label"] for c in sorted(drug_classes)] or list(item.substances)
            out.append(
                Finding(
                    kind="allergy",
                    level=level,
                    items=(item.item.ref,),
                    substances=tuple(named),
                    mechanism=f"Allergie connue : {label}",
                    conduct=rule["conduct"],
                    source=rule["source"],
                    edition=rule["edition"],
                    suggestion=rule["suggestion"],
                    detail={"allergy": label, "match": why, "criticality": fact.criticality},
                )
            )
    return out


# --- duplication -----------------------------------------------------------------------------
def _systemic(item: Resolved, local: set[str]) -> bool:
    return not item.routes or any(r not in local for r in item.routes)


def duplication_findings(kb: Knowledge, items: list[Resolved]) -> list[Finding]:
    spec = kb.rules["duplication"]
    local = set(spec["local_routes"])
    exempt = [e["atc"] for e in spec["exempt_classes"]]
    length = spec["same_class"]["atc_length"]
    candidates = [i for i in items if i.resolved and _systemic(i, local)]
    out = []
    for n, left in enumerate(candidates):
        for right in candidates[n + 1 :]:
            if left.item.ref == right.item.ref:
                continue
            shared = sorted(set(left.substances) & set(right.substances))
            if shared:
                out.append(_dup(spec, "same_substance", left, right, tuple(shared), {"substances": shared}))
                continue
            classes = _shared_classes(kb, left, right, length, exempt)
            if classes:
                out.append(_dup(spec, "same_class", left, right, tuple(classes), {"atc": classes}))
    return out


def _shared_classes(
    kb: Knowledge, left: Resolved, right: Resolved, length: int, exempt: list[str]
) -> list[str]:
    def codes(item: Resolved) -> set[str]:
        return {c[:length] for c in (kb.atc(s) for s in item.substances) if c and len(c) >= length}

    return sorted(c for c in codes(left) & codes(right) if not any(c.startswith(e) for e in exempt))


def _dup(
    spec: dict[str, Any],
    which: str,
    left: Resolved,
    right: Resolved,
    names: tuple[str, ...],
    detail: dict[str, Any],
) -> Finding:
    rule = spec[which]
    return Finding(
        kind="duplication",
        level=rule["level"],
        items=(left.item.ref, right.item.ref),
        substances=names,
        mechanism="Redondance thérapeutique",
        conduct=rule["conduct"],
        source=spec["source"],
        edition=spec["edition"],
        suggestion=rule["suggestion"],
        detail={"rule": which, **detail},
    )


# --- renal -----------------------------------------------------------------------------------
def kidney(patient: PatientFacts) -> dict[str, float]:
    """The estimates the patient's facts allow: ``egfr`` and/or ``crcl``."""
    out: dict[str, float] = {}
    if patient.creatinine_umol_l and patient.age_years and patient.sex in ("male", "female"):
        out["egfr"] = round(ckd_epi_2021(patient.creatinine_umol_l, patient.age_years, patient.sex), 1)
        if patient.weight_kg:
            out["crcl"] = round(
                cockcroft_gault(patient.creatinine_umol_l, patient.age_years, patient.weight_kg, patient.sex),
                1,
            )
    return out


def band_for(rule: dict[str, Any], value: float) -> dict[str, Any] | None:
    """The first band of a renal rule whose ``below`` is strictly greater than ``value``."""
    return next((b for b in rule["bands"] if value < b["below"]), None)


def renal_findings(kb: Knowledge, patient: PatientFacts, items: list[Resolved]) -> list[Finding]:
    values = kidney(patient)
    if not values:
        return []
    out = []
    for rule in kb.rules["renal"]["rules"]:
        targets = {fold(s) for s in rule["substances"]}
        metric = rule["metric"] if rule["metric"] in values else "egfr"
        value = values[metric]
        band = band_for(rule, value)
        if band is None:
            continue
        for item in items:
            if not targets & set(item.substances):
                continue
            dose = item.item.daily_dose_mg
            if dose is not None and "max_daily_mg" in band and dose <= band["max_daily_mg"]:
                continue
            out.append(
                Finding(
                    kind="renal",
                    level=band["level"],
                    items=(item.item.ref,),
                    substances=tuple(sorted(targets)),
                    mechanism=f"Fonction rénale : {_metric_label(metric)} {value:g}",
                    conduct=band["conduct"],
                    source=rule["source"],
                    edition=rule["edition"],
                    suggestion=band["suggestion"],
                    detail={
                        "metric": metric,
                        "value": value,
                        "threshold": band["below"],
                        "rule": rule["id"],
                        "requested_metric": rule["metric"],
                        **values,
                    },
                )
            )
    return out


def _metric_label(metric: str) -> str:
    return "DFG CKD-EPI 2021" if metric == "egfr" else "clairance Cockcroft–Gault"


# --- pregnancy and lactation -------------------------------------------------------------------
def _targets(kb: Knowledge, rule: dict[str, Any], item: Resolved) -> bool:
    if {fold(s) for s in rule.get("substances", [])} & set(item.substances):
        return True
    if "allergy_class" in rule:
        spec = next(c for c in kb.rules["allergy"]["classes"] if c["id"] == rule["allergy_class"])
        return any(in_class(kb, s, spec) for s in item.substances)
    return any(in_class(kb, s, rule) for s in item.substances) if "atc_prefixes" in rule else False


def pregnancy_findings(kb: Knowledge, patient: PatientFacts, items: list[Resolved]) -> list[Finding]:
    out = []
    for kind, flag in (("pregnancy", patient.pregnant), ("lactation", patient.breastfeeding)):
        if not flag:
            continue
        for rule in kb.rules["pregnancy"][kind]:
            level = rule["level"]
            if kind == "pregnancy" and "weeks_from" in rule:
                weeks = patient.pregnancy_weeks
                level = level if weeks is not None and weeks >= rule["weeks_from"] else rule["level_before"]
            for item in items:
                if _targets(kb, rule, item):
                    out.append(
                        Finding(
                            kind=kind,
                            level=level,
                            items=(item.item.ref,),
                            substances=item.substances,
                            mechanism="Grossesse" if kind == "pregnancy" else "Allaitement",
                            conduct=rule["conduct"],
                            source=rule["source"],
                            edition=rule["edition"],
                            suggestion=rule["suggestion"],
                            detail={"rule": rule["id"], "pregnancy_weeks": patient.pregnancy_weeks},
                        )
                    )
    return out


# --- maximum daily dose ------------------------------------------------------------------------
def _applies(rule: dict[str, Any], patient: PatientFacts) -> bool:
    weight, age = patient.weight_kg, patient.age_years
    if "min_weight_kg" in rule and weight is not None and weight < rule["min_weight_kg"]:
        return False
    if "max_weight_kg" in rule and (weight is None or weight >= rule["max_weight_kg"]):
        return False
    return not ("min_age" in rule and (age is None or age < rule["min_age"]))


def max_dose_findings(kb: Knowledge, patient: PatientFacts, items: list[Resolved]) -> list[Finding]:
    out = []
    for item in items:
        dose = item.item.daily_dose_mg
        if dose is None or len(item.substances) != 1:
            continue
        rule = next(
            (
                r
                for r in kb.rules["max_doses"]["rules"]
                if {fold(s) for s in r["substances"]} & set(item.substances) and _applies(r, patient)
            ),
            None,
        )
        if rule is None:
            continue
        limit = (
            rule["per_kg_mg"] * patient.weight_kg
            if "per_kg_mg" in rule and patient.weight_kg
            else rule.get("max_daily_mg")
        )
        if limit is None or dose <= limit:
            continue
        out.append(
            Finding(
                kind="max-dose",
                level=rule["level"],
                items=(item.item.ref,),
                substances=item.substances,
                mechanism=f"Dose journalière {dose:g} mg > maximum {limit:g} mg",
                conduct=rule["conduct"],
                source=rule["source"],
                edition=rule["edition"],
                suggestion="adjust-dose",
                detail={"daily_dose_mg": dose, "max_daily_mg": round(limit, 1), "rule": rule["id"]},
            )
        )
    return out
