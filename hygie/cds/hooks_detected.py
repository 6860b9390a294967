"""A finding as a FHIR R4 DetectedIssue — https://hl7.org/fhir/R4/detectedissue.html

- ``status`` ``final`` when recorded, ``preliminary`` when only computed;
- ``code``: the HL7 v3 ActCode of the kind where there is one (DRG drug interaction, ALGY allergy,
  DUPTHPY duplicate therapy, DOSEH high dose, DOSECOND dose–condition for renal dosing), Hygie's
  code of the kind, and the ANSM level (CI, AD, PE, APEC) with its French name; ``text`` the
  card's summary;
- ``severity``: ``high`` (CI, critical cards), ``moderate`` (AD, warning), ``low`` (PE, APEC);
- ``patient``, ``identifiedDateTime``, ``implicated``: the stored prescriptions by reference, the
  draft orders (not stored) by name;
- ``detail``: mechanism and what to do, then the source document and its edition;
  ``reference``: the source's URL when known.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hygie.cds.cards import TOPIC_SYSTEM, indicator, summary
from hygie.cds.findings import Finding
from hygie.cds.model import DrugItem
from hygie.fhir.messages import render

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
LEVEL_SYSTEM = "https://hygie.health/fhir/CodeSystem/ansm-interaction-level"
ACT_CODES = {
    "interaction": ("DRG", "Drug Interaction Alert"),
    "allergy": ("ALGY", "Allergy Alert"),
    "duplication": ("DUPTHPY", "Duplicate Therapy Alert"),
    "max-dose": ("DOSEH", "High Dose Alert"),
    "renal": ("DOSECOND", "Dosage-condition alert"),
}
SEVERITY = {"critical": "high", "warning": "moderate", "info": "low"}


def _implicated(finding: Finding, items: Mapping[str, DrugItem]) -> list[dict[str, str]]:
    out = []
    for ref in finding.items:
        item = items.get(ref)
        if (
            item is not None
            and not item.draft
            and ref.split("/")[0] in ("MedicationRequest", "MedicationStatement")
        ):
            out.append({"reference": ref, **({"display": item.text} if item.text else {})})
        else:
            out.append({"display": (item.text if item is not None and item.text else ref)[:500]})
    return out


def detected_issue(
    finding: Finding,
    *,
    patient: str | None,
    items: Mapping[str, DrugItem],
    identified: str,
    recorded: bool,
) -> dict[str, Any]:
    """The DetectedIssue of ``finding`` (French texts, like the sources)."""
    codings = []
    if finding.kind in ACT_CODES:
        code, display = ACT_CODES[finding.kind]
        codings.append({"system": ACT_CODE, "code": code, "display": display})
    codings.append({"system": TOPIC_SYSTEM, "code": finding.kind})
    codings.append({"system": LEVEL_SYSTEM, "code": finding.level,
                    "display": render(f"cds_level_{finding.level}", "fr", {})})  # fmt: skip
    lines = [line for line in (finding.mechanism, finding.conduct) if line]
    lines.append(render("cds_source", "fr", {"source": finding.source, "edition": finding.edition}))
    issue: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "status": "final" if recorded else "preliminary",
        "code": {"coding": codings, "text": summary(finding, "fr")},
        "severity": SEVERITY[indicator(finding)],
        "identifiedDateTime": identified,
        "implicated": _implicated(finding, items),
        "detail": "\n\n".join(lines),
    }
    if patient is not None:
        issue["patient"] = {"reference": f"Patient/{patient}"}
    url = finding.detail.get("url")
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        issue["reference"] = url
    return issue
