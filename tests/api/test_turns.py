"""hygie/api/turns.py: one holder at a time, first come first served, and the event loop's other
callbacks (timers: the alert check, the Subscription poll) run between two holders."""

from __future__ import annotations

import asyncio

import pytest

from hygie.api.turns import Turns


def test_other_callbacks_run_between_two_sections() -> None:
    """With an asyncio.Semaphore, three tasks looping over a section run back to back in one
    loop turn; with Turns a callback scheduled during a section runs before the next one."""

    async def scenario() -> list[str]:
        turns, log = Turns(), []
        loop = asyncio.get_running_loop()

        async def worker(name: str) -> None:
            for _ in range(3):
                async with turns:
                    log.append(name)
                    loop.call_soon(log.append, "other")  # e.g. a timer that fell due meanwhile
                await asyncio.sleep(0)

        await asyncio.gather(*(worker(n) for n in "abc"))
        return log

    log = asyncio.run(scenario())
    sections = [i for i, entry in enumerate(log) if entry != "other"]
    assert len(sections) == 9
    assert all(log[i + 1] == "other" for i in sections), log  # never two sections in a row
    assert [log[i] for i in sections] == ["a", "b", "c"] * 3  # first come, first served


def test_one_holder_at_a_time_even_across_awaits() -> None:
    async def scenario() -> int:
        turns, inside, most = Turns(), 0, 0

        async def worker() -> None:
            nonlocal inside, most
            async with turns:
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.001)
                inside -= 1

        await asyncio.gather(*(worker() for _ in range(10)))
        return most

    assert asyncio.run(scenario()) == 1


def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    async def scenario() -> list[str]:
        turns, log = Turns(), []
        release = asyncio.Event()

        async def holder() -> None:
            async with turns:
                await release.wait()
                log.append("holder")

        async def waiter(name: str) -> None:
            async with turns:
                log.append(name)

        first = asyncio.create_task(holder())
        await asyncio.sleep(0)
        cancelled = asyncio.create_task(waiter("cancelled"))
        last = asyncio.create_task(waiter("last"))
        await asyncio.sleep(0)
        cancelled.cancel()
        release.set()
        await asyncio.gather(first, last)
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        return log

    assert asyncio.run(scenario()) == ["holder", "last"]


def test_an_error_inside_releases_the_section() -> None:
    async def scenario() -> str:
        turns = Turns()
        with pytest.raises(ValueError, match="boom"):
            async with turns:
                raise ValueError("boom")
        async with turns:
            return "again"

    assert asyncio.run(scenario()) == "again"


def test_a_limit_above_one_admits_one_holder_per_turn() -> None:
    """PostgreSQL work runs in threads: several uploads may hold the section, still admitted one
    loop turn apart."""

    async def scenario() -> tuple[int, list[str]]:
        turns, inside, most, log = Turns(limit=3), 0, 0, []
        loop = asyncio.get_running_loop()

        async def worker(name: str) -> None:
            nonlocal inside, most
            async with turns:
                inside += 1
                most = max(most, inside)
                log.append(name)
                loop.call_soon(log.append, "other")
                await asyncio.sleep(0.002)
                inside -= 1

        await asyncio.gather(*(worker(n) for n in "abcdef"))
        return most, log

    most, log = asyncio.run(scenario())
    assert most == 3
    sections = [i for i, entry in enumerate(log) if entry != "other"]
    assert len(sections) == 6 and all(log[i + 1] == "other" for i in sections), log
    with pytest.raises(ValueError, match="at least 1"):
        Turns(limit=0)
