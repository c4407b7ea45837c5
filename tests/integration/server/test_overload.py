"""Overload is refused at the door, not queued: past ``max_in_flight`` a request waits at most
``queue_wait`` or its own deadline, and a request whose answer could not arrive in time is
refused (429 with Retry-After; the admission webhook answers its ``on_error`` stance) without
deciding or recording anything.

The service is real (uvicorn on loopback, over SQLite and PostgreSQL). Places are held by the
test, deadlines are moved with a stand-in for the intake's monotonic clock: nothing here
asserts on how long anything took.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clearance.client.answers import Question
from clearance.client.session import ATTEMPTS, ServiceClient
from clearance.errors import ServiceRefusedError
from clearance.integrations.settings import IntegrationSettings
from clearance.model.snapshot import Snapshot
from clearance.model.target import Target, WorkloadRef
from clearance.service.decisions import Outcome
from clearance.store.interface import Caller
from server_harness import Live

BODY = {
    "environment": "production",
    "cluster": "prod-eu",
    "namespace": "shop",
    "workload": "deployment/clean",
}
ADMISSION = "/v1/integrations/k8s/admission"
FIXTURES = Path(__file__).parents[2] / "fixtures"


@dataclass
class Moving:
    """A stand-in for the intake's monotonic clock."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def recorded(server: Live) -> int:
    return len(server.ctx.store.list_decisions().records)


def computed(server: Live) -> list[Target]:
    """Count the decisions the service starts computing from now on."""
    calls: list[Target] = []
    real = server.ctx.decisions.snapshot

    def snapshot(target: Target, *args: Any, **kwargs: Any) -> Snapshot:
        calls.append(target)
        return real(target, *args, **kwargs)

    server.ctx.decisions.snapshot = snapshot  # type: ignore[method-assign]
    return calls


@contextmanager
def every_place_taken(server: Live) -> Iterator[None]:
    """Fill the intake (as that many decisions in flight would) for the block's duration."""
    intake = server.ctx.intake
    intake.in_flight = intake.limit
    try:
        yield
    finally:
        intake.in_flight = 0


def test_a_full_service_refuses_at_once_without_deciding(live: Callable[..., Live]) -> None:
    server = live(max_in_flight=2, queue_wait=0)
    started = computed(server)
    with every_place_taken(server), server.client("ci") as c:
        response = c.post("/v1/decisions", json=BODY)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert "2 decisions are in flight" in response.json()["detail"]
    assert started == []
    assert recorded(server) == 0
    server.ask("clean")  # a place free again: decided and recorded
    assert recorded(server) == 1


