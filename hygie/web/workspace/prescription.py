"""``/workspace/patient/{id}/prescription``: prescribing, with the medication-safety checks.

The prescriber finds a drug among the marketed BDPM products (:mod:`hygie.cds.catalogue`: brand
or substance, e.g. ``metformine 850``), gives the dose (amount, unit, times a day, days, own
words) and adds it to the prescription being written — a draft MedicationRequest of theirs
(:mod:`hygie.web.workspace.prescribing`). Every draft is checked at once against the patient's
current treatments, allergies, kidney function (latest creatinine, age, weight), pregnancy and
breastfeeding by the engine of docs/medication-safety.md — the same gathering and the same
findings as the CDS Hooks ``order-sign`` service, read through ``p.fhir`` under the prescriber's
access policy, so the reads are audited. Each finding is a card: its level, the drugs and
substances, the mechanism and what to do in the source's words, the figures, the source and its
edition; a finding that suggests it offers "remove" (or "change the dose") for the draft.

Who prescribes: a professional whose PractitionerRole names a profession (ANS TRE-G15) that
prescribes medicines — physician, dentist, midwife (:data:`~hygie.web.workspace.prescribing.PRESCRIBERS`)
— or who has no recorded profession; the others (nurses, pharmacists…) see the screen, its checks
and the current treatments, without the forms, and a POST gets a 403 page.

Signing needs a reason for every contra-indication and not-recommended combination still there
(the override reasons of docs/cds-hooks.md); it is one transaction that makes the drafts active
(only the drafts, at the versions, that were on the screen: anything changed since → 409 and the
screen again) and records each finding as a DetectedIssue with the prescriber and the reason.
All actions are POSTs of this page (``action`` = ``add``, ``dose``, ``remove``, ``sign``),
CSRF-checked, answered by ``303`` back to the page.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import anyio.to_thread
from starlette.responses import Response

from hygie.api.checks import is_count
from hygie.cds import catalogue
from hygie.cds.cards import override_reasons
from hygie.cds.hooks_evaluate import Evaluation, evaluate, knowledge, shown
from hygie.cds.hooks_prefetch import wanted_for
from hygie.web.fhir import WebFhirError, resources
from hygie.web.pages import Page, page
from hygie.web.workspace.chart import ChartView, open_chart, render_chart
from hygie.web.workspace.home import today
from hygie.web.workspace.prescribing import (
    GROUP,
    MAX_DRAFTS,
    MAX_ORDERS,
    TIMES_PER_DAY,
    UNITS,
    Card,
    Dose,
    Signed,
    cards,
    dose_errors,
    dose_form,
    dose_of,
    draft_order,
    may_prescribe,
    missing_reasons,
    professions,
    renewal,
    signature_bundle,
    signed_prescriptions,
    with_dose,
)
from hygie.web.workspace.summary import dosage, medication
from hygie.web.workspace.view import valid_id, when

NOTICES = ("added", "changed", "removed", "signed", "renewed")


@dataclass(slots=True)
class Screen:
    """What the page shows, gathered for one request."""

    drafts: dict[str, dict[str, Any]]  # "MedicationRequest/id" → the draft as read
    evaluation: Evaluation
    current: list[dict[str, Any]]  # the current MedicationRequests and MedicationStatements
    may: bool  # whether the signed-in professional's profession prescribes medicines
    history: list[Signed]  # my earlier prescriptions for this patient, the latest first
    reasons: dict[str, str] = field(default_factory=dict)  # finding key → override reason posted

    def cards(self, lang: str) -> tuple[list[Card], list[Card]]:
        """The cards of the findings involving a draft, and of those on current drugs only."""
        items = {i.ref: i for i in self.evaluation.items}
        new = shown(self.evaluation, "order-sign")
        rest = [f for f in self.evaluation.findings if f not in new]
        return cards(new, items, self.reasons, lang), cards(rest, items, {}, lang)

    def versions(self) -> list[str]:
        return sorted(
            f"{ref.split('/')[1]}@{(d.get('meta') or {}).get('versionId', '')}"
            for ref, d in self.drafts.items()
        )


def _split(url: str) -> tuple[str, list[tuple[str, str]]]:
    path, _, query = url.partition("?")
    return path, parse_qsl(query, keep_blank_values=True)


async def gather(p: Page, view: ChartView, me: str) -> Screen:
    """The patient's treatments, allergies, observations and my drafts, checked by the engine."""
    wanted = wanted_for(view.id, skip=frozenset({"patient"}))
    reads = [p.fhir.search(*_split(url)) for url in wanted.values()]
    mine = [("patient", view.id), ("status", "draft"), ("requester", me), ("_count", str(MAX_DRAFTS))]
    roles = [("practitioner", me), ("_count", "20")]
    earlier = [("patient", view.id), ("requester", me), ("_sort", "-authoredon"), ("_count", str(MAX_ORDERS))]
    found = await asyncio.gather(
        *reads,
        p.fhir.search("MedicationRequest", mine),
        p.fhir.search("PractitionerRole", roles),
        p.fhir.search("MedicationRequest", earlier),
    )
    bundles, drafts = list(found[:-3]), resources(found[-3])
    await anyio.to_thread.run_sync(knowledge)  # loaded once per process, off the event loop
    orders = {f"MedicationRequest/{d['id']}": d for d in drafts if isinstance(d.get("id"), str)}
    evaluation = evaluate(view.patient, bundles, orders.items(), today(p))
    named = dict(zip(wanted, bundles, strict=True))
    requests, statements = resources(named["medications"]), resources(named["statements"])
    ordered = {f"MedicationRequest/{r.get('id')}" for r in requests}
    current = requests + [  # a statement of an order listed is that order being taken: once
        s for s in statements if not any(b.get("reference") in ordered for b in s.get("basedOn") or [])
    ]
    may = may_prescribe(professions(resources(found[-2])))
    return Screen(orders, evaluation, current, may, signed_prescriptions(resources(found[-1])))


