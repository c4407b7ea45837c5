"""Admission to work: overload is refused at the door, not queued behind the door.

Every request that decides (``POST /v1/decisions`` and the integrations' routes) passes
:meth:`Intake.admitted` on the event loop, *before* it takes a thread from the pool or starts any
work. At most ``max_in_flight`` are admitted at once; the rest wait in arrival order, each until
the earlier of

* its arrival plus the service's ``queue_wait``, and
* its own deadline: the client's ``X-Clearance-Timeout`` header (seconds), or the Kubernetes
  API server's ``?timeout=`` query parameter on the admission webhook's URL (the webhook's
  ``timeoutSeconds``, as client-go's ``rest.Request.URL`` writes it: a Go duration, ``5s``),
  less a reserve for the answer's way back (a tenth of it, at most 0.5 s).

A waiter that reaches its limit is refused (:class:`OverloadedError`: 429 with ``Retry-After``;
the admission webhook answers its configured ``on_error`` stance instead). So is one that could
not get a place in time by the intake's own estimate (:meth:`Intake.expected_wait`: those
waiting ahead of it, each holding a place for the recent mean time, over the places), at once
rather than after waiting its limit out; and while that estimate is past ``queue_wait``, the
request guard refuses decision requests at the door (:mod:`clearance.server.guard`), before
their body is validated or a route runs. Past capacity the service's time then goes to the
requests it accepted, not to turning the rest away: measured, refusing only after the route's
own work left the event loop so little time for the accepted ones that their answers came
after their callers had given up. The deadline is
checked again when the decision is about to be computed (after any wait for a thread or for
the CPU) and once more before its record is appended: a request whose answer could no longer
arrive in time is refused and leaves no record behind.

Time here is the service's own monotonic clock (injectable for tests); it never enters a
decision, so decisions and their replay stay as they were.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from clearance.errors import InvalidInputError, OverloadedError

TIMEOUT_HEADER = "x-clearance-timeout"
RESERVE_FRACTION = 0.1  # of a deadline's budget, kept for the answer's way back …
RESERVE_MAX = 0.5  # … at most this many seconds
MAX_BUDGET = 3600.0  # seconds; a longer one is as good as none
HELD_WEIGHT = 0.1  # of each finished request in the running mean of how long a place is held

Monotonic = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a request arrived and by when its answer must leave (monotonic seconds; ``at``
    None: the client named no deadline). ``why`` names where it came from, for the refusal."""

    arrived: float
    at: float | None
    why: str
    clock: Monotonic

    def passed(self) -> bool:
        return self.at is not None and self.clock() >= self.at

    def check(self, stage: str) -> None:
        """Raise :class:`OverloadedError` if the deadline has passed (``stage``: what would
        have happened next, for the message)."""
        if self.passed():
            raise OverloadedError(f"{self.why} passed before {stage}; nothing was recorded")


def budget_from_header(headers: Mapping[str, str]) -> float | None:
    """The ``X-Clearance-Timeout`` header as seconds (None without one); a malformed value is
    a 422 naming the header."""
    raw = headers.get(TIMEOUT_HEADER)
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        problem = "must be a number of seconds, 0 or more (e.g. 2.5)"
        raise InvalidInputError(
            f"header.X-Clearance-Timeout: {problem}",
            [{"field": "header.X-Clearance-Timeout", "problem": problem}],
        )
    return min(value, MAX_BUDGET)


_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_GO_UNITS["h"] = 3600.0


def go_duration(text: str) -> float | None:
    """A Go ``time.Duration`` string (``5s``, ``1m30s``, ``500ms``, ``0s``) as seconds; None
    when it is not one (the caller then applies no deadline rather than refusing)."""
    if not text or text.startswith(("-", "+")):
        return None
    if text == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(text):
        match = _GO_PART.match(text, pos)
        if match is None:
            return None
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        pos = match.end()
    return min(total, MAX_BUDGET)


