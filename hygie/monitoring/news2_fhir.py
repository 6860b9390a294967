"""NEWS2 in FHIR: ``Observation/$news2`` input (a Parameters resource) and the score Observation.

Public contract (docs/monitoring.md): input parts ``respiratoryRate`` (valueQuantity, /min),
``spo2`` (valueQuantity, %), ``spo2Scale`` (valueInteger 1 or 2, default 1), ``onOxygen``
(valueBoolean), ``systolicBP`` (valueQuantity, mm[Hg]), ``pulse`` (valueQuantity, /min),
``consciousness`` (valueCode A, C, V, P or U), ``temperature`` (valueQuantity, Cel) — or parts
``observation`` carrying vital-sign Observations (LOINC 9279-1, 2708-6/59408-5, 85354-9/8480-6,
8867-4, 8310-5; 3151-8 inhaled oxygen flow and 3150-0 FiO2 say whether oxygen is given). The
output is an Observation coded SNOMED CT 1104051000000101 whose ``valueQuantity`` is the total,
with one component per sub-score, the RCP clinical risk as ``interpretation`` and the input
Observations as ``derivedFrom``. Anything missing, given twice, in an unknown unit or outside
the plausible range is refused with the part named (400/422), never guessed.

Operation: https://hl7.org/fhir/R4/operations.html (a type-level operation on Observation).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.monitoring.news2 import PARAMETERS, Score, Vitals, chart, score

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
RISK_SYSTEM = "https://hygie.health/fhir/CodeSystem/news2-clinical-risk"
QUANTITIES = ("respiratoryRate", "spo2", "systolicBP", "pulse", "temperature")
# Accepted UCUM codes per quantity part → factor/offset to the chart's unit.
UNITS: dict[str, dict[str, tuple[float, float]]] = {
    "respiratoryRate": {"/min": (1, 0), "{breaths}/min": (1, 0)},
    "spo2": {"%": (1, 0)},
    "systolicBP": {"mm[Hg]": (1, 0)},
    "pulse": {"/min": (1, 0), "{beats}/min": (1, 0)},
    "temperature": {"Cel": (1, 0), "[degF]": (5 / 9, -32 * 5 / 9)},
}
# LOINC code of a vital-sign Observation → the part it feeds.
VITAL_CODES = {
    "9279-1": "respiratoryRate",
    "2708-6": "spo2",
    "59408-5": "spo2",
    "8480-6": "systolicBP",
    "8867-4": "pulse",
    "8310-5": "temperature",
}
BP_PANEL = "85354-9"
OXYGEN_FLOW, FIO2 = "3151-8", "3150-0"
UNUSABLE_STATUS = frozenset({"entered-in-error", "cancelled", "registered"})

register(
    {
        "news2_parameters": {
            "fr": "$news2 attend une ressource Parameters.",
            "en": "$news2 expects a Parameters resource.",
        },
        "news2_missing": {
            "fr": "$news2 : le paramètre « {part} » manque.",
            "en": "$news2: the '{part}' parameter is missing.",
        },
        "news2_twice": {
            "fr": "$news2 : le paramètre « {part} » est donné plusieurs fois.",
            "en": "$news2: the '{part}' parameter is given more than once.",
        },
        "news2_type": {
            "fr": "$news2 : « {part} » doit être un {expected}.",
            "en": "$news2: '{part}' must be a {expected}.",
        },
        "news2_unit": {
            "fr": "$news2 : unité « {unit} » non acceptée pour « {part} » (acceptées : {accepted}).",
            "en": "$news2: unit '{unit}' is not accepted for '{part}' (accepted: {accepted}).",
        },
        "news2_range": {
            "fr": "$news2 : « {part} » = {value} est hors des valeurs plausibles ({low}–{high} {unit}).",
            "en": "$news2: '{part}' = {value} is outside plausible values ({low}–{high} {unit}).",
        },
        "news2_unknown": {
            "fr": "$news2 : paramètre inconnu « {part} ».",
            "en": "$news2: unknown parameter '{part}'.",
        },
        "news2_observation": {
            "fr": "$news2 : l'Observation {index} n'est pas utilisable : {reason}.",
            "en": "$news2: Observation {index} cannot be used: {reason}.",
        },
        "news2_subjects": {
            "fr": "$news2 : les Observations concernent plusieurs patients.",
            "en": "$news2: the Observations are about more than one patient.",
        },
    }
)


def _bad(status: int, code: str, key: str, part: str, **params: Any) -> FhirError:
    return FhirError.of(
        status, code, key, (f"Parameters.parameter.where(name='{part}')",), part=part, **params
    )


class _Inputs:
    """The values gathered from the parts, each at most once, with the Observations used."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.used: list[dict[str, Any]] = []

    def put(self, part: str, value: Any) -> None:
        if part in self.values:
            raise _bad(400, "invalid", "news2_twice", part)
        self.values[part] = value


