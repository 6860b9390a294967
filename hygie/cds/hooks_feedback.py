"""Cards given, and what clinicians did with them: ``POST /cds-services/{id}/feedback``.

https://cds-hooks.hl7.org/2.0/#feedback — the body is ``{"feedback": [...]}``, each entry with
``card`` (the uuid of a card this service returned), ``outcome`` (``accepted`` or
``overridden``), ``acceptedSuggestions`` (``[{"id": uuid}]``, accepted only), ``overrideReason``
(``{"reason": Coding, "userComment": text}``, overridden only) and ``outcomeTimestamp`` (an
instant). Every card returned is kept in ``cds_card``; feedback goes to ``cds_feedback`` (see
hygie/storage/migrations_cds.py), all entries of one request or none. A card this service never
returned — or returned to another client — is a 404 naming it. The operator reads the feedback
with ``hygie cds-client feedback``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from hygie.cds.hooks_request import invalid, missing
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.storage.database import Session

OUTCOMES = ("accepted", "overridden")
MAX_ENTRIES = 1000

register(
    {
        "cds_unknown_card": {
            "fr": "Carte inconnue de ce service : {card}.",
            "en": "Card unknown to this service: {card}.",
        },
    }
)


@dataclass(frozen=True, slots=True)
class Feedback:
    card: str
    outcome: str
    accepted: tuple[str, ...]
    reason: tuple[str | None, str | None, str | None]  # system, code, display
    comment: str | None
    outcome_ms: int


def store_cards(
    session: Session,
    *,
    service: str,
    hook_instance: str,
    client: str,
    patient: str,
    cards: list[dict[str, Any]],
    now_ms: int,
) -> None:
    """Keep the cards returned (a repeated hook call returns the same uuids: kept once)."""
    for card in cards:
        finding = card.get("extension", {}).get("health.hygie.finding", {})
        session.execute(
            "INSERT INTO cds_card (uuid, service, hook_instance, client, patient, indicator, kind, level, "
            "summary, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                card["uuid"],
                service,
                hook_instance,
                client,
                patient,
                card["indicator"],
                str(finding.get("kind", "")),
                str(finding.get("level", "")),
                card["summary"],
                now_ms,
            ),
        )


def _uuid(value: Any, path: str) -> str:
    if value is None:
        raise missing(path)
    if not isinstance(value, str):
        raise invalid(path, "a UUID is expected")
    try:
        return str(uuid.UUID(value.removeprefix("urn:uuid:")))
    except ValueError:
        raise invalid(path, "a UUID is expected") from None


def _instant(value: Any, path: str) -> int:
    if value is None:
        raise missing(path)
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) and len(value) >= 20 else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise invalid(path, "an instant with a time zone is expected (e.g. 2025-06-01T10:00:00Z)")
    return int(when.timestamp() * 1000)


def _text(value: Any, path: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(path, "a string is expected")
    return value[:limit]


def _reason(entry: dict[str, Any], path: str) -> tuple[tuple[str | None, str | None, str | None], str | None]:
    raw = entry.get("overrideReason")
    if raw is None:
        return (None, None, None), None
    if entry.get("outcome") != "overridden":
        raise invalid(path, "only an overridden card has an overrideReason")
    if not isinstance(raw, dict):
        raise invalid(path, "an object is expected")
    coding = raw.get("reason")
    reason: tuple[str | None, str | None, str | None] = (None, None, None)
    if coding is not None:
        if not isinstance(coding, dict):
            raise invalid(f"{path}.reason", "a Coding is expected")
        reason = (
            _text(coding.get("system"), f"{path}.reason.system", 2000),
            _text(coding.get("code"), f"{path}.reason.code", 200),
            _text(coding.get("display"), f"{path}.reason.display", 2000),
        )
    return reason, _text(raw.get("userComment"), f"{path}.userComment", 4000)


def _accepted(entry: dict[str, Any], path: str) -> tuple[str, ...]:
    raw = entry.get("acceptedSuggestions")
    if raw is None:
        return ()
    if entry.get("outcome") != "accepted":
        raise invalid(path, "only an accepted card has acceptedSuggestions")
    if not isinstance(raw, list):
        raise invalid(path, "an array is expected")
    out = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict):
            raise invalid(f"{path}[{n}]", "an object with an id is expected")
        out.append(_uuid(item.get("id"), f"{path}[{n}].id"))
    return tuple(out)


def parse_feedback(body: Any) -> list[Feedback]:
    """The checked entries of a feedback request (400 on the first problem)."""
    if not isinstance(body, dict):
        raise FhirError.of(400, "structure", "cds_body_object")
    entries = body.get("feedback")
    if entries is None:
        raise missing("feedback")
    if not isinstance(entries, list) or not entries or len(entries) > MAX_ENTRIES:
        raise invalid("feedback", f"an array of 1 to {MAX_ENTRIES} entries is expected")
    out = []
    for n, entry in enumerate(entries):
        path = f"feedback[{n}]"
        if not isinstance(entry, dict):
            raise invalid(path, "an object is expected")
        outcome = entry.get("outcome")
        if outcome is None:
            raise missing(f"{path}.outcome")
        if outcome not in OUTCOMES:
            raise invalid(f"{path}.outcome", "'accepted' or 'overridden' expected")
        card = _uuid(entry.get("card"), f"{path}.card")
        accepted = _accepted(entry, f"{path}.acceptedSuggestions")
        reason, comment = _reason(entry, f"{path}.overrideReason")
        when = _instant(entry.get("outcomeTimestamp"), f"{path}.outcomeTimestamp")
        out.append(Feedback(card, str(outcome), accepted, reason, comment, when))
    return out


def record_feedback(
    session: Session, *, service: str, client: str, entries: list[Feedback], now_ms: int
) -> None:
    """Store every entry (all or none); 404 for a card not returned by ``service`` to ``client``."""
    for entry in entries:
        row = session.one("SELECT client FROM cds_card WHERE uuid = ? AND service = ?", (entry.card, service))
        if row is None or row[0] != client:
            raise FhirError.of(404, "not-found", "cds_unknown_card", card=entry.card)
        system, code, display = entry.reason
        session.execute(
            "INSERT INTO cds_feedback (card, service, client, outcome, accepted, reason_system, reason_code, "
            "reason_display, comment, outcome_at, received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.card,
                service,
                client,
                entry.outcome,
                orjson.dumps(list(entry.accepted)).decode(),
                system,
                code,
                display,
                entry.comment,
                entry.outcome_ms,
                now_ms,
            ),
        )


def latest_feedback(session: Session, limit: int) -> list[dict[str, Any]]:
    """The newest feedback entries with their card (for the operator)."""
    rows = session.all(
        "SELECT f.card, f.service, f.client, f.outcome, f.accepted, f.reason_system, f.reason_code, "
        "f.reason_display, f.comment, f.outcome_at, c.patient, c.indicator, c.kind, c.level, c.summary "
        "FROM cds_feedback f JOIN cds_card c ON c.uuid = f.card ORDER BY f.id DESC LIMIT ?",
        (limit,),
    )
    names = ("card", "service", "client", "outcome", "acceptedSuggestions", "reasonSystem", "reasonCode",
             "reasonDisplay", "userComment", "outcomeTimestampMs", "patient", "indicator", "kind", "level",
             "summary")  # fmt: skip
    out = []
    for row in rows:
        entry = dict(zip(names, row, strict=True))
        entry["acceptedSuggestions"] = orjson.loads(entry["acceptedSuggestions"])
        out.append({k: v for k, v in entry.items() if v is not None})
    return out
