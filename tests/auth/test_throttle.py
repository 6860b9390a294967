"""Token-bucket throttle and progressive lockout of hygie.auth.throttle (a fixed ``now``, no sleeping)."""

from __future__ import annotations

import threading

import pytest

from hygie.auth.throttle import (
    LOCKOUT_CAP_SECONDS,
    LOCKOUT_FREE_FAILURES,
    MAX_CONSECUTIVE_FAILURES,
    Throttle,
    lockout_seconds,
)


def test_burst_then_refused() -> None:
    throttle = Throttle(rate_per_s=1.0, burst=3, max_keys=10)
    assert [throttle.allow("10.0.0.1", now=100.0) for _ in range(5)] == [True, True, True, False, False]


@pytest.mark.parametrize(
    ("later", "allowed"),
    [(0.0, 0), (0.5, 0), (0.999, 0), (1.0, 1), (1.5, 1), (2.0, 2), (3.0, 3), (1000.0, 3)],
)
def test_refill_at_the_rate_up_to_the_burst(later: float, allowed: int) -> None:
    throttle = Throttle(rate_per_s=1.0, burst=3, max_keys=10)
    for _ in range(3):
        assert throttle.allow("k", now=50.0)
    results = [throttle.allow("k", now=50.0 + later) for _ in range(5)]
    assert results == [True] * allowed + [False] * (5 - allowed)


@pytest.mark.parametrize(
    ("later", "wait"),
    [(0.0, 10.0), (2.5, 7.5), (9.75, 0.25), (10.0, 0.0), (60.0, 0.0)],
)
def test_retry_after(later: float, wait: float) -> None:
    throttle = Throttle(rate_per_s=0.1, burst=2, max_keys=10)  # one attempt per 10 s
    assert throttle.allow("k", now=0.0) and throttle.allow("k", now=0.0)
    assert not throttle.allow("k", now=0.0)
    assert throttle.retry_after("k", now=later) == pytest.approx(wait)
    assert throttle.retry_after("k", now=later) == pytest.approx(wait), "asking does not consume"


def test_retry_after_of_an_unknown_key_is_zero_and_stores_nothing() -> None:
    throttle = Throttle(rate_per_s=1.0, burst=1, max_keys=10)
    assert throttle.retry_after("never-seen", now=5.0) == 0.0
    assert len(throttle) == 0


def test_refused_attempts_do_not_push_the_wait_further() -> None:
    throttle = Throttle(rate_per_s=1.0, burst=1, max_keys=10)
    assert throttle.allow("k", now=0.0)
    for t in (0.1, 0.2, 0.3, 0.4):
        assert not throttle.allow("k", now=t)
    assert throttle.allow("k", now=1.0)


def test_keys_are_independent() -> None:
    throttle = Throttle(rate_per_s=1.0, burst=1, max_keys=10)
    assert throttle.allow("ip:10.0.0.1", now=0.0)
    assert not throttle.allow("ip:10.0.0.1", now=0.0)
    assert throttle.allow("ip:10.0.0.2", now=0.0)
    assert throttle.allow("user:mcurie", now=0.0)


def test_a_clock_going_backwards_gives_no_tokens() -> None:
    throttle = Throttle(rate_per_s=1.0, burst=2, max_keys=10)
    assert throttle.allow("k", now=10.0) and throttle.allow("k", now=10.0)
    assert not throttle.allow("k", now=5.0)
    assert not throttle.allow("k", now=10.5)
    assert throttle.allow("k", now=11.0)


def test_memory_is_bounded_and_the_least_recently_seen_key_goes_first() -> None:
    throttle = Throttle(rate_per_s=1.0, burst=1, max_keys=2)
    assert throttle.allow("a", now=0.0)
    assert throttle.allow("b", now=0.0)
    assert not throttle.allow("a", now=0.0)  # a is now the most recently seen
    assert throttle.allow("c", now=0.0)  # evicts b, not a
    assert len(throttle) == 2
    assert not throttle.allow("a", now=0.0), "a kept its empty bucket"
    assert throttle.allow("b", now=0.0), "b was forgotten: a new, full bucket"


def test_many_keys_stay_within_max_keys() -> None:
    throttle = Throttle(rate_per_s=1.0, burst=1, max_keys=100)
    for i in range(10_000):
        throttle.allow(f"ip:{i}", now=0.0)
    assert len(throttle) == 100


def test_thread_safe_no_token_given_twice() -> None:
    throttle = Throttle(rate_per_s=1e-9, burst=50, max_keys=10)
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def hammer() -> None:
        start.wait()
        mine = [throttle.allow("shared", now=0.0) for _ in range(100)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 800
    assert results.count(True) == 50


@pytest.mark.parametrize(
    ("rate", "burst", "max_keys"),
    [(0.0, 1, 1), (-1.0, 1, 1), (float("nan"), 1, 1), (float("inf"), 1, 1), (1.0, 0, 1), (1.0, 1, 0)],
)
def test_invalid_settings(rate: float, burst: int, max_keys: int) -> None:
    with pytest.raises(ValueError):
        Throttle(rate_per_s=rate, burst=burst, max_keys=max_keys)


# --- progressive lockout -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [
        (0, 0),
        (1, 0),
        (4, 0),
        (5, 30),
        (6, 60),
        (7, 120),
        (8, 240),
        (9, 480),
        (10, 960),
        (11, 1920),
        (12, 3600),
        (13, 3600),
        (1_000, 3600),
        (10**18, 3600),
    ],
)
def test_lockout_table(failures: int, seconds: int) -> None:
    assert lockout_seconds(failures) == seconds


def test_lockout_constants_match_the_table() -> None:
    assert LOCKOUT_FREE_FAILURES == 4
    assert LOCKOUT_CAP_SECONDS == 3600
    assert MAX_CONSECUTIVE_FAILURES == 100
    durations = [lockout_seconds(n) for n in range(0, 40)]
    assert durations == sorted(durations), "never shorter after one more failure"


def test_negative_failures_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        lockout_seconds(-1)
