"""Answering a protection rule as the GitHub App: app JWT → installation token → callback.

https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app
— RS256, ``iat`` 60 s in the past (clock drift), ``exp`` at most 10 minutes ahead, ``iss`` the
App's client ID (or app id). The JWT buys an installation token
(``POST /app/installations/{id}/access_tokens``, valid one hour, cached until 5 minutes before
``expires_at``), which authorizes ``POST deployment_callback_url``. A failed callback is retried
with exponential backoff; every attempt is kept in :class:`DeliveryLog`, which the API returns,
so a gate left pending by GitHub being down is visible, not silent.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
import jwt
import tenacity

from clearance.errors import CallbackError
from clearance.http_client import Peer, http_client
from clearance.integrations.github import Gate
from clearance.integrations.settings import GitHubSettings
from clearance.model.signal import format_time, parse_time
from clearance.store.interface import GateStore

logger = logging.getLogger(__name__)
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
Clock = Callable[[], datetime]


def app_jwt(app_id: str, private_key_pem: str, now: datetime) -> str:
    issued = int(now.timestamp()) - 60
    claims = {"iat": issued, "exp": issued + 600 - 60, "iss": app_id}
    return jwt.encode(claims, private_key_pem, algorithm="RS256")


@dataclass
class Attempt:
    at: datetime
    status: int | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": format_time(self.at), "status": self.status, "error": self.error}


@dataclass
class Delivery:
    """Every attempt to answer one gate for one decision; ``outcome`` once it ends."""

    decision_id: str
    url: str
    body: dict[str, str]
    attempts: list[Attempt] = field(default_factory=list)
    outcome: str = "pending"  # delivered | failed | pending
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "decision_id": self.decision_id,
            "url": self.url,
            "state": self.body.get("state"),
            "outcome": self.outcome,
            "attempts": [a.to_dict() for a in self.attempts],
        }


class CallbackLog(Protocol):
    """Where callbacks are kept: ``add`` when one starts, ``update`` after each attempt."""

    def add(self, delivery: Delivery) -> None: ...

    def update(self, delivery: Delivery) -> None: ...

    def of(self, decision_id: str) -> list[dict[str, Any]]: ...

    def failed(self) -> list[dict[str, Any]]: ...


class DeliveryLog:
    """The most recent callbacks (bounded) in memory, by decision id, oldest first per decision;
    the service keeps them in its store (:class:`StoredDeliveryLog`)."""

    def __init__(self, limit: int = 1000) -> None:
        self._items: OrderedDict[str, list[Delivery]] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def add(self, delivery: Delivery) -> None:
        with self._lock:
            self._items.setdefault(delivery.decision_id, []).append(delivery)
            self._items.move_to_end(delivery.decision_id)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)

    def update(self, delivery: Delivery) -> None:
        """Nothing to do: the log holds the delivery itself."""

    def of(self, decision_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [d.to_dict() for d in self._items.get(decision_id, ())]

    def failed(self) -> list[dict[str, Any]]:
        with self._lock:
            return [d.to_dict() for ds in self._items.values() for d in ds if d.outcome == "failed"]


class StoredDeliveryLog:
    """Callbacks in the service's store (table ``callbacks``), shown with the decision."""

    def __init__(self, store: GateStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def add(self, delivery: Delivery) -> None:
        self.update(delivery)

    def update(self, delivery: Delivery) -> None:
        record = delivery.to_dict()
        self.store.save_callback(delivery.id, delivery.decision_id, "github", record, self.clock())

    def of(self, decision_id: str) -> list[dict[str, Any]]:
        return self.store.list_callbacks(decision_id=decision_id)

    def failed(self) -> list[dict[str, Any]]:
        return self.store.list_callbacks(outcome="failed")


class GitHubApp:
    """Posts protection-rule answers as the App, with retries; thread-safe."""

    def __init__(
        self,
        settings: GitHubSettings,
        clock: Clock,
        log: CallbackLog | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        verify: Any = True,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.log: CallbackLog = log or DeliveryLog()
        self._sleep = sleep
        self._client = http_client(Peer.GITHUB, transport=transport, verify=verify)
        self._tokens: dict[int, tuple[str, datetime]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def installation_token(self, installation_id: int) -> str:
        now = self.clock()
        with self._lock:
            cached = self._tokens.get(installation_id)
            if cached and cached[1] - timedelta(minutes=5) > now:
                return cached[0]
        bearer = app_jwt(self.settings.app_id, self.settings.key_pem(), now)
        url = (
            f"{self.settings.api_url.rstrip('/')}/app/installations/{installation_id}/access_tokens"
        )
        reply = self._client.post(url, headers={**API_HEADERS, "Authorization": f"Bearer {bearer}"})
        if reply.status_code != 201:
            raise CallbackError(
                f"installation token for {installation_id}: HTTP {reply.status_code}"
            )
        data = reply.json()
        token, expires = str(data["token"]), parse_time(str(data["expires_at"]))
        with self._lock:
            self._tokens[installation_id] = (token, expires)
        return token

    def post(self, gate: Gate, decision_id: str, body: dict[str, str]) -> Delivery:
        """Answer ``gate``; retry failures with exponential backoff; log every attempt."""
        delivery = Delivery(decision_id, gate.callback_url, body)
        self.log.add(delivery)
        if not gate.callback_url.startswith(self.settings.api_url.rstrip("/") + "/"):
            # The URL comes from the payload: only ever send our installation token to GitHub.
            delivery.attempts.append(Attempt(self.clock(), None, "callback URL is not on api_url"))
            delivery.outcome = "failed"
            self.log.update(delivery)
            return delivery
        installation_id = gate.installation_id

        def attempt() -> str:
            """One POST: ``delivered``, ``again`` (worth retrying) or ``refused``."""
            try:
                if installation_id is None:
                    raise CallbackError("the delivery names no installation")
                token = self.installation_token(installation_id)
                reply = self._client.post(
                    gate.callback_url,
                    json=body,
                    headers={**API_HEADERS, "Authorization": f"Bearer {token}"},
                )
            except (httpx.HTTPError, CallbackError, ValueError, KeyError) as exc:
                delivery.attempts.append(Attempt(self.clock(), None, _describe(exc)))
                self.log.update(delivery)
                return "again"
            delivery.attempts.append(Attempt(self.clock(), reply.status_code))
            if reply.status_code in (200, 204):
                return "delivered"
            self.log.update(delivery)
            if reply.status_code == 401:
                with self._lock:  # a revoked token: fetch a new one next time
                    self._tokens.pop(installation_id, None)
            elif reply.status_code < 500 and reply.status_code != 429:
                return "refused"  # GitHub refused this body (404, 422): repeating it will not help
            return "again"

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_result(lambda verdict: verdict == "again"),
            stop=tenacity.stop_after_attempt(self.settings.retries + 1),
            wait=tenacity.wait_exponential(multiplier=self.settings.backoff_seconds),
            sleep=self._sleep,
            retry_error_callback=lambda state: "again",
        )
        if retrying(attempt) == "delivered":
            delivery.outcome = "delivered"
            self.log.update(delivery)
            return delivery
        delivery.outcome = "failed"
        self.log.update(delivery)
        logger.error(
            "GitHub callback for decision %s failed after %d attempts: %s",
            decision_id,
            len(delivery.attempts),
            delivery.attempts[-1].error or delivery.attempts[-1].status,
        )
        return delivery


def _describe(exc: Exception) -> str:
    # httpx messages can carry the URL but never our headers; keep the type for the record.
    return f"{type(exc).__name__}: {exc}"


class GateBook(Protocol):
    """Where gates answered with a status report wait for the approvals flow to finish them."""

    def hold(self, decision_id: str, gate: Gate) -> None: ...

    def release(self, decision_id: str) -> Gate | None:
        """The held gate, once: a second release gets None."""
        ...


@dataclass
class PendingGates:
    """Held gates in memory, for tests and a single process without a store; the service keeps
    them in its store (:class:`StoredGates`), so any worker or replica can finish them and a
    restart loses none."""

    gates: dict[str, Gate] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hold(self, decision_id: str, gate: Gate) -> None:
        with self.lock:
            self.gates[decision_id] = gate

    def release(self, decision_id: str) -> Gate | None:
        with self.lock:
            return self.gates.pop(decision_id, None)


class StoredGates:
    """Held gates in the service's store (table ``held_gates``)."""

    def __init__(self, store: GateStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def hold(self, decision_id: str, gate: Gate) -> None:
        self.store.hold_gate(decision_id, asdict(gate), self.clock())

    def release(self, decision_id: str) -> Gate | None:
        data = self.store.release_gate(decision_id, self.clock())
        return None if data is None else Gate(**data)


class DeliveryBook(Protocol):
    """Signed deliveries already received, by ``X-GitHub-Delivery``: each is decided once."""

    def claim(self, delivery_id: str) -> datetime | None:
        """None the first time ``delivery_id`` is claimed; after that, when it first was."""
        ...


@dataclass
class SeenDeliveries:
    """Delivery ids in memory, for tests and a single process without a store; the service
    keeps them in its store (:class:`StoredDeliveries`), so another replica refuses a replay."""

    clock: Clock = field(default_factory=lambda: now_utc)
    seen: dict[str, datetime] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, delivery_id: str) -> datetime | None:
        with self.lock:
            first = self.seen.get(delivery_id)
            if first is None:
                self.seen[delivery_id] = self.clock()
            return first


class StoredDeliveries:
    """Delivery ids in the service's store (table ``webhook_deliveries``)."""

    def __init__(self, store: GateStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def claim(self, delivery_id: str) -> datetime | None:
        return self.store.claim_delivery("github", delivery_id, self.clock())


def now_utc() -> datetime:
    return datetime.now(UTC)
