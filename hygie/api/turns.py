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
    """``async with turns:`` — at most one holder, and one loop turn between two holders."""

    def __init__(self) -> None:
        self._busy = False
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> None:
        if not self._busy and not self._waiters:
            self._busy = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # handed the section, then cancelled before using it: pass it on
            elif turn in self._waiters:
                self._waiters.remove(turn)
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._release()

    def _release(self) -> None:
        asyncio.get_running_loop().call_soon(self._hand_over)  # busy until the next turn

    def _hand_over(self) -> None:
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._busy = False