def _number(part: str, quantity: Any) -> float:
    """A Quantity of ``part`` in the chart's unit (no unit at all: the chart's unit)."""
    if not isinstance(quantity, dict):
        raise _bad(400, "invalid", "news2_type", part, expected="valueQuantity")
    value = quantity.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(400, "invalid", "news2_type", part, expected="valueQuantity with a numeric value")
    accepted = UNITS[part]
    unit = quantity.get("code") if quantity.get("code") is not None else quantity.get("unit")
    if unit is None:
        unit = next(iter(accepted))
    if not isinstance(unit, str) or unit not in accepted:
        raise _bad(422, "value", "news2_unit", part, unit=str(unit)[:40], accepted=", ".join(accepted))
    factor, offset = accepted[unit]
    number = float(value) * factor + offset
    plausible = chart()["parameters"][part]["plausible"]
    if not plausible[0] <= number <= plausible[1]:
        raise _bad(
            422,
            "value",
            "news2_range",
            part,
            value=value,
            low=plausible[0],
            high=plausible[1],
            unit=chart()["parameters"][part]["unit"],
        )
    return number


def _codes(concept: Any) -> set[str]:
    if not isinstance(concept, dict) or not isinstance(concept.get("coding"), list):
        return set()
    return {
        c["code"]
        for c in concept["coding"]
        if isinstance(c, dict) and c.get("system") == LOINC and isinstance(c.get("code"), str)
    }


