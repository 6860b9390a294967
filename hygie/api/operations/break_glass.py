"""Patient $break-glass — emergency access to a record outside one's care relationships.

``POST [base]/Patient/[id]/$break-glass`` with a Parameters body: ``reason`` (valueString, the
written justification, 15 to 1,000 characters) and optionally ``minutes`` (valueInteger, how long,
default 60, at most 720). Only a signed-in professional may call it (403 otherwise). It records a
grant (table ``btg_grant``) that the access policy (hygie.auth.policy) adds to the patients the
professional may see — even a patient who blocked them: an emergency overrides an objection
(Code de la santé publique L.1110-4) — until it expires. It is audited as a BALP "Emergency
Override Started" event with purpose ``BTG`` and the justification, and the patient is notified by
a Communication (``category`` notification, ``recipient`` and ``subject`` the patient) that their
portal shows. The answer is a Parameters with ``until`` (instant).

The patient must exist (404 otherwise): asking reveals existence, but the request itself is
audited with the professional's identity and reason.

``GET [base]/Patient/[id]/$break-glass`` answers the caller's current grant for that patient
(``until``, ``since``, ``reason``, ``patient``; 404 when there is none), and ``GET
[base]/Patient/$break-glass`` all their current grants, one ``grant`` part each, latest end first
— so any server process (a web page, another client) knows a professional's emergency accesses
and when they end. Professionals only (403 otherwise); nothing else is revealed: the grants are
the caller's own.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from hygie.api.context import Env, FhirRequest, Result
from hygie.fhir.messages import register, render
from hygie.fhir.outcome import FhirError
from hygie.search.catalog import Catalog
from hygie.storage.store import Store, instant

OPERATION_NAME = "break-glass"
CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"
DEFAULT_MINUTES = 60
MAX_MINUTES = 12 * 60
REASON_LENGTH = (15, 1000)

register(
    {
        "btg_professionals_only": {
            "fr": "Seul un professionnel de santé connecté peut demander un accès d'urgence.",
            "en": "Only a signed-in health professional may request emergency access.",
        },
        "btg_reason": {
            "fr": "Justification obligatoire (paramètre reason, {min} à {max} caractères).",
            "en": "A justification is required (parameter reason, {min} to {max} characters).",
        },
        "btg_minutes": {
            "fr": "Durée invalide (paramètre minutes, 1 à {max}).",
            "en": "Invalid duration (parameter minutes, 1 to {max}).",
        },
        "btg_no_grant": {
            "fr": "Aucun accès d'urgence en cours pour ce patient.",
            "en": "No current emergency access to this patient.",
        },
        "btg_notice": {
            "fr": "{who} a ouvert votre dossier en urgence (accès exceptionnel jusqu'au {until}). "
            "Motif : {reason}",
            "en": "{who} opened your record in an emergency (exceptional access until {until}). "
            "Reason: {reason}",
        },
    }
)


def _parameters(body: Any) -> tuple[str, int]:
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise FhirError.of(400, "invalid", "btg_reason", min=REASON_LENGTH[0], max=REASON_LENGTH[1])
    reason: Any = None
    minutes: Any = DEFAULT_MINUTES
    for part in body.get("parameter") or []:
        if not isinstance(part, dict):
            continue
        if part.get("name") == "reason":
            reason = part.get("valueString")
        elif part.get("name") == "minutes":
            minutes = part.get("valueInteger")
    if not isinstance(reason, str) or not REASON_LENGTH[0] <= len(reason.strip()) <= REASON_LENGTH[1]:
        raise FhirError.of(400, "invalid", "btg_reason", min=REASON_LENGTH[0], max=REASON_LENGTH[1])
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= MAX_MINUTES:
        raise FhirError.of(400, "invalid", "btg_minutes", max=MAX_MINUTES)
    return reason.strip(), minutes


def _professional(env: Env) -> Any:
    """The calling professional's principal (403 for anybody else)."""
    params = env.store.params
    guard = params.guard if isinstance(params, Catalog) else None
    principal = getattr(guard, "principal", None)
    if principal is None or principal.kind != "professional":
        raise FhirError.of(403, "forbidden", "btg_professionals_only")
    if (
        env.store.s.one("SELECT 1 FROM account WHERE id = ? AND kind = 'professional'", (principal.subject,))
        is None
    ):
        raise FhirError.of(403, "forbidden", "btg_professionals_only")
    return principal


def current_grants(env: Env, req: FhirRequest) -> Result:
    """The caller's current grants: for ``req.id`` (404 when none), or all of them."""
    principal = _professional(env)
    sql = "SELECT patient, since, until, reason FROM btg_grant WHERE account = ? AND until > ?"
    args: list[Any] = [principal.subject, int(time.time() * 1000)]
    if req.id is not None:
        sql += " AND patient = ?"
        args.append(req.id)
    rows = env.store.s.all(sql + " ORDER BY until DESC, patient", tuple(args))
    parts = []
    for patient, since, until, reason in rows:
        parts.append(
            [
                {"name": "patient", "valueReference": {"reference": f"Patient/{patient}"}},
                {"name": "since", "valueInstant": instant(int(since))},
                {"name": "until", "valueInstant": instant(int(until))},
                {"name": "reason", "valueString": str(reason)},
            ]
        )
    out: dict[str, Any] = {"resourceType": "Parameters"}
    if req.id is not None:
        if not parts:
            raise FhirError.of(404, "not-found", "btg_no_grant")
        out["parameter"] = parts[0]
    elif parts:
        out["parameter"] = [{"name": "grant", "part": part} for part in parts]
    return Result(200, resource=out)


def break_glass(env: Env, req: FhirRequest) -> Result:
    assert req.id is not None
    principal = _professional(env)
    reason, minutes = _parameters(req.body)
    session, params = env.store.s, env.store.params
    false = False if session.dialect == "postgresql" else 0
    if (
        session.one(
            "SELECT 1 FROM resource WHERE type = 'Patient' AND id = ? AND deleted = ?", (req.id, false)
        )
        is None
    ):
        raise FhirError.of(404, "not-found", "not_found", type="Patient", id=req.id)
    now = int(time.time() * 1000)
    until = now + minutes * 60_000
    session.execute(
        "INSERT INTO btg_grant (id, account, patient, reason, since, until) VALUES (?, ?, ?, ?, ?, ?)",
        (secrets.token_hex(8), principal.subject, req.id, reason, now, until),
    )
    who = principal.fhir_user or principal.subject
    notice = render("btg_notice", "fr", {"who": who, "until": instant(until), "reason": reason})
    communication = {
        "resourceType": "Communication",
        "status": "completed",
        "category": [{"coding": [{"system": CATEGORY, "code": "notification"}]}],
        "subject": {"reference": f"Patient/{req.id}"},
        "recipient": [{"reference": f"Patient/{req.id}"}],
        "sender": {"reference": who} if principal.fhir_user else {"display": who},
        "sent": instant(now),
        "payload": [{"contentString": notice}],
    }
    # Written by the server itself (the professional's scopes need not allow creating messages).
    server = Store(session, params.scoped(None) if isinstance(params, Catalog) else params, env.store.tz)
    server.create("Communication", communication)
    env.audited_patients.add(req.id)  # the patient sees the opening itself in their access history
    env.audit = ("break-glass", "BTG", reason)
    out = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "until", "valueInstant": instant(until)},
            {"name": "patient", "valueReference": {"reference": f"Patient/{req.id}"}},
        ],
    }
    return Result(200, resource=out)