class Intake:
    """At most ``limit`` requests admitted at once, the others waiting in arrival order until
    their deadline or ``queue_wait`` (see the module). Used only from the event loop."""

    def __init__(self, limit: int, queue_wait: float, clock: Monotonic = time.monotonic) -> None:
        self.limit = limit
        self.queue_wait = queue_wait
        self.clock = clock
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._held = 0.0  # running mean of seconds a place is held (0: none finished yet)

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    def expected_wait(self) -> float:
        """Seconds a request arriving now would wait for a place, estimated: everyone waiting
        ahead of it, each holding a place for the recent mean time, over the places. 0 while a
        place is free (or before any request finished)."""
        ahead = len(self._waiters)
        if self.in_flight < self.limit and not ahead:
            return 0.0
        return (ahead + 1) * self._held / self.limit

    def hopeless(self) -> bool:
        """Whether a request arriving now would, by the estimate, wait past ``queue_wait``:
        the request guard then refuses it before any of its work starts."""
        return self.expected_wait() > self.queue_wait

    def deadline(self, arrived: float | None, budget: float | None, why: str) -> Deadline:
        """The deadline of a request that arrived at ``arrived`` (now when None) with
        ``budget`` seconds to be answered in (None: no deadline of its own)."""
        start = self.clock() if arrived is None else arrived
        if budget is None:
            return Deadline(start, None, why, self.clock)
        reserve = min(budget * RESERVE_FRACTION, RESERVE_MAX)
        return Deadline(start, start + budget - reserve, why, self.clock)

    @asynccontextmanager
    async def admitted(self, deadline: Deadline) -> AsyncIterator[Deadline]:
        """Hold one of the ``limit`` places while the body runs; :class:`OverloadedError` when
        none comes free before the request's limit, or its deadline passed meanwhile."""
        await self._acquire(deadline)
        granted = self.clock()
        try:
            deadline.check("its turn came")
            yield deadline
        finally:
            held = self.clock() - granted
            self._held = held if not self._held else self._held + HELD_WEIGHT * (held - self._held)
            self._release()

    async def _acquire(self, deadline: Deadline) -> None:
        deadline.check("it was admitted")
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return
        limit = deadline.arrived + self.queue_wait
        own = deadline.at is not None and deadline.at <= limit  # its deadline ends the wait
        if deadline.at is not None:
            limit = min(limit, deadline.at)
        wait = limit - self.clock()
        if wait <= 0:
            raise self._refusal(deadline, own)
        expected = self.expected_wait()
        if expected > wait:  # its turn would come too late: say so now, not once it has waited
            raise self._refusal(deadline, own, expected)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            async with asyncio.timeout(wait):
                await turn
        except BaseException as exc:  # the wait ran out, or the client went away
            if turn.done() and not turn.cancelled():
                self._release()  # handed a place just as the wait ended: pass it on
            if turn in self._waiters:
                self._waiters.remove(turn)
            if isinstance(exc, TimeoutError):
                raise self._refusal(deadline, own) from None
            raise

    def _refusal(
        self, deadline: Deadline, own: bool, expected: float | None = None
    ) -> OverloadedError:
        if expected is not None:
            return OverloadedError(
                f"{self.limit} decisions are in flight and {len(self._waiters)} waiting: a "
                f"place would come free in about {expected:.2g} s, after "
                + (deadline.why if own else f"queue_wait ({self.queue_wait:g} s)")
                + "; nothing was recorded, retry shortly"
            )
        if own or deadline.passed():
            return OverloadedError(f"{deadline.why} passed while it waited; nothing was recorded")
        return OverloadedError(
            f"{self.limit} decisions are in flight and none finished within queue_wait "
            f"({self.queue_wait:g} s); retry shortly"
        )

    def _release(self) -> None:
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)  # the place passes to the longest waiter
                return
        self.in_flight -= 1
