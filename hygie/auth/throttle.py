"""Rate limiting before password hashing, and the progressive lockout of an account.

Two complementary defences against online guessing (NIST SP 800-63B-4 §3.2.2 "Rate Limiting
(Throttling)", https://pages.nist.gov/800-63-4/sp800-63b.html; OWASP Authentication Cheat Sheet,
https://cheatsheetseries.owasp.org/cheatsheets/Authentication_Cheat_Sheet.html):

- :class:`Throttle`, a token bucket per key (client IP, submitted username…), in memory, checked
  **before** any Argon2 work so that a flood of attempts cannot turn the hash into a denial of
  service. Each key earns ``rate_per_s`` tokens per second up to ``burst``; an attempt spends one.
  Memory is bounded: past ``max_keys`` keys, the least recently seen key is forgotten (its bucket
  had the longest time to refill, so little is lost; the durable defence is the lockout below).
  Thread-safe (one lock; every operation is O(1)). Times are seconds from any monotonic clock
  (``time.monotonic()``), passed in by the caller; a clock going backwards earns nothing.
- :func:`lockout_seconds`, the lock of an account after consecutive failed logins (a counter the
  accounts storage keeps and resets on success). The doubling below reaches one hour at the
  12th failure: a guesser gets about 35 attempts on the first day and 24 a day after, while the
  user who mistyped four times loses nothing. NIST SP 800-63B-4 also requires at most 100
  consecutive failures per account: at :data:`MAX_CONSECUTIVE_FAILURES` the caller stops
  accepting passwords for the account until another way (a reset by an administrator, a
  recovery) unlocks it.

========  =========
failures  lockout
========  =========
0–4       none
5         30 s
6         1 min
7         2 min
8         4 min
9         8 min
10        16 min
11        32 min
≥ 12      1 h (cap)
========  =========
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Final

LOCKOUT_FREE_FAILURES: Final = 4  # failures allowed before any lockout
LOCKOUT_FIRST_SECONDS: Final = 30  # lockout after failure number LOCKOUT_FREE_FAILURES + 1
LOCKOUT_CAP_SECONDS: Final = 3600
MAX_CONSECUTIVE_FAILURES: Final = 100  # NIST SP 800-63B-4 §3.2.2: then unlock by another way


class Throttle:
    """Token buckets keyed by string: ``allow(key, now)`` spends a token if there is one."""

    def __init__(self, rate_per_s: float, burst: int, max_keys: int) -> None:
        if not (math.isfinite(rate_per_s) and rate_per_s > 0):
            raise ValueError("rate_per_s must be a positive, finite number")
        if burst < 1 or max_keys < 1:
            raise ValueError("burst and max_keys must be at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, at)
        self._lock = threading.Lock()

    def allow(self, key: str, now: float) -> bool:
        """Spend one token of ``key`` at time ``now``: True if the attempt may go on."""
        with self._lock:
            tokens, at = self._tokens(key, now)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, at)
            self._buckets.move_to_end(key)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return allowed

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` has a token again (0.0 when it has one); spends nothing.

        Round up for an HTTP ``Retry-After`` header.
        """
        with self._lock:
            tokens, _ = self._tokens(key, now)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate_per_s

    def __len__(self) -> int:
        """Number of keys currently remembered (at most ``max_keys``)."""
        with self._lock:
            return len(self._buckets)

    def _tokens(self, key: str, now: float) -> tuple[float, float]:
        """Tokens of ``key`` refilled up to ``now``, and the time they are counted at."""
        state = self._buckets.get(key)
        if state is None:
            return float(self.burst), now
        tokens, at = state
        elapsed = max(0.0, now - at)
        return min(float(self.burst), tokens + elapsed * self.rate_per_s), max(at, now)


def lockout_seconds(failures: int) -> int:
    """How long an account stays locked after ``failures`` consecutive failed logins (table above)."""
    if failures < 0:
        raise ValueError("failures cannot be negative")
    if failures <= LOCKOUT_FREE_FAILURES:
        return 0
    doublings = min(failures - LOCKOUT_FREE_FAILURES - 1, 16)  # 30 s · 2^16 is far past the cap
    return min(LOCKOUT_FIRST_SECONDS << doublings, LOCKOUT_CAP_SECONDS)
