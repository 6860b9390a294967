"""One heavy piece of work per event-loop turn.

A server process runs request handlers, the monitoring checks and the Subscription deliveries on
one asyncio event loop, and SQLite work runs inline on it. An ``asyncio.Semaphore`` does not stop
a stream of uploads from monopolising the loop: each upload finds it free (the previous one
released it in the same turn) and the loop only reaches its timers — the alert check, the
Subscription poll — after every upload ready to go has run. :class:`Turns` hands the section over
one loop turn after its release, so timers and other tasks run between two sections: a timer
waits for one section at most instead of all of them (docs/monitoring.md, "Alert latency").
Waiters are served first come, first served.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType


class Turns:
    """``async with turns:`` — at most ``limit`` holders, at most one admitted per loop turn, and
    one loop turn between a release and the next admission."""

    def __init__(self, limit: int = 1) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._limit = limit
        self._holders = 0
        self._marked = False  # an admission or a release happened in this turn
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> None:
        if not self._marked and not self._waiters and self._holders < self._limit:
            self._holders += 1
            self._mark()
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # admitted, then cancelled before using it: pass it on
            elif turn in self._waiters:
                self._waiters.remove(turn)
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._release()

    def _release(self) -> None:
        self._holders -= 1
        self._mark()

    def _mark(self) -> None:
        if not self._marked:
            self._marked = True
            asyncio.get_running_loop().call_soon(self._turn)  # runs in the next loop turn

    def _turn(self) -> None:
        self._marked = False
        while self._waiters and self._holders < self._limit:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                self._holders += 1
                self._mark()
                return
