"""The audit trail of the FHIR API: one BALP AuditEvent per patient per access, in the ledger.

Every request under ``/fhir`` that reaches data — reads, searches (each patient whose data a page
returned), writes, history, ``$everything``, Bundle entries, and the refusals (401/403/404…) — is
recorded as an :class:`~hygie.auth.balp.AccessRecord`: who (Practitioner/Patient reference, account,
client, address), what (interaction, resources, query), when, outcome, request id. Records are
queued and appended to the hash-chained ledger (:mod:`hygie.auth.audit`) in batches by a
background task every ``flush_interval`` seconds (and at shutdown), so auditing costs the request
path a few microseconds; a crash can lose at most the last interval's records (docs/security.md).

Patients touched are read from what was returned or written: the Patient itself, or the
``Patient/<id>`` references of the resource (a superset of its Patient compartment membership).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Iterable
from contextlib import suppress

from hygie.api.context import FhirRequest
from hygie.auth import audit, balp
from hygie.auth.tokens import Principal
from hygie.logging import get_logger
from hygie.storage.database import Database
from hygie.storage.store import Version

log = get_logger("hygie.audit")
_PATIENT_REF = re.compile(
    rb'"reference"\s*:\s*"(?:[^"]*/)?Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^"]*)?"'
)
_REQUEST_ID = re.compile(r"[A-Za-z0-9\-_.:]{1,64}")
MAX_PENDING = 50_000


def request_id(header: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is a sane token, else a fresh one."""
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return secrets.token_hex(8)


def interaction(req: FhirRequest, bundle_type: str | None = None) -> balp.Interaction:
    """The http://hl7.org/fhir/restful-interaction code of a request."""
    method, op = req.method, req.operation
    if req.type is None and req.compartment is None:
        if op == "_history":
            return "history-system"
        return "transaction" if bundle_type == "transaction" else "batch"
    if op is not None and op.startswith("$"):
        return "operation"
    if req.compartment is not None or op == "_search":
        return "search-type"
    if method in ("GET", "HEAD"):
        if op == "_history":
            return "vread" if req.vid is not None else ("history-instance" if req.id else "history-type")
        return "read" if req.id is not None else "search-type"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, "operation")  # type: ignore[return-value]


def patients_of(version: Version) -> set[str]:
    if version.type == "Patient":
        return {version.id}
    if version.body is None:
        return set()
    return patients_referenced(version.body)


def patients_referenced(data: bytes) -> set[str]:
    """The Patient ids that JSON ``data`` references (one body, or many joined by newlines)."""
    return {m.decode() for m in _PATIENT_REF.findall(data)}


def access_record(
    req: FhirRequest,
    *,
    principal: Principal | None,
    status: int,
    touched: Iterable[Version],
    client_ip: str | None,
    request_id: str,
    bundle_type: str | None = None,
    now_ms: int,
    patients: Iterable[str] = (),
    special: tuple[str, str, str] | None = None,
    emergency: set[str] | frozenset[str] = frozenset(),
) -> balp.AccessRecord:
    """The audit record of one request; ``special``: (action, purpose, reason) for an access that
    is not a plain REST interaction (break-the-glass)."""
    patients = set(patients)
    by_patient: dict[str, list[str]] = {}
    shared: list[str] = []
    seen: set[str] = set()
    for version in touched:
        ref = f"{version.type}/{version.id}"
        if ref in seen:
            continue
        seen.add(ref)
        owners = patients_of(version)
        for patient in owners:
            by_patient.setdefault(patient, []).append(ref)
        if not owners:
            shared.append(ref)
    searching = req.operation == "_search" or (req.method == "GET" and req.id is None)
    query = "&".join(f"{k}={v}" for k, v in req.query)[:2000] if searching and req.query else None
    outcome: balp.Outcome = 0 if status < 400 else (4 if status < 500 else 8)
    action: balp.Action = "break-glass" if special and special[0] == "break-glass" else "rest"
    return balp.AccessRecord(
        action=action,
        time_ms=now_ms,
        interaction=interaction(req, bundle_type) if action == "rest" else None,
        purpose=special[1] if special else ("BTG" if emergency & (set(by_patient) | set(patients)) else None),
        reason=special[2] if special else None,
        outcome=outcome,
        outcome_text=None if outcome == 0 else str(status),
        agent_ref=principal.fhir_user if principal else None,
        agent_login=principal.subject if principal else None,
        client_id=principal.client_id if principal else None,
        client_ip=client_ip,
        patients=tuple(sorted(set(patients) - set(by_patient))),
        patient_resources={p: tuple(refs) for p, refs in by_patient.items()},
        resources=tuple(shared),
        query=query,
        request_id=request_id,
    )


POLICY_TYPES = frozenset({"Consent"})  # resources that change who may see a record
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def policy_change(
    req: FhirRequest,
    *,
    principal: Principal | None,
    status: int,
    touched: Iterable[Version],
    client_ip: str | None,
    now_ms: int,
) -> balp.AccessRecord | None:
    """A successful write of a Consent also changes the access policy: besides its REST event it
    is recorded as a BALP "Object Security Attributes Changed" event (None for anything else)."""
    if status >= 400 or req.method not in _WRITES:
        return None
    consents = [v for v in touched if v.type in POLICY_TYPES]
    if not consents:
        return None
    patients = sorted({p for v in consents for p in patients_of(v)})
    return balp.AccessRecord(
        action="policy-change",
        time_ms=now_ms,
        agent_ref=principal.fhir_user if principal else None,
        agent_login=principal.subject if principal else None,
        client_id=principal.client_id if principal else None,
        client_ip=client_ip,
        patients=tuple(patients),
        resources=tuple(f"{v.type}/{v.id}" for v in consents) if not patients else (),
        reason=f"{req.method} {', '.join(f'{v.type}/{v.id}' for v in consents)}"[:500],
    )


class AuditTrail:
    """Queue of access records, appended to the ledger by a background task."""

    def __init__(self, db: Database, key: bytes, server: balp.Server, *, flush_interval: float = 0.1) -> None:
        self.db = db
        self.key = key
        self.server = server
        self.flush_interval = flush_interval
        self.pending: list[balp.AccessRecord] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()  # one flush at a time: a flush returns once earlier ones did
        self._closing = False

    def record(self, record: balp.AccessRecord) -> None:
        self.pending.append(record)
        if len(self.pending) >= 1000:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self._closing:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Append everything queued so far (one transaction).

        When it returns, every record made before the call is in the ledger (or kept for the next
        round after a failure) — including records the background task took an instant earlier
        and was still writing: a page reading the trail right after flushing sees them."""
        async with self._writing:
            await self._append()

    async def _append(self) -> None:
        records, self.pending = self.pending, []
        if not records:
            return
        try:
            events = [event for record in records for event in balp.build_events(record, server=self.server)]
            now = int(time.time() * 1000)
            await self.db.run(lambda s: audit.append(s, events, now=now, key=self.key), write=True)
        except Exception as exc:  # the trail must not die: keep the records for the next round
            log.error("audit_append_failed", error=type(exc).__name__)
            self.pending = (records + self.pending)[-MAX_PENDING:]

    async def close(self) -> None:
        """Stop the task after its current flush (never cancelled mid-write: on PostgreSQL the
        write runs in a worker thread a cancellation would not wait for, and the database could
        close under it), then append what is left."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self.flush()
