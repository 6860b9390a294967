"""Findings of the medication-safety engine → CDS Hooks 2.0 cards.

https://cds-hooks.hl7.org/2.0/#card-attributes — one card per :class:`Finding`:

- ``indicator``: contre-indication (CI) → ``critical``, association déconseillée (AD) →
  ``warning``, précaution d'emploi (PE) and à prendre en compte (APEC) → ``info``;
- ``summary`` (at most 140 characters): the level (or the kind, for what is not an interaction)
  and the substances involved, in the request's language (French by default, English);
- ``detail`` (GitHub-flavoured Markdown): the mechanism and what to do, in the source's own
  (French) words, the figures behind the finding, then the source and its edition;
- ``source.label`` names the source document **and its edition**; ``source.topic`` codes the
  kind of finding;
- ``suggestions`` act on the draft orders the finding involves: ``remove`` → delete the draft,
  ``replace`` → delete it so that an alternative is chosen, ``adjust-dose`` → update the draft
  with a note asking for the dose to be adapted; ``selectionBehavior`` ``at-most-one``;
- ``overrideReasons`` on critical and warning cards (the clinician picks one when going on);
- ``uuid``: derived from the hook instance and the finding, so feedback can name the card;
- ``extension`` ``health.hygie.finding``: the finding as data (kind, level, items, substances,
  source, edition) for clients that want more than text.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any

from hygie.cds.findings import Finding
from hygie.fhir.messages import register, render

INDICATORS = {"CI": "critical", "AD": "warning", "PE": "info", "APEC": "info"}
SUMMARY_MAX = 140
OVERRIDE_SYSTEM = "https://hygie.health/fhir/CodeSystem/cds-override-reason"
TOPIC_SYSTEM = "https://hygie.health/fhir/CodeSystem/medication-safety-finding"
OVERRIDE_CODES = ("benefit-outweighs-risk", "monitoring-planned", "already-tolerated", "record-incorrect")
EXTENSION = "health.hygie.finding"
_NAMESPACE = uuid.UUID("7c0d2f2e-4b8a-5d59-9a43-1f3c4b6f8e21")

register(
    {
        "cds_level_CI": {"fr": "Contre-indication", "en": "Contraindication"},
        "cds_level_AD": {"fr": "Association déconseillée", "en": "Combination not recommended"},
        "cds_level_PE": {"fr": "Précaution d'emploi", "en": "Precaution for use"},
        "cds_level_APEC": {"fr": "À prendre en compte", "en": "To be taken into account"},
        "cds_kind_interaction": {"fr": "Interaction", "en": "Interaction"},
        "cds_kind_allergy": {"fr": "Allergie", "en": "Allergy"},
        "cds_kind_duplication": {"fr": "Doublon thérapeutique", "en": "Therapeutic duplication"},
        "cds_kind_renal": {"fr": "Fonction rénale", "en": "Renal function"},
        "cds_kind_pregnancy": {"fr": "Grossesse", "en": "Pregnancy"},
        "cds_kind_lactation": {"fr": "Allaitement", "en": "Breastfeeding"},
        "cds_kind_max-dose": {"fr": "Dose maximale", "en": "Maximum dose"},
        "cds_mechanism": {"fr": "Mécanisme", "en": "Mechanism"},
        "cds_conduct": {"fr": "Conduite à tenir", "en": "What to do"},
        "cds_figures": {"fr": "Éléments", "en": "Figures"},
        "cds_source": {
            "fr": "Source : {source}, édition {edition}.",
            "en": "Source: {source}, edition {edition}.",
        },
        "cds_source_label": {"fr": "{source} (édition {edition})", "en": "{source} (edition {edition})"},
        "cds_remove": {"fr": "Retirer {drug} de la prescription", "en": "Remove {drug} from the order"},
        "cds_replace": {
            "fr": "Remplacer {drug} (choisir une alternative)",
            "en": "Replace {drug} (choose an alternative)",
        },
        "cds_adjust": {"fr": "Adapter la posologie de {drug}", "en": "Adjust the dose of {drug}"},
        "cds_adjust_note": {"fr": "Posologie à adapter : {conduct}", "en": "Dose to be adjusted: {conduct}"},
        "cds_override_benefit-outweighs-risk": {
            "fr": "Bénéfice attendu supérieur au risque",
            "en": "Expected benefit outweighs the risk",
        },
        "cds_override_monitoring-planned": {
            "fr": "Surveillance clinique et biologique prévue",
            "en": "Clinical and laboratory monitoring planned",
        },
        "cds_override_already-tolerated": {
            "fr": "Association déjà prise et tolérée par le patient",
            "en": "Already taken and tolerated by the patient",
        },
        "cds_override_record-incorrect": {
            "fr": "Données du dossier inexactes",
            "en": "Record data incorrect",
        },
    }
)


def indicator(finding: Finding) -> str:
    return INDICATORS.get(finding.level, "info")


def card_uuid(hook_instance: str, finding: Finding) -> str:
    """The same finding of the same hook call always gets the same uuid."""
    key = "|".join([hook_instance, finding.kind, finding.level, *finding.items, "/", *finding.substances])
    return str(uuid.uuid5(_NAMESPACE, key))


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def summary(finding: Finding, lang: str) -> str:
    level = render(f"cds_level_{finding.level}", lang, {})
    what = " + ".join(finding.substances) or ", ".join(finding.items)
    head = (
        level
        if finding.kind == "interaction"
        else f"{render(f'cds_kind_{finding.kind}', lang, {})} ({level})"
    )
    separator = " : " if lang == "fr" else ": "
    return _shorten(f"{head}{separator}{what}", SUMMARY_MAX)


def _figure(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None if value is None else str(value).lower()
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, str)) for v in value):
        return ", ".join(str(v) for v in value)
    return None


def detail(finding: Finding, lang: str) -> str:
    """Markdown: mechanism, what to do, the figures, the source and its edition."""
    parts = []
    if finding.mechanism:
        parts.append(f"**{render('cds_mechanism', lang, {})}** : {finding.mechanism}")
    if finding.conduct:
        parts.append(f"**{render('cds_conduct', lang, {})}** : {finding.conduct}")
    figures = [(k, _figure(v)) for k, v in sorted(finding.detail.items()) if k != "url"]
    lines = [f"- {k} : {v}" for k, v in figures if v is not None]
    if lines:
        parts.append(f"**{render('cds_figures', lang, {})}**\n\n" + "\n".join(lines))
    parts.append(
        "*" + render("cds_source", lang, {"source": finding.source, "edition": finding.edition}) + "*"
    )
    return "\n\n".join(parts)


def source(finding: Finding, lang: str) -> dict[str, Any]:
    label = render("cds_source_label", lang, {"source": finding.source, "edition": finding.edition})
    out: dict[str, Any] = {
        "label": label,
        "topic": {
            "system": TOPIC_SYSTEM,
            "code": finding.kind,
            "display": render(f"cds_kind_{finding.kind}", lang, {}),
        },
    }
    url = finding.detail.get("url")
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        out["url"] = url
    return out


def override_reasons(lang: str) -> list[dict[str, str]]:
    return [
        {"system": OVERRIDE_SYSTEM, "code": code, "display": render(f"cds_override_{code}", lang, {})}
        for code in OVERRIDE_CODES
    ]


def _drug_name(draft: Mapping[str, Any], ref: str) -> str:
    concept = draft.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        if isinstance(concept.get("text"), str):
            return str(concept["text"])
        for coding in concept.get("coding") or []:
            if isinstance(coding, dict) and isinstance(coding.get("display"), str):
                return str(coding["display"])
    reference = draft.get("medicationReference")
    if isinstance(reference, dict) and isinstance(reference.get("display"), str):
        return str(reference["display"])
    return ref


def _suggestion(
    finding: Finding, ref: str, draft: Mapping[str, Any], card: str, lang: str
) -> dict[str, Any] | None:
    drug = _drug_name(draft, ref)
    sid = str(uuid.uuid5(_NAMESPACE, f"{card}|{ref}|{finding.suggestion}"))
    if finding.suggestion in ("remove", "replace"):
        label = render(
            "cds_remove" if finding.suggestion == "remove" else "cds_replace", lang, {"drug": drug}
        )
        action: dict[str, Any] = {"type": "delete", "description": label, "resourceId": ref}
        return {"label": _shorten(label, 200), "uuid": sid, "isRecommended": True, "actions": [action]}
    if finding.suggestion == "adjust-dose":
        label = render("cds_adjust", lang, {"drug": drug})
        resource = copy.deepcopy(dict(draft))
        note = render("cds_adjust_note", lang, {"conduct": finding.conduct or finding.mechanism})
        resource["note"] = [*(resource.get("note") or []), {"text": note}]
        action = {"type": "update", "description": label, "resource": resource}
        return {"label": _shorten(label, 200), "uuid": sid, "isRecommended": True, "actions": [action]}
    return None


def card(
    finding: Finding, hook_instance: str, lang: str, drafts: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The card of one finding; ``drafts``: the draft orders by reference (``MedicationRequest/id``)."""
    cid = card_uuid(hook_instance, finding)
    out: dict[str, Any] = {
        "uuid": cid,
        "summary": summary(finding, lang),
        "detail": detail(finding, lang),
        "indicator": indicator(finding),
        "source": source(finding, lang),
    }
    suggestions = [
        s
        for ref in finding.items
        if ref in drafts and (s := _suggestion(finding, ref, drafts[ref], cid, lang)) is not None
    ]
    if suggestions:
        out["suggestions"] = suggestions
        out["selectionBehavior"] = "at-most-one"
    if out["indicator"] in ("critical", "warning"):
        out["overrideReasons"] = override_reasons(lang)
    out["extension"] = {
        EXTENSION: {
            "kind": finding.kind,
            "level": finding.level,
            "items": list(finding.items),
            "substances": list(finding.substances),
            "source": finding.source,
            "edition": finding.edition,
        }
    }
    return out