def _show(
    p: Page, view: ChartView, screen: Screen, *, status: int = 200, error: str | None = None, **values: Any
) -> Response:
    new, rest = screen.cards(p.lang)
    query = p.request.query_params
    notice = query.get("done") if query.get("done") in NOTICES else None
    group = query.get("group") or ""
    values.setdefault("printable", group if notice == "signed" and GROUP.match(group) else None)
    values.setdefault("q", (query.get("q") or "")[: catalogue.MAX_QUERY])
    values.setdefault("results", [])
    values.setdefault("chosen", None)
    values.setdefault("dose", Dose())
    values.setdefault("errors", [])
    values.setdefault("edit", None)
    values.setdefault("searched", False)
    drafts = [
        {"id": ref.split("/")[1], "name": medication(d), "dosage": dosage(d), "dose": dose_of(d)}
        for ref, d in sorted(screen.drafts.items(), key=lambda kv: str(kv[1].get("authoredOn") or ""))
    ]
    treatments = [(medication(r), dosage(r)) for r in screen.current]
    tz = ZoneInfo(p.settings.timezone)
    history = [
        {"number": s.number, "when": when(s.authored, p.lang, tz), "drugs": [medication(o) for o in s.orders]}
        for s in screen.history
    ]
    return render_chart(
        p,
        view,
        "workspace/prescription.html",
        status=status,
        error=error,
        notice=notice,
        drafts=drafts,
        versions=screen.versions(),
        cards=new,
        current_cards=rest,
        treatments=treatments,
        history=history,
        reasons=override_reasons(p.lang if p.lang in ("fr", "en") else "fr"),
        units=UNITS,
        times=TIMES_PER_DAY,
        max_drafts=MAX_DRAFTS,
        may=screen.may,
        **values,
    )


@page("/workspace/patient/{patient}/prescription", who="professional", methods=["GET", "POST"])
async def prescription(p: Page) -> Response:
    view = await open_chart(p, "prescription")
    if not isinstance(view, ChartView):
        return view
    me = p.principal.fhir_user or ""
    if not me.startswith("Practitioner/"):
        return p.error(403, "ws_rx_no_practitioner")
    screen = await gather(p, view, me)
    if p.request.method == "GET":
        return await _search(p, view, screen)
    if not screen.may:
        return p.error(403, "ws_rx_not_prescriber")
    action = p.form.get("action")
    if action == "add":
        return await _add(p, view, screen, me)
    if action in ("dose", "remove"):
        return await _change(p, view, screen, action)
    if action == "sign":
        return await _sign(p, view, screen, me)
    if action == "renew":
        return await _renew(p, view, screen, me)
    return p.error(400)