def test_a_request_whose_timeout_has_passed_is_refused_unrecorded(
    live: Callable[..., Live],
) -> None:
    server = live()
    started = computed(server)
    with server.client("ci") as c:
        response = c.post("/v1/decisions", json=BODY, headers={"X-Clearance-Timeout": "0"})
        malformed = c.post("/v1/decisions", json=BODY, headers={"X-Clearance-Timeout": "soon"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert "X-Clearance-Timeout passed" in response.json()["detail"]
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "header.X-Clearance-Timeout"
    assert started == []
    assert recorded(server) == 0


def test_a_waiter_gives_up_at_its_own_deadline_before_queue_wait(
    live: Callable[..., Live],
) -> None:
    server = live(max_in_flight=1, queue_wait=60)
    started = computed(server)
    with every_place_taken(server), server.client("ci") as c:
        # queue_wait would keep it a minute; its own timeout ends the wait first.
        response = c.post("/v1/decisions", json=BODY, headers={"X-Clearance-Timeout": "0.2"})
    assert response.status_code == 429
    assert "passed while it waited" in response.json()["detail"]
    assert started == []
    assert recorded(server) == 0


def test_a_deadline_that_passes_while_deciding_leaves_no_record(
    live: Callable[..., Live],
) -> None:
    server = live()
    clock = Moving()
    server.ctx.intake.clock = clock
    real = server.ctx.decisions.snapshot

    def slow_snapshot(*args: Any, **kwargs: Any) -> Snapshot:
        clock.now += 10  # computing took longer than the caller would wait
        return real(*args, **kwargs)

    server.ctx.decisions.snapshot = slow_snapshot  # type: ignore[method-assign]
    with server.client("ci") as c:
        late = c.post("/v1/decisions", json=BODY, headers={"X-Clearance-Timeout": "5"})
        patient = c.post("/v1/decisions", json=BODY, headers={"X-Clearance-Timeout": "60"})
    assert late.status_code == 429
    assert "before the decision was recorded" in late.json()["detail"]
    assert patient.status_code == 200
    assert [r.decision_id for r in server.ctx.store.list_decisions().records] == [
        patient.json()["id"]
    ]


def test_a_waiter_is_admitted_in_turn_when_a_place_frees(live: Callable[..., Live]) -> None:
    server = live(max_in_flight=1, queue_wait=30)
    release, entered = threading.Event(), threading.Event()
    real = server.ctx.decisions.decide

    def held(
        target: Target, caller: Caller, manifest: Mapping[str, Any] | None = None, **kw: Any
    ) -> Outcome:
        if not entered.is_set():
            entered.set()
            release.wait(10)
        return real(target, caller, manifest, **kw)

    server.ctx.decisions.decide = held  # type: ignore[method-assign]
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(server.ask("clean")))
    first.start()
    assert entered.wait(10)
    second = threading.Thread(target=lambda: answers.append(server.ask("medium")))
    second.start()
    for _ in range(1000):  # the second waits on the event loop, holding no thread
        if server.ctx.intake.waiting == 1:
            break
        threading.Event().wait(0.01)
    assert server.ctx.intake.waiting == 1
    release.set()
    first.join(10)
    second.join(10)
    assert len(answers) == 2
    assert recorded(server) == 2
    assert (server.ctx.intake.in_flight, server.ctx.intake.waiting) == (0, 0)


def _admission_settings() -> IntegrationSettings:
    return IntegrationSettings.model_validate(
        {"admission": {"cluster": "prod-eu", "namespaces": {"shop": "production"}}}
    )


def _review(name: str) -> dict[str, Any]:
    path = FIXTURES / "admission" / "admissionreview.v1.deployment-create.kube-review.json"
    data: dict[str, Any] = json.loads(path.read_text())
    data["request"] |= {"namespace": "shop", "name": name, "dryRun": False}
    return data


def _admit(server: Live, timeout: str) -> dict[str, Any]:
    with server.client("ci") as c:
        response = c.post(ADMISSION, params={"timeout": timeout}, json=_review("clean"))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()["response"]
    return answer


def test_admission_past_capacity_answers_its_error_stance_unrecorded(
    live: Callable[..., Live],
) -> None:
    server = live(max_in_flight=1, queue_wait=0, integrations=_admission_settings())
    started = computed(server)
    with every_place_taken(server):
        answer = _admit(server, "5s")
    assert answer["allowed"] is False  # on_error: deny (the default stance)
    assert "in flight" in answer["status"]["message"]
    assert started == []
    assert recorded(server) == 0
    assert _admit(server, "5s")["uid"] == _review("clean")["request"]["uid"]
    assert recorded(server) == 1


def test_admission_past_the_api_servers_timeout_is_not_recorded(
    live: Callable[..., Live],
) -> None:
    server = live(integrations=_admission_settings())
    clock = Moving()
    server.ctx.intake.clock = clock
    real = server.ctx.decisions.snapshot

    def slow_snapshot(*args: Any, **kwargs: Any) -> Snapshot:
        clock.now += 6  # longer than the webhook's timeoutSeconds (5)
        return real(*args, **kwargs)

    server.ctx.decisions.snapshot = slow_snapshot  # type: ignore[method-assign]
    answer = _admit(server, "5s")
    assert answer["allowed"] is False
    assert "the API server's timeout passed" in answer["status"]["message"]
    assert recorded(server) == 0
    # Without the parameter (an API server that sends none) there is no deadline to miss.
    with server.client("ci") as c:
        unbounded = c.post(ADMISSION, json=_review("clean")).json()["response"]
    assert "auditAnnotations" in unbounded
    assert recorded(server) == 1


def test_the_python_client_sends_its_timeout_so_a_late_answer_is_not_recorded(
    live: Callable[..., Live],
) -> None:
    """``ServiceClient.decide`` tells the service how long it waits (its 30 s read timeout): a
    decision that would come back later than that is refused and not recorded, retried after
    ``Retry-After`` and reported; a caller that names no deadline is answered and recorded."""
    server = live()
    clock = Moving()
    server.ctx.intake.clock = clock
    real = server.ctx.decisions.snapshot

    def slow_snapshot(*args: Any, **kwargs: Any) -> Snapshot:
        clock.now += 40  # longer than the client's 30 s
        return real(*args, **kwargs)

    server.ctx.decisions.snapshot = slow_snapshot  # type: ignore[method-assign]
    pauses: list[float] = []
    question = Question(
        Target("production", "prod-eu", "shop", WorkloadRef.parse("deployment/clean"))
    )
    with (
        ServiceClient(server.url, server.secrets["ci"], sleep=pauses.append) as client,
        pytest.raises(ServiceRefusedError) as refused,
    ):
        client.decide(question)
    assert "429" in str(refused.value)
    assert "before the decision was recorded" in str(refused.value)
    assert pauses == [1.0] * (ATTEMPTS - 1)  # each attempt refused, retried after Retry-After
    assert recorded(server) == 0
    with server.client("ci") as c:  # no X-Clearance-Timeout: bounded only by queue_wait
        assert c.post("/v1/decisions", json=BODY).status_code == 200
    assert recorded(server) == 1


def _learns_a_slow_hold(server: Live, seconds: float) -> Moving:
    """One decision that held its place ``seconds`` by the intake's clock (recorded: it named
    no deadline), so the intake's estimate of a place's hold time is that."""
    clock = Moving()
    server.ctx.intake.clock = clock
    real = server.ctx.decisions.snapshot

    def slow_snapshot(*args: Any, **kwargs: Any) -> Snapshot:
        clock.now += seconds
        return real(*args, **kwargs)

    server.ctx.decisions.snapshot = slow_snapshot  # type: ignore[method-assign]
    server.ask("clean")
    server.ctx.decisions.snapshot = real  # type: ignore[method-assign]
    return clock


def _shed_count(server: Live, route: str) -> float:
    with server.client() as c:
        text = c.get("/metrics").text
    for line in text.splitlines():
        if line.startswith(f'clearance_shed_requests_total{{route="{route}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_past_capacity_a_decision_request_is_refused_at_the_door(
    live: Callable[..., Live],
) -> None:
    """While a request arriving now could not get a place within queue_wait by the intake's
    estimate (places held ~10 s each, all taken), decision requests are refused before their
    body is validated or a route runs: 429 with Retry-After, the connection kept for the next
    request, nothing decided or recorded, and the refusal counted."""
    server = live(max_in_flight=2, queue_wait=0.5)
    _learns_a_slow_hold(server, 10.0)
    assert recorded(server) == 1
    started = computed(server)
    with every_place_taken(server), server.client("ci") as c:
        refused = c.post("/v1/decisions", json=BODY)
        unread = c.post("/v1/decisions", json={"environment": 7})  # not validated: refused
        other = c.get("/v1/decisions")  # the same connection serves what does not decide
        unmounted = c.post(ADMISSION, json=_review("clean"))  # no webhook here: its 404
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.headers.get("connection") != "close"
    assert "would come free in about 5 s, after queue_wait (0.5 s)" in refused.json()["detail"]
    assert unread.status_code == 429
    assert other.status_code == 200
    assert unmounted.status_code == 404
    assert started == []
    assert recorded(server) == 1
    assert _shed_count(server, "decisions") == 2
    # A place free again: no wait to estimate, decided and recorded.
    server.ask("medium")
    assert recorded(server) == 2


def test_a_wait_that_would_outlast_the_deadline_is_refused_at_once(
    live: Callable[..., Live],
) -> None:
    """Below the door's threshold (queue_wait is long) a request still is not kept waiting
    when, by the estimate, its own deadline would pass first: it is refused at once, with
    what the estimate was, not after waiting its timeout out."""
    server = live(max_in_flight=1, queue_wait=60)
    clock = _learns_a_slow_hold(server, 4.0)
    with every_place_taken(server), server.client("ci") as c:
        response = c.post("/v1/decisions", json=BODY, headers={"X-Clearance-Timeout": "2"})
    assert response.status_code == 429
    detail = response.json()["detail"]
    assert "would come free in about 4 s, after the request's X-Clearance-Timeout" in detail
    assert clock.now == 1004.0  # refused without any wait on the intake's clock
    assert recorded(server) == 1


def test_admission_past_capacity_is_answered_its_stance_at_the_door(
    live: Callable[..., Live],
) -> None:
    server = live(max_in_flight=1, queue_wait=0.5, integrations=_admission_settings())
    _learns_a_slow_hold(server, 10.0)
    started = computed(server)
    with every_place_taken(server), server.client("ci") as c:
        response = c.post(ADMISSION, params={"timeout": "5s"}, json=_review("clean"))
        broken = c.post(ADMISSION, params={"timeout": "5s"}, json={"request": {}})
        metrics = c.get("/metrics").text
    assert response.status_code == 200
    answer = response.json()["response"]
    assert answer["uid"] == _review("clean")["request"]["uid"]
    assert answer["allowed"] is False  # on_error: deny (the default stance)
    assert "Clearance cannot decide" in answer["status"]["message"]
    assert "after queue_wait" in answer["status"]["message"]
    assert broken.status_code == 400  # what the route says of a review it cannot read
    assert 'clearance_admission_undecided_total{cause="overloaded",stance="deny"} 1.0' in metrics
    assert started == []
    assert recorded(server) == 1