def _observation(inputs: _Inputs, index: int, obs: Any) -> None:
    """Feed the parts an input Observation carries (a BP panel gives its systolic component)."""

    def refuse(reason: str) -> FhirError:
        return FhirError.of(
            422,
            "invalid",
            "news2_observation",
            (f"Parameters.parameter.where(name='observation')[{index}]",),
            index=index,
            reason=reason,
        )

    if not isinstance(obs, dict) or obs.get("resourceType") != "Observation":
        raise refuse("not an Observation")
    if obs.get("status") in UNUSABLE_STATUS:
        raise refuse(f"status {obs.get('status')}")
    codes = _codes(obs.get("code"))
    fed = False
    for code in codes & VITAL_CODES.keys():
        inputs.put(VITAL_CODES[code], _number(VITAL_CODES[code], obs.get("valueQuantity")))
        fed = True
    if BP_PANEL in codes:
        for component in obs.get("component") or []:
            if isinstance(component, dict) and "8480-6" in _codes(component.get("code")):
                inputs.put("systolicBP", _number("systolicBP", component.get("valueQuantity")))
                fed = True
    if codes & {OXYGEN_FLOW, FIO2}:
        quantity = obs.get("valueQuantity")
        value = quantity.get("value") if isinstance(quantity, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise refuse("no numeric valueQuantity")
        threshold: float = 0 if OXYGEN_FLOW in codes else 21  # L/min of oxygen; FiO2 above room air (%)
        if FIO2 in codes and value <= 1:
            threshold = 0.21  # FiO2 given as a fraction
        inputs.put("onOxygen", value > threshold)
        fed = True
    if not fed:
        raise refuse(
            "not one of the NEWS2 vital signs (LOINC 9279-1, 2708-6, 59408-5, 85354-9, 8480-6, "
            "8867-4, 8310-5, 3151-8, 3150-0)"
        )
    inputs.used.append(obs)


def vitals_from(parameters: Any) -> tuple[Vitals, list[dict[str, Any]]]:
    """The vitals a ``$news2`` Parameters resource gives, and the Observations it used."""
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise FhirError.of(400, "invalid", "news2_parameters")
    inputs = _Inputs()
    observations = 0
    for part in parameters.get("parameter") or []:
        name = part.get("name") if isinstance(part, dict) else None
        if not isinstance(name, str):
            raise _bad(400, "invalid", "news2_unknown", "?")
        if name in QUANTITIES:
            inputs.put(name, _number(name, part.get("valueQuantity")))
        elif name == "spo2Scale":
            scale = part.get("valueInteger")
            if scale not in (1, 2) or isinstance(scale, bool):
                raise _bad(422, "value", "news2_type", name, expected="valueInteger 1 or 2")
            inputs.put(name, scale)
        elif name == "onOxygen":
            if not isinstance(part.get("valueBoolean"), bool):
                raise _bad(400, "invalid", "news2_type", name, expected="valueBoolean")
            inputs.put(name, part["valueBoolean"])
        elif name == "consciousness":
            level = part.get("valueCode")
            if level not in chart()["parameters"]["consciousness"]["scores"]:
                raise _bad(422, "value", "news2_type", name, expected="valueCode A, C, V, P or U")
            inputs.put(name, level)
        elif name == "observation":
            _observation(inputs, observations, part.get("resource"))
            observations += 1
        else:
            raise _bad(400, "invalid", "news2_unknown", name[:64])
    for required in (*QUANTITIES, "onOxygen", "consciousness"):
        if required not in inputs.values:
            raise _bad(400, "required", "news2_missing", required)
    v = inputs.values
    vitals = Vitals(
        respiratory_rate=v["respiratoryRate"],
        spo2=v["spo2"],
        on_oxygen=v["onOxygen"],
        systolic_bp=v["systolicBP"],
        pulse=v["pulse"],
        consciousness=v["consciousness"],
        temperature=v["temperature"],
        spo2_scale=v.get("spo2Scale", 1),
    )
    return vitals, inputs.used


def _subject(observations: list[dict[str, Any]]) -> dict[str, Any] | None:
    subjects = {o["subject"].get("reference") for o in observations if isinstance(o.get("subject"), dict)}
    subjects.discard(None)
    if len(subjects) > 1:
        raise FhirError.of(422, "invalid", "news2_subjects")
    return {"reference": subjects.pop()} if subjects else None


def _effective(observations: list[dict[str, Any]]) -> str | None:
    times = [o["effectiveDateTime"] for o in observations if isinstance(o.get("effectiveDateTime"), str)]
    return max(times) if times else None


def score_observation(result: Score, used: list[dict[str, Any]], lang: str = "fr") -> dict[str, Any]:
    """The NEWS2 score as an Observation (public contract, ARCHITECTURE.md)."""
    data = chart()
    p = data["parameters"]
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "survey",
                        "display": "Survey",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {"system": SNOMED, "code": data["total"]["snomed"], "display": data["total"]["display"]}
            ],
            "text": "NEWS2",
        },
    }
    subject = _subject(used)
    if subject is not None:
        observation["subject"] = subject
    effective = _effective(used)
    if effective is not None:
        observation["effectiveDateTime"] = effective
    observation["issued"] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    observation["valueQuantity"] = {"value": result.total, "unit": "score", "system": UCUM, "code": "{score}"}
    risk = result.risk
    observation["interpretation"] = [
        {
            "coding": [{"system": RISK_SYSTEM, "code": risk.risk, "display": risk.text["en"]}],
            "text": risk.text.get(lang, risk.text["en"]),
        }
    ]
    observation["component"] = [
        {
            "code": {
                "coding": [{"system": SNOMED, "code": p[name]["snomed"], "display": p[name]["display"]}]
            },
            "valueInteger": result.parts[name],
        }
        for name in PARAMETERS
    ]
    derived = [{"reference": f"Observation/{o['id']}"} for o in used if isinstance(o.get("id"), str)]
    if derived:
        observation["derivedFrom"] = derived
    observation["note"] = [{"text": f"{risk.response} response, {risk.monitoring}. Source: {data['source']}"}]
    return observation


def news2_operation(parameters: Any, lang: str = "fr") -> dict[str, Any]:
    """``POST [base]/Observation/$news2``: the score of the given vitals (nothing stored)."""
    vitals, used = vitals_from(parameters)
    return score_observation(score(vitals), used, lang)