async def _search(p: Page, view: ChartView, screen: Screen) -> Response:
    query = p.request.query_params
    q = (query.get("q") or "")[: catalogue.MAX_QUERY]
    kb = await anyio.to_thread.run_sync(knowledge)
    results = await anyio.to_thread.run_sync(catalogue.search, kb, q) if q else []
    cis = query.get("cis") or ""
    chosen = catalogue.product(kb, cis) if is_count(cis) and len(cis) == 8 else None
    return _show(p, view, screen, q=q, results=results, chosen=chosen, searched=bool(q))


def _back(view: ChartView, done: str, anchor: str = "drafts") -> str:
    return f"/workspace/patient/{view.id}/prescription?done={done}#{anchor}"


async def _add(p: Page, view: ChartView, screen: Screen, me: str) -> Response:
    kb = await anyio.to_thread.run_sync(knowledge)
    cis = p.form.get("cis")
    chosen = catalogue.product(kb, cis) if is_count(cis) and len(cis) == 8 else None
    if chosen is None:
        return _show(p, view, screen, status=400, error="ws_rx_error_product")
    dose = dose_form(p.form)
    errors = dose_errors(dose)
    if len(screen.drafts) >= MAX_DRAFTS:
        errors.append("ws_rx_error_too_many")
    if errors:
        return _show(
            p, view, screen, status=400, chosen=chosen, dose=dose, errors=errors, q=p.form.get("q")[:100]
        )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    await p.fhir.create(draft_order(chosen, dose, patient=view.id, requester=me, now=now))
    return p.redirect(_back(view, "added"))


async def _change(p: Page, view: ChartView, screen: Screen, action: str) -> Response:
    rid = p.form.get("draft")
    draft = screen.drafts.get(f"MedicationRequest/{rid}") if valid_id(rid) else None
    if draft is None:  # not a draft of mine on this record (signed, removed, someone else's)
        return _show(p, view, screen, status=409, error="ws_rx_error_gone")
    if action == "remove":
        await p.fhir.delete(f"MedicationRequest/{rid}")
        return p.redirect(_back(view, "removed"))
    dose = dose_form(p.form)
    errors = dose_errors(dose)
    if errors:
        return _show(p, view, screen, status=400, edit={"id": rid, "dose": dose, "errors": errors})
    try:
        await p.fhir.update(with_dose(draft, dose))
    except WebFhirError as failure:
        if failure.status not in (409, 412):
            raise
        return _show(p, view, screen, status=409, error="ws_rx_error_changed")
    return p.redirect(_back(view, "changed"))


async def _sign(p: Page, view: ChartView, screen: Screen, me: str) -> Response:
    screen.reasons = {k[len("reason-") :]: v for k, v in p.form.pairs if k.startswith("reason-") and v}
    if not screen.drafts:
        return _show(p, view, screen, status=400, error="ws_rx_error_nothing")
    if sorted(p.form.getlist("version")) != screen.versions():
        return _show(p, view, screen, status=409, error="ws_rx_error_changed")
    new, _ = screen.cards(p.lang)
    if missing_reasons(new):
        return _show(p, view, screen, status=400, error="ws_rx_error_reasons")
    items = {i.ref: i for i in screen.evaluation.items}
    now = datetime.now(UTC).isoformat(timespec="seconds")
    texts = {r["code"]: r["display"] for r in override_reasons("fr")}  # the record's language
    group = secrets.token_hex(8)
    bundle = signature_bundle(
        screen.drafts, new, items, patient=view.id, author=me, now=now, reason_text=texts, group=group
    )
    try:
        await p.fhir.transaction(bundle)
    except WebFhirError as failure:
        if failure.status not in (409, 412):
            raise
        return _show(p, view, screen, status=409, error="ws_rx_error_changed")
    return p.redirect(f"/workspace/patient/{view.id}/prescription?done=signed&group={group}#tab-title")


async def _renew(p: Page, view: ChartView, screen: Screen, me: str) -> Response:
    """New drafts copying the orders of one of my earlier prescriptions (one transaction)."""
    number = p.form.get("number")
    chosen = next((s for s in screen.history if s.number == number), None)
    if chosen is None:
        return _show(p, view, screen, status=409, error="ws_rx_error_gone")
    if len(screen.drafts) + len(chosen.orders) > MAX_DRAFTS:
        return _show(p, view, screen, status=400, error="ws_rx_error_too_many")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    entries = [
        {
            "resource": renewal(o, requester=me, now=now),
            "request": {"method": "POST", "url": "MedicationRequest"},
        }
        for o in chosen.orders
    ]
    await p.fhir.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    return p.redirect(_back(view, "renewed"))


PAGES = [prescription]
