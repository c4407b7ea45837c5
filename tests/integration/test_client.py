"""The service client over real loopback HTTP: retries, Retry-After, waiting, errors, the token.

The stand-in (tests/standins/clearance_service.py) speaks the decisions API and misbehaves on
cue. ``sleep`` and the monotonic clock are injected, so no test waits and none reads the time.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from builders import NOW, exposure, fresh, make_policy, signal, target
from clearance.client.answers import Question
from clearance.client.session import MAX_RETRY_AFTER, ServiceClient
from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.errors import (
    ConfigError,
    ServiceRefusedError,
    ServiceUnavailableError,
    TargetError,
)
from clearance.model import Decision, Severity, Snapshot
from standins._server import Loopback
from standins.clearance_service import HANG_UP, ClearanceHandler, ServiceState, answer_body, busy

TOKEN = "clr_s3cret-token-value"


def a_decision(severity: Severity = Severity.CRITICAL) -> Decision:
    tgt = target()
    exp = exposure(tgt, host=("host:node-1",))
    snapshot = Snapshot(exp, SignalIndex([signal(severity=severity)]).match(exp), (fresh(),))
    return decide(tgt, snapshot, make_policy(), NOW)


class Clock:
    """A monotonic clock that moves only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def state() -> ServiceState:
    return ServiceState(answer_body(a_decision(), "block", 20))


@pytest.fixture
def url(state: ServiceState) -> Iterator[str]:
    with Loopback(ClearanceHandler, state) as base:
        yield base


@pytest.fixture
def clock() -> Clock:
    return Clock()


def client(url: str, clock: Clock) -> ServiceClient:
    return ServiceClient(url, TOKEN, sleep=clock.sleep, clock=clock)


def test_busy_answers_are_retried_after_their_retry_after(
    state: ServiceState, url: str, clock: Clock
) -> None:
    state.scripted.queue(*busy(503, "7"))
    state.scripted.queue(*busy(429, "2"))
    with client(url, clock) as service:
        answer = service.decide(Question(target()))
    assert answer.decision == a_decision()
    assert (answer.standing.status, answer.exit_code) == ("block", 20)
    assert clock.slept == [7.0, 2.0]
    assert [m for m, _ in state.scripted.requests] == ["POST"] * 3


def test_an_http_date_retry_after_is_honoured_and_capped(
    state: ServiceState, url: str, clock: Clock
) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    state.scripted.queue(*busy(503, later))
    with client(url, clock) as service:
        service.decide(Question(target()))
    assert clock.slept == [MAX_RETRY_AFTER]


def test_a_service_that_stays_busy_is_reported_after_the_attempts(
    state: ServiceState, url: str, clock: Clock
) -> None:
    for _ in range(4):
        state.scripted.queue(*busy(503, "1"))
    with client(url, clock) as service, pytest.raises(ServiceUnavailableError) as raised:
        service.decide(Question(target()))
    assert raised.value.status == 503
    assert "answered 503 store unavailable: retry shortly" in str(raised.value)
    assert len(state.scripted.requests) == 4
    assert clock.slept == [1.0, 1.0, 1.0]


def test_a_connection_that_cannot_be_made_is_retried_with_growing_backoff(clock: Clock) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, not listening: refused
        with client(closed, clock) as service, pytest.raises(ServiceUnavailableError) as raised:
            service.decide(Question(target()))
    assert f"cannot reach {closed} (ConnectError" in str(raised.value)
    assert len(clock.slept) == 3
    assert clock.slept == sorted(clock.slept)
    assert clock.slept[0] > 0


def test_a_decision_whose_answer_was_lost_is_not_asked_again_but_a_read_is(
    state: ServiceState, url: str, clock: Clock
) -> None:
    state.scripted.queue(HANG_UP, b"")
    with client(url, clock) as service:
        with pytest.raises(ServiceUnavailableError):  # it may have been recorded: never twice
            service.decide(Question(target()))
        assert len(state.scripted.requests) == 1
        state.scripted.queue(HANG_UP, b"")
        answer = service.standing(a_decision().id)
    assert answer.decision.id == a_decision().id
    assert [m for m, _ in state.scripted.requests] == ["POST", "GET", "GET"]


def test_the_token_never_appears_in_an_error_even_when_a_proxy_echoes_it(
    state: ServiceState, url: str, clock: Clock
) -> None:
    state.echo_auth = True
    with client(url, clock) as service, pytest.raises(ServiceRefusedError) as raised:
        service.decide(Question(target()))
    assert state.bearers == [f"Bearer {TOKEN}"]  # it was sent, and echoed back
    assert TOKEN not in str(raised.value)
    assert "token Bearer *** is not known here" in str(raised.value)
    assert raised.value.status == 401


def test_an_invalid_target_is_a_target_error(state: ServiceState, url: str, clock: Clock) -> None:
    problem = {"title": "invalid target", "status": 422, "detail": "no environment 'prod'"}
    state.scripted.queue(422, json.dumps(problem).encode())
    with client(url, clock) as service, pytest.raises(TargetError, match="no environment 'prod'"):
        service.decide(Question(target()))


def test_the_question_carries_the_target_and_the_manifest(
    state: ServiceState, url: str, clock: Clock
) -> None:
    manifest = {"kind": "Deployment", "metadata": {"name": "api"}, "spec": {}}
    with client(url, clock) as service:
        service.decide(Question(target(), manifest))
    [body] = state.bodies
    assert body == {**target().to_dict(), "manifest": manifest}


def test_wait_polls_and_asks_again_once_approved(
    state: ServiceState, url: str, clock: Clock
) -> None:
    decision = a_decision(Severity.MEDIUM)
    pending = answer_body(decision, "pending_approval", 10)
    approved = answer_body(decision, "approved", 0, seq=2)
    approved["approval"]["approvers"] = ["token:alice", "token:bob"]
    for body in (pending, pending, approved, approved):  # asked, two polls, asked again
        state.scripted.queue(200, json.dumps(body).encode())
    seen: list[float] = []
    question = Question(target())
    with client(url, clock) as service:
        first = service.decide(question)
        final = service.wait(
            question, first, timeout=60, poll=5, progress=lambda _, at: seen.append(at)
        )
    assert final.standing.status == "approved"
    assert final.standing.approvers == ("token:alice", "token:bob")
    assert [m for m, _ in state.scripted.requests] == ["POST", "GET", "GET", "POST"]
    assert seen == [0.0, 5.0]
    assert clock.slept == [5.0, 5.0]


def test_wait_gives_up_at_the_timeout_still_pending(
    state: ServiceState, url: str, clock: Clock
) -> None:
    state.answer = answer_body(a_decision(Severity.MEDIUM), "pending_approval", 10)
    question = Question(target())
    with client(url, clock) as service:
        final = service.wait(question, service.decide(question), timeout=12, poll=5)
    assert final.pending
    assert clock.slept == [5.0, 5.0, 2.0]


def test_connect_names_what_is_missing() -> None:
    def ignore(_: str) -> None:
        pass

    with pytest.raises(ConfigError, match=r"\$CLEARANCE_SERVER"):
        ServiceClient.connect(None, {}, ignore)
    with pytest.raises(ConfigError, match="not an http"):
        ServiceClient.connect("ftp://example.com", {}, ignore)
    with pytest.raises(ConfigError, match="id-token: write") as raised:
        ServiceClient.connect(None, {"CLEARANCE_SERVER": "https://c.example"}, ignore)
    assert "$CLEARANCE_TOKEN" in str(raised.value)
