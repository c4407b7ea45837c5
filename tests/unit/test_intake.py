"""The intake (clearance.server.intake): places handed on in arrival order, waiters that give up
or go away leave no place taken, a turn that comes after its deadline is refused, and the
deadlines the service reads from a header and from the API server's ``?timeout=``.

A movable clock stands in for the monotonic one; nothing here measures time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from clearance.errors import InvalidInputError, OverloadedError
from clearance.server.intake import Deadline, Intake, budget_from_header, go_duration


@dataclass
class Moving:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5.0),
        ("30s", 30.0),
        ("1m0s", 60.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        ("0s", 0.0),
        ("0", 0.0),
        ("1h0m0s", 3600.0),
    ],
)
def test_go_durations_as_client_go_writes_them(text: str, seconds: float) -> None:
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "-5s", "five seconds", "5 s", "5d", "s"])
def test_anything_else_is_no_deadline(text: str) -> None:
    assert go_duration(text) is None


def test_the_timeout_header_is_seconds_and_refused_when_malformed() -> None:
    assert budget_from_header({}) is None
    assert budget_from_header({"x-clearance-timeout": "2.5"}) == 2.5
    assert budget_from_header({"x-clearance-timeout": "0"}) == 0.0
    for bad in ("soon", "-1", "nan", "inf"):
        with pytest.raises(InvalidInputError, match="X-Clearance-Timeout"):
            budget_from_header({"x-clearance-timeout": bad})


def test_a_deadline_keeps_a_reserve_for_the_way_back() -> None:
    clock = Moving()
    intake = Intake(1, 2.0, clock)
    assert intake.deadline(None, None, "t").at is None
    assert intake.deadline(1000.0, 5.0, "t").at == pytest.approx(1004.5)  # 0.5 s at most
    assert intake.deadline(1000.0, 1.0, "t").at == pytest.approx(1000.9)  # a tenth


def _held(
    intake: Intake, deadline: Deadline, entered: asyncio.Event, leave: asyncio.Event
) -> asyncio.Task[None]:
    async def hold() -> None:
        async with intake.admitted(deadline):
            entered.set()
            await leave.wait()

    return asyncio.create_task(hold())


def test_places_pass_to_waiters_in_arrival_order_and_none_leak() -> None:
    async def scenario() -> list[str]:
        clock = Moving()
        intake = Intake(1, 60.0, clock)
        order: list[str] = []
        leave = {name: asyncio.Event() for name in "abcd"}
        entered = {name: asyncio.Event() for name in "abcd"}

        async def ask(name: str) -> None:
            async with intake.admitted(intake.deadline(None, None, name)):
                order.append(name)
                entered[name].set()
                await leave[name].wait()

        tasks = {}
        for name in "abcd":
            tasks[name] = asyncio.create_task(ask(name))
            await asyncio.sleep(0)
        await entered["a"].wait()
        assert (intake.in_flight, intake.waiting) == (1, 3)
        tasks["c"].cancel()  # its client went away while it waited
        await asyncio.sleep(0)
        assert intake.waiting == 2
        for name in "abd":
            leave[name].set()
            if name != "d":
                await entered["b" if name == "a" else "d"].wait()
        await asyncio.gather(*(tasks[n] for n in "abd"))
        assert (intake.in_flight, intake.waiting) == (0, 0)
        return order

    assert asyncio.run(scenario()) == ["a", "b", "d"]


def test_a_full_intake_without_patience_refuses_at_once() -> None:
    async def scenario() -> None:
        clock = Moving()
        intake = Intake(1, 0.0, clock)
        entered, leave = asyncio.Event(), asyncio.Event()
        holder = _held(intake, intake.deadline(None, None, "a"), entered, leave)
        await entered.wait()
        with pytest.raises(OverloadedError, match="1 decisions are in flight"):
            async with intake.admitted(intake.deadline(None, None, "b")):
                pytest.fail("admitted past the limit")
        leave.set()
        await holder
        assert intake.in_flight == 0

    asyncio.run(scenario())


def test_a_turn_that_comes_after_the_deadline_is_refused_and_passed_on() -> None:
    async def scenario() -> None:
        clock = Moving()
        intake = Intake(1, 60.0, clock)
        entered, leave = asyncio.Event(), asyncio.Event()
        holder = _held(intake, intake.deadline(None, None, "a"), entered, leave)
        await entered.wait()
        late = intake.deadline(None, 5.0, "the caller's timeout")
        ran: list[str] = []

        async def ask() -> None:
            async with intake.admitted(late):
                ran.append("late")

        waiter = asyncio.create_task(ask())
        await asyncio.sleep(0)
        assert intake.waiting == 1
        clock.now += 10  # the holder took longer than the waiter's deadline
        leave.set()
        await holder
        with pytest.raises(OverloadedError, match="the caller's timeout passed"):
            await waiter
        assert ran == []
        assert (intake.in_flight, intake.waiting) == (0, 0)

    asyncio.run(scenario())


def test_a_deadline_passed_on_arrival_is_refused_even_with_room() -> None:
    async def scenario() -> None:
        intake = Intake(4, 60.0, Moving())
        with pytest.raises(OverloadedError, match="passed before it was admitted"):
            async with intake.admitted(intake.deadline(None, 0.0, "the request's timeout")):
                pytest.fail("admitted past its deadline")
        assert intake.in_flight == 0

    asyncio.run(scenario())


def test_the_wait_is_estimated_from_how_long_places_are_held() -> None:
    """Those waiting ahead of a newcomer, each holding a place for the running mean of the
    finished ones' hold times, over the places: the door refuses past ``queue_wait``."""

    async def scenario() -> None:
        clock = Moving()
        intake = Intake(2, 5.0, clock)
        assert (intake.expected_wait(), intake.hopeless()) == (0.0, False)  # nothing learned
        for held in (8.0, 8.0):  # two requests, each holding a place 8 s
            entered, leave = asyncio.Event(), asyncio.Event()
            task = _held(intake, intake.deadline(None, None, "a"), entered, leave)
            await entered.wait()
            clock.now += held
            leave.set()
            await task
        assert intake.expected_wait() == 0.0  # a place is free: no wait
        holders = []
        for _ in range(2):
            entered, leave = asyncio.Event(), asyncio.Event()
            holders.append((leave, _held(intake, intake.deadline(None, None, "b"), entered, leave)))
            await entered.wait()
        assert intake.expected_wait() == pytest.approx(4.0)  # 1 x 8 s over 2 places
        assert not intake.hopeless()
        waiter = asyncio.create_task(_waits(intake, intake.deadline(None, None, "c")))
        await asyncio.sleep(0)
        assert intake.waiting == 1
        assert intake.expected_wait() == pytest.approx(8.0)  # 2 x 8 s over 2 places
        assert intake.hopeless()
        for leave, task in holders:
            leave.set()
            await task
        await waiter

    asyncio.run(scenario())


async def _waits(intake: Intake, deadline: Deadline) -> None:
    async with intake.admitted(deadline):
        pass
