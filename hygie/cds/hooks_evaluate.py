"""One evaluation: the gathered resources → the engine → the findings a hook shows → cards.

Shared by the CDS Hooks services and ``$check-interactions``. Which findings are shown
(https://cds-hooks.org/hooks/):

- ``patient-view``: every finding on the patient's current drugs;
- ``order-select``: those involving at least one of the ``selections``;
- ``order-sign``: those involving at least one draft order.

Draft orders are the MedicationRequests of ``draftOrders``; a stored MedicationRequest with the
same reference as a draft counts once, as the draft.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from hygie.cds import catalogue
from hygie.cds.engine import check, load_knowledge
from hygie.cds.facts import bundle_resources, current_items, drug_item, medication_index, patient_facts
from hygie.cds.findings import Finding, sort_key
from hygie.cds.model import DrugItem, PatientFacts

_loading = threading.Lock()  # a caller arriving during the warm-up waits for it, not loads again


def knowledge() -> Any:
    """The medication knowledge base, loaded once per process."""
    with _loading:
        return _knowledge()


@functools.cache
def _knowledge() -> Any:
    return load_knowledge()


_warming: list[threading.Thread] = []


def warm_up() -> None:
    """Load the knowledge base and the drug-search index in a background thread, once per
    process (about 2 s of CPU): the first check or prescription page then does not wait for it."""
    if _warming:
        return

    def load() -> None:
        catalogue.prepare(knowledge())

    thread = threading.Thread(target=load, name="hygie-cds-warm-up", daemon=True)
    _warming.append(thread)
    thread.start()


@dataclass(frozen=True, slots=True)
class Evaluation:
    facts: PatientFacts
    items: tuple[DrugItem, ...]
    drafts: Mapping[str, Mapping[str, Any]]  # reference → draft MedicationRequest
    findings: tuple[Finding, ...]


def evaluate(
    patient: Mapping[str, Any] | None,
    bundles: Iterable[Any],
    drafts: Iterable[tuple[str, Mapping[str, Any]]],
    today: date,
    draft_bundle: Any = None,
) -> Evaluation:
    """Run the engine on the patient, the resources of ``bundles`` (current drugs, allergies,
    observations, conditions, Medications) and the draft orders ``(reference, resource)``, whose
    referenced Medications may be in ``draft_bundle``."""
    bundles = [b for b in bundles if isinstance(b, dict)]
    resources = [r for b in bundles for r in bundle_resources(b)]
    requests = {ref: r for ref, r in drafts if r.get("resourceType") == "MedicationRequest"}
    medications = medication_index([*bundles, draft_bundle])
    current = [i for i in current_items(resources, medications) if i.ref not in requests]
    new = [drug_item(dict(r), medications, draft=True, ref=ref) for ref, r in requests.items()]
    facts = patient_facts(dict(patient) if patient else None, resources, today)
    items = (*current, *new)
    found = sorted(check(knowledge(), facts, list(items)), key=sort_key)
    return Evaluation(facts, items, requests, tuple(found))


def shown(evaluation: Evaluation, hook: str, selections: Iterable[str] = ()) -> list[Finding]:
    """The findings a hook shows (see the module docstring)."""
    if hook == "order-select":
        wanted = set(selections)
    elif hook == "order-sign":
        wanted = set(evaluation.drafts)
    else:
        return list(evaluation.findings)
    return [f for f in evaluation.findings if wanted & set(f.items)]
