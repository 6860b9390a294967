"""AuditEvent over the audit ledger: "who accessed my record" as a FHIR search.

AuditEvents are written by the server only (the hash-chained ledger of :mod:`hygie.auth.audit`);
``POST/PUT/PATCH/DELETE AuditEvent`` answer 405. Search and read are served from the ledger, not
from the resource tables (https://hl7.org/fhir/R4/auditevent.html):

- ``GET /fhir/AuditEvent?patient=ID`` (also ``Patient/ID``; comma = several), ``date`` with
  ``ge gt le lt`` prefixes on the recording time, ``_count``, newest first, paged with
  ``_cursor``; ``GET /fhir/AuditEvent/SEQ`` reads one entry.
- Who may read what: a patient, the entries about themselves and the patients they act for
  (another patient's → an empty result, as if there were none); an administrator or a system
  client whose scopes grant AuditEvent, every entry; a professional, none (the audit trail is not
  part of the care record). Reading the audit log is itself audited (the HTTP layer records the
  patients whose entries were read).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import orjson

from hygie.api.context import Env, FhirRequest, Result
from hygie.api.history import page_size
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.search.catalog import Catalog
from hygie.search.ranges import date_range

register(
    {
        "audit_read_only": {
            "fr": "Les AuditEvent sont enregistrés par le serveur seul : {method} refusé.",
            "en": "AuditEvents are recorded by the server only: {method} refused.",
        },
    }
)
_PARAMS = frozenset({"patient", "date", "_count", "_cursor", "_format", "_pretty", "_total"})
_PREFIXES = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def refuse_write(env: Env, req: FhirRequest) -> Result:
    raise FhirError.of(405, "not-supported", "audit_read_only", method=req.method)


def _scope(env: Env) -> tuple[str, ...] | None:
    """Patients whose entries the caller may read (None: every entry)."""
    params = env.store.params
    guard = params.guard if isinstance(params, Catalog) else None
    principal = getattr(guard, "principal", None)
    if guard is None or principal is None:
        return None
    if principal.kind in ("system", "admin"):
        return None
    if principal.kind == "patient":
        return tuple(principal.patients)
    return ()


def _patients(values: list[str]) -> list[str]:
    out = []
    for raw in values:
        for value in raw.split(","):
            pid = value.strip().removeprefix("Patient/")
            if not pid or "/" in pid or len(pid) > 64:
                raise FhirError.of(400, "invalid", "bad_param", name="patient", value=value[:64])
            out.append(pid)
    return out


def _where(env: Env, req: FhirRequest) -> tuple[str, list[Any], list[str]]:
    for name, _ in req.query:
        if name not in _PARAMS:
            raise FhirError.of(400, "not-supported", "unknown_param", name=name[:64], type="AuditEvent")
    asked = _patients([v for k, v in req.query if k == "patient"])
    allowed = _scope(env)
    if allowed is not None:
        asked = [p for p in asked if p in allowed] if asked else list(allowed)
        if not asked:
            return "1 = 0", [], []
    clauses: list[str] = []
    args: list[Any] = []
    if asked:
        clauses.append(f"patient IN ({','.join('?' * len(asked))})")
        args.extend(asked)
    tz = ZoneInfo(env.settings.timezone)
    for value in (v for k, v in req.query if k == "date"):
        prefix, text = (value[:2], value[2:]) if value[:2] in _PREFIXES else ("ge", value)
        rng = date_range(text, tz)
        if rng is None:
            raise FhirError.of(400, "invalid", "bad_param", name="date", value=value[:40])
        bound = rng[0] if prefix in ("ge", "lt") else rng[1] - 1
        clauses.append(f"recorded {_PREFIXES[prefix]} ?")
        args.append(bound)
    return " AND ".join(clauses) or "1 = 1", args, asked


def search(env: Env, req: FhirRequest) -> Result:
    where, args, patients = _where(env, req)
    size = page_size(env, req.param("_count"))
    cursor = req.param("_cursor")
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 18):
            raise FhirError.of(400, "invalid", "bad_param", name="_cursor", value=cursor[:32])
        where += " AND seq < ?"
        args.append(int(cursor))
    rows = env.store.select(
        f"SELECT seq, body FROM audit_log WHERE {where} ORDER BY seq DESC LIMIT ?", (*args, size + 1)
    )
    env.audited_patients.update(patients)
    entries = [
        {
            "fullUrl": f"{env.base}/AuditEvent/{seq}",
            "resource": orjson.Fragment(bytes(body)),
            "search": {"mode": "match"},
        }
        for seq, body in rows[:size]
    ]
    query = [(k, v) for k, v in req.query if k != "_cursor"]
    links = [{"relation": "self", "url": _url(env, req.query)}]
    if len(rows) > size:
        links.append({"relation": "next", "url": _url(env, [*query, ("_cursor", str(rows[size - 1][0]))])})
    bundle = {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}
    return Result(200, resource=bundle)


def read(env: Env, req: FhirRequest) -> Result:
    assert req.id is not None
    if not (req.id.isascii() and req.id.isdigit() and len(req.id) <= 18):
        raise FhirError.of(404, "not-found", "not_found", type="AuditEvent", id=req.id)
    allowed = _scope(env)
    row = env.store.select("SELECT body, patient FROM audit_log WHERE seq = ?", (int(req.id),))
    if not row or (allowed is not None and row[0][1] not in allowed):
        raise FhirError.of(404, "not-found", "not_found", type="AuditEvent", id=req.id)
    if row[0][1]:
        env.audited_patients.add(str(row[0][1]))
    return Result(200, resource=orjson.loads(bytes(row[0][0])))


def _url(env: Env, query: list[tuple[str, str]]) -> str:
    return f"{env.base}/AuditEvent" + (f"?{urlencode(query)}" if query else "")
