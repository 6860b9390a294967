"""The Subscription worker: scans the change feed, activates, delivers, beats.

Subscriptions R5 Backport IG STU 1.1 (http://hl7.org/fhir/uv/subscriptions-backport/STU1.1/):
every ``HYGIE_SUBSCRIPTION_POLL_SECONDS`` each server process

1. loads the live Subscriptions and, if it holds the lease (one process per database: a row of
   ``subscription_cursor`` renewed each round), scans the change feed and queues notifications
   (:mod:`hygie.api.subscriptions.matching`), all in one transaction;
2. as lease holder: activates ``requested`` Subscriptions (rest-hook: a handshake POST, then
   ``active``, or ``error`` when it fails), delivers due rest-hook notifications in event order
   (retries with exponential backoff; after ``HYGIE_SUBSCRIPTION_MAX_FAILURES`` consecutive
   failures the status becomes ``error``; the next success makes it ``active`` again) and sends
   heartbeats when a channel was quiet for its ``heartbeatPeriod``;
3. in any process: sends the queued notifications of the websocket channels bound to it
   (:mod:`hygie.api.subscriptions.websocket`).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine
from contextlib import suppress
from typing import Any
from weakref import WeakKeyDictionary

import orjson

from hygie.api.http import FhirApi
from hygie.api.subscriptions import delivery, notify, rules, state
from hygie.api.subscriptions.matching import SCAN_LIMIT, Active, owner_env, scan
from hygie.api.subscriptions.topics import watched_types
from hygie.fhir.outcome import FhirError
from hygie.logging import get_logger
from hygie.storage.database import Session
from hygie.storage.store import Store

log = get_logger("hygie.subscriptions")
SCAN_ROUNDS = 10  # scans of SCAN_LIMIT changes at most per round
LEASE_MS = 10_000  # a stopped or crashed holder is replaced after this
PURGE_EVERY_MS = 60_000
KEEP_SENT_MS = 3_600_000
NOTIFICATIONS_PER_ROUND = 50  # per Subscription and round: a backlog drains without waiting a poll each
_WORKERS: WeakKeyDictionary[FhirApi, SubscriptionWorker] = WeakKeyDictionary()


class Socket:
    """A bound websocket: what the worker needs to push to it."""

    def __init__(self, send: Any) -> None:
        self.send = send  # async (text) -> None
        self.subs: set[str] = set()
        self.last_sent = state.now_ms()


class SubscriptionWorker:
    """One per running :class:`FhirApi` (:func:`start`/:func:`close`)."""

    def __init__(self, api: FhirApi) -> None:
        self.api = api
        self.db = api.db
        self.settings = api.settings
        self.holder = uuid.uuid4().hex
        self.sockets: set[Socket] = set()
        self.subs: dict[str, Active] = {}
        self.leader = False
        self._stopping = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._inflight: dict[str, asyncio.Task[None]] = {}  # rest-hook deliveries by Subscription
        self.http = delivery.client()
        self._last_purge = 0

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        """Let the current round end (its transaction commits), stop, and hand the lease over."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            with suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._inflight.values()):
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task
        with suppress(Exception):
            await self.db.run(lambda s: state.release(s, self.holder))
        await self.http.aclose()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception as exc:  # the database or a peer is away: try again next round
                log.error("subscription_worker_failed", error=type(exc).__name__, detail=str(exc)[:200])
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(self.settings.subscription_poll_seconds, 0.01))

    # -- one round -------------------------------------------------------------------------
    async def tick(self) -> None:
        now = state.now_ms()
        if not await self.db.run(state.any_subscription, write=False):
            self.subs, self.leader = {}, False  # no Subscription: no write transaction every round
            return
        requested = await self.db.run(lambda s: self._prepare(s, now))
        if self.leader:
            loop = asyncio.get_running_loop()
            for sid in [k for k, t in self._inflight.items() if t.done()]:
                del self._inflight[sid]
            for spec in requested:
                if spec.id not in self._inflight:
                    self._inflight[spec.id] = loop.create_task(self._logged(self._activate(spec)))
            for sid, active in self.subs.items():
                if active.spec.channel == "rest-hook" and sid not in self._inflight:
                    # each subscription on its own task: a slow endpoint delays nobody else
                    self._inflight[sid] = loop.create_task(self._logged(self._deliver(active)))
        await self._push_websockets()

    def _prepare(self, s: Session, now: int) -> list[rules.Spec]:
        """Load Subscriptions, take the lease, scan the change feed; the Subscriptions to activate."""
        states = state.states(s)
        live = self._load(s)
        for gone in set(states) - set(live):
            state.forget(s, gone)
        subs: dict[str, Active] = {}
        requested: list[rules.Spec] = []
        for sid, spec in live.items():
            st = states.get(sid)
            if st is None:  # not written through the FHIR API: never checked, never served
                continue
            if spec.status == "requested":
                requested.append(spec)
            elif spec.status in ("active", "error") and st.since_seq is not None:
                try:
                    subs[sid] = Active(spec, st, state.principal_of(st.principal))
                except ValueError:
                    continue
        self.subs = subs
        self.leader = state.lease(s, self.holder, now, LEASE_MS)
        if not self.leader:
            return []
        for _ in range(SCAN_ROUNDS):  # keep up with bursts of writes
            if scan(s, list(subs.values()), self.api.params, self.settings, self.api.tz, now) < SCAN_LIMIT:
                break
        if now - self._last_purge > PURGE_EVERY_MS:
            self._last_purge = now
            state.purge(s, now - KEEP_SENT_MS)
        return requested

    def _load(self, s: Session) -> dict[str, rules.Spec]:
        store = Store(s, self.api.params, self.api.tz)
        false = False if s.dialect == "postgresql" else 0
        rks = [
            r[0]
            for r in s.all("SELECT rk FROM resource WHERE type = 'Subscription' AND deleted = ?", (false,))
        ]
        found: dict[str, rules.Spec] = {}
        for version in store.read_many(rks):
            if version.deleted or version.body is None:
                continue
            try:
                found[version.id] = rules.parse(version.resource())
            except FhirError:
                continue
        return found

    # -- activation and rest-hook delivery --------------------------------------------------
    async def _activate(self, spec: rules.Spec) -> None:
        if await self.db.run(lambda s: status_of(s, self.api, spec.id), write=False) != "requested":
            return  # activated meanwhile (a round that loaded it before the last activation ended)
        since = await self.db.run(state.max_seq, write=False)
        ok = True
        if spec.channel == "rest-hook":
            st = await self.db.run(lambda s: state.get(s, spec.id), write=False)
            if st is None:
                return
            ok = await self._post(spec, notify.bundle(spec, st.base, "requested", "handshake", st.events))
        now = state.now_ms()

        def done(s: Session) -> None:
            state.activate(s, spec.id, since, now)
            if not ok:
                state.contact(s, spec.id, False, now, self._retry_ms())
            set_status(s, self.api, spec.id, "active" if ok else "error")

        await self.db.run(done)
        log.info("subscription_activated", subscription=spec.id, ok=ok)

    def _retry_ms(self) -> int:
        return int(self.settings.subscription_retry_seconds * 1000)

    async def _post(self, spec: rules.Spec, bundle: dict[str, Any]) -> bool:
        return await delivery.post(self.http, spec, bundle, self.settings)

    async def _logged(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception as exc:
            log.error("subscription_delivery_error", error=type(exc).__name__, detail=str(exc)[:200])

    async def _deliver(self, active: Active) -> None:
        """Send what is due to one Subscription: notification after notification (``maxCount``
        events each) while events wait, up to :data:`NOTIFICATIONS_PER_ROUND`; else a heartbeat."""
        for _ in range(NOTIFICATIONS_PER_ROUND):
            if not await self._deliver_one(active):
                return

    async def _deliver_one(self, active: Active) -> bool:
        """One notification or heartbeat; True when events were delivered (more may wait)."""
        spec, sid = active.spec, active.spec.id
        now = state.now_ms()
        st = await self.db.run(lambda s: state.get(s, sid), write=False)
        if st is None or st.next_attempt > now:
            return False
        events = await self.db.run(lambda s: state.pending(s, sid, spec.max_count), write=False)
        if events:
            bundle = await self.db.run(lambda s: self.notification(s, active, st, events), write=False)
        elif spec.status == "error" or (
            spec.heartbeat_s and now - st.last_contact >= spec.heartbeat_s * 1000
        ):
            bundle = notify.bundle(spec, st.base, spec.status, "heartbeat", st.events)
        else:
            return False
        ok = await self._post(spec, bundle)
        await self.db.run(lambda s: self._after(s, spec, events, ok))
        # a retried notification carries the Subscription's status again (error → active)
        if ok and spec.status == "error":
            return False
        return ok and bool(events)

    def _after(self, s: Session, spec: rules.Spec, events: list[state.Event], ok: bool) -> None:
        now = state.now_ms()
        if ok:
            for event in events:
                state.claim(s, event)
        failures = state.contact(s, spec.id, ok, now, self._retry_ms())
        if ok and spec.status == "error":
            set_status(s, self.api, spec.id, "active")
        elif not ok and failures >= self.settings.subscription_max_failures and spec.status != "error":
            set_status(s, self.api, spec.id, "error")

    def notification(
        self,
        s: Session,
        active: Active,
        st: state.State,
        events: list[state.Event],
        status: str | None = None,
    ) -> dict[str, Any]:
        """The event-notification Bundle of ``events``, resources as the owner may read them now."""
        env = owner_env(s, self.api.params, self.settings, self.api.tz, active.principal, st.base)
        notified = []
        for event in events:
            row = s.one(
                "SELECT r.type, r.id, v.deleted, v.vid FROM resource r "
                "JOIN resource_version v ON v.rk = r.rk WHERE v.seq = ?",
                (event.seq,),
            )
            if row is None:
                continue
            rtype, rid, deleted, created = str(row[0]), str(row[1]), bool(row[2]), int(row[3]) == 1
            found = [v for v in env.store.read_many([event.rk]) if not v.deleted]
            version = found[0] if found else None
            notified.append(notify.Notified(event.number, event.at, rtype, rid, version, deleted, created))
        spec = active.spec
        return notify.bundle(spec, st.base, status or spec.status, "event-notification", st.events, notified)

    # -- websockets -------------------------------------------------------------------------
    def bind(self, socket: Socket, sub: str) -> None:
        socket.subs.add(sub)
        self.sockets.add(socket)

    def unbind(self, socket: Socket) -> None:
        self.sockets.discard(socket)

    async def _push_websockets(self) -> None:
        for socket in list(self.sockets):
            for sid in list(socket.subs):
                active = self.subs.get(sid)
                if active is None or active.spec.channel != "websocket":
                    continue
                try:
                    await self._push(socket, active)
                except Exception:  # the client went away
                    self.unbind(socket)
                    break

    def _event_text(self, s: Session, active: Active, events: list[state.Event]) -> str:
        st = state.get(s, active.spec.id)
        if st is None:
            return ""
        return _text(self.notification(s, active, st, events, "active"))

    async def _push(self, socket: Socket, active: Active) -> None:
        sid, spec = active.spec.id, active.spec
        events = await self.db.run(lambda s: state.pending(s, sid, spec.max_count), write=False)
        if events:
            claimed = await self.db.run(lambda s: [e for e in events if state.claim(s, e)])
            if not claimed:
                return
            text = await self.db.run(lambda s: self._event_text(s, active, claimed), write=False)
            try:
                await socket.send(text)
            except Exception:
                await self.db.run(lambda s: state.unclaim_all(s, claimed))
                raise
            socket.last_sent = state.now_ms()
        elif spec.heartbeat_s and state.now_ms() - socket.last_sent >= spec.heartbeat_s * 1000:
            st = await self.db.run(lambda s: state.get(s, sid), write=False)
            if st is not None:
                await socket.send(_text(notify.bundle(spec, st.base, "active", "heartbeat", st.events)))
                socket.last_sent = state.now_ms()


def _text(bundle: dict[str, Any]) -> str:
    return orjson.dumps(bundle).decode()


def status_of(s: Session, api: FhirApi, sid: str) -> str | None:
    current = Store(s, api.params, api.tz).read("Subscription", sid)
    if current is None or current.deleted:
        return None
    return str(current.resource().get("status"))


def set_status(s: Session, api: FhirApi, sid: str, status: str) -> None:
    """Write ``status`` into Subscription ``sid`` (a new version) if it differs."""
    store = Store(s, api.params, api.tz)
    current = store.read("Subscription", sid, for_update=True)
    if current is None or current.deleted:
        return
    resource = current.resource()
    if resource.get("status") == status:
        return
    resource["status"] = status
    if status == "error":
        resource["error"] = "delivery failed"
    else:
        resource.pop("error", None)
    store.update(current, resource, "PUT")


def worker_of(api: FhirApi) -> SubscriptionWorker | None:
    return _WORKERS.get(api)


async def start(api: FhirApi) -> None:
    worker = SubscriptionWorker(api)
    _WORKERS[api] = worker
    await worker.start()


async def close(api: FhirApi) -> None:
    worker = _WORKERS.pop(api, None)
    if worker is not None:
        await worker.close()


__all__ = ["SubscriptionWorker", "close", "start", "watched_types", "worker_of"]
