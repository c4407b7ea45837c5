"""A loopback stand-in for the CrowdStrike Falcon API, speaking its real wire format.

What it serves, as the real API does (facts: ../shared/reference/signal-sources.md §1, FalconPy
``_endpoint/_alerts.py`` and ``_endpoint/_hosts.py``, payloads in tests/fixtures/crowdstrike/):

* ``POST /oauth2/token`` (form ``client_id``, ``client_secret``) → 201
  ``{"access_token", "token_type": "bearer", "expires_in"}``; bad credentials → 403 with
  ``Failed to issue access token - …`` (the csam envelope quoted in elastic/kibana#235139).
* ``POST /alerts/combined/alerts/v1`` (JSON ``filter``, ``sort``, ``limit`` ≤ 1000, ``after``) →
  alerts with ``meta.pagination {total, limit, after}``; the ``after`` cursor is a base64 JSON
  search-after token like the real one in ``alerts-combined-v1.epp.page1.json``.
* ``GET /devices/queries/devices-scroll/v1`` (``limit``, ``offset`` token) → every device id.
* ``POST /devices/entities/devices/v2`` (JSON ``ids``) → host records.
* ``X-RateLimit-Limit`` / ``X-RateLimit-Remaining`` on every response; queued 429s carry
  ``X-Ratelimit-Retryafter`` as an epoch time; an unknown path gets the gateway 404 envelope of
  ``error.404.gateway.json``; a missing or stale bearer token gets 401.

The alert store holds sort keys plus a renderer per alert, so 100,000 generated alerts cost a few
megabytes until they are served (see :func:`generated_alerts`). Run it alone for benchmarks:
``python tests/standins/falcon.py --alerts 100000`` prints its base URL.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import json
import secrets
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "crowdstrike"
CLIENT_ID = "0123456789abcdef0123456789abcdef"
CLIENT_SECRET = "s3cr3t-Falcon-standin-0123456789abcdefXYZ"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class StoredAlert:
    updated: datetime
    created: datetime
    composite_id: str
    fields: dict[str, str]  # the plain fields FQL terms may test (product, status…)
    render: Callable[[], bytes]


def stored(alert: Any) -> StoredAlert:
    """Store a dict alert as given; junk (not a dict) is stored too, served as-is."""
    raw = json.dumps(alert).encode()
    item = alert if isinstance(alert, dict) else {}
    never = "1970-01-01T00:00:00Z"
    updated = str(item.get("updated_timestamp") or never)
    created = str(item.get("created_timestamp") or never)
    try:
        moments = (_moment(updated), _moment(created))
    except ValueError:
        moments = (_moment(never), _moment(never))
    plain = {k: v for k, v in item.items() if isinstance(v, str)}
    return StoredAlert(*moments, str(item.get("composite_id", raw[:40])), plain, lambda: raw)


def generated_alerts(
    count: int, *, devices: int = 500, start: str = "2025-06-01T00:00:00Z"
) -> Iterator[StoredAlert]:
    """``count`` alerts made from the real EPP alert, each with its own composite id and times.

    The template is serialized once; each alert is a string substitution of its ids and
    timestamps, so the real shape is kept and serving stays cheap.
    """
    template = fixture("alerts-combined-v1.epp.page1.json")["resources"][0]
    base = _moment(start)
    marker = {"cid": "@CID@", "agent": "@AID@", "upd": "@UPD@", "ts": "@TS@"}
    text = json.dumps(template, separators=(",", ":"))
    text = text.replace(template["composite_id"], f"@CID@:ind:@AID@:{'@SEQ@'}")
    text = text.replace(template["device"]["device_id"], marker["agent"])
    text = text.replace(template["updated_timestamp"], marker["upd"])
    text = text.replace(template["timestamp"], marker["ts"])
    text = text.replace(template["cid"], marker["cid"])
    device = template["device"]
    for key in ("hostname", "local_ip", "mac_address"):
        text = text.replace(f'"{key}":"{device[key]}"', f'"{key}":"@{key}@"')
    cid = template["cid"]
    for n in range(count):
        agent = f"{n % devices:032x}"
        composite = f"{cid}:ind:{agent}:{n:018d}"
        updated = base + timedelta(seconds=n)
        upd = updated.isoformat().replace("+00:00", ".000000001Z")
        ts = (updated - timedelta(minutes=5)).isoformat().replace("+00:00", ".000Z")

        def render(agent: str = agent, n: int = n, upd: str = upd, ts: str = ts) -> bytes:
            body = text.replace("@SEQ@", f"{n:018d}").replace("@AID@", agent)
            body = body.replace("@UPD@", upd).replace("@TS@", ts).replace("@CID@", cid)
            for key, value in _device_values(int(agent, 16)).items():
                body = body.replace(f"@{key}@", value)
            return body.encode()

        yield StoredAlert(updated, updated, composite, {"product": "epp"}, render)


def generated_devices(count: int) -> Iterator[dict[str, Any]]:
    """Host records made from the real GCP host record, one per generated alert agent id."""
    template = fixture("devices-entities-v2.gcp-windows.json")["resources"][0]
    for n in range(count):
        record = dict(template)
        record.update(_device_values(n), device_id=f"{n:032x}", instance_id=f"{7 * 10**18 + n}")
        yield record


def _device_values(n: int) -> dict[str, str]:
    """Host n's names, the same in its host record and in its alerts' device blocks."""
    return {
        "hostname": f"web-{n}",
        "local_ip": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}",
        "mac_address": f"42-01-0a-{n // 65536 % 256:02x}-{n // 256 % 256:02x}-{n % 256:02x}",
    }


@dataclass
class FalconStandIn:
    """The server's state. Tests mutate it (queue errors, expire tokens) between calls."""

    alerts: list[StoredAlert] = field(default_factory=list)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    token_ttl: int = 1799
    rate_limit: int = 6000
    # Responses to give the next data calls instead of the real answer: (status, headers, body).
    queued: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    _sorted: dict[tuple[str, str], list[tuple[Any, ...]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def add_alerts(self, alerts: Iterable[Any]) -> None:
        with self._lock:
            self.alerts.extend(a if isinstance(a, StoredAlert) else stored(a) for a in alerts)
            self._sorted.clear()

    def replace_alert(self, alert: dict[str, Any]) -> None:
        """An alert changed at the vendor (new status, new updated_timestamp)."""
        with self._lock:
            self.alerts = [a for a in self.alerts if a.composite_id != alert["composite_id"]]
            self.alerts.append(stored(alert))
            self._sorted.clear()

    def add_devices(self, devices: Iterable[dict[str, Any]]) -> None:
        self.devices.update({d["device_id"]: d for d in devices})

    def queue_429(self, retry_at: float, times: int = 1) -> None:
        headers = {"X-Ratelimit-Retryafter": str(int(retry_at)), "X-RateLimit-Remaining": "0"}
        for _ in range(times):
            self.queued.append((429, headers, _error_body(429, "API rate limit exceeded.")))

    def queue_error(self, status: int, body: bytes | None = None, ctype: str = "") -> None:
        headers = {"Content-Type": ctype} if ctype else {}
        self.queued.append((status, headers, body or _error_body(status, f"HTTP {status}")))

    def expire_tokens(self) -> None:
        """Revoke every issued token server-side, as an expiry the client did not foresee."""
        self.tokens.clear()

    # --- serving --------------------------------------------------------------------------

    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FalconStandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def order(self, fql: str, sort: str) -> list[tuple[Any, ...]]:
        """Alerts matching ``fql`` in ``sort`` order, as (key, composite_id, alert) tuples."""
        with self._lock:
            cached = self._sorted.get((fql, sort))
            if cached is None:
                name, _, direction = (sort or "created_timestamp|desc").partition("|")
                attr = "updated" if name == "updated_timestamp" else "created"
                terms = [_term(t) for t in fql.split("+") if t.strip()] if fql else []
                rows = [
                    (getattr(a, attr), a.composite_id, a)
                    for a in self.alerts
                    if all(t(a) for t in terms)
                ]
                rows.sort(key=lambda r: (r[0], r[1]), reverse=direction == "desc")
                cached = self._sorted[(fql, sort)] = rows
            return cached


def _term(text: str) -> Callable[[StoredAlert], bool]:
    """One FQL term: ``field:'v'``, ``field:>='2025-…'`` (also ``>``, ``<``, ``<=``)."""
    name, _, rest = text.strip().partition(":")
    op = ""
    for candidate in (">=", "<=", ">", "<"):
        if rest.startswith(candidate):
            op, rest = candidate, rest[len(candidate) :]
            break
    value = rest.strip("'\"")
    if name in ("updated_timestamp", "created_timestamp"):
        moment = _moment(value)
        attr = "updated" if name == "updated_timestamp" else "created"
        compare = {
            ">=": lambda a: getattr(a, attr) >= moment,
            ">": lambda a: getattr(a, attr) > moment,
            "<=": lambda a: getattr(a, attr) <= moment,
            "<": lambda a: getattr(a, attr) < moment,
            "": lambda a: getattr(a, attr) == moment,
        }
        return compare[op]
    return lambda a: a.fields.get(name) == value


def _error_body(code: int, message: str, powered_by: str = "crowdstrike-api-gateway") -> bytes:
    meta = {"query_time": 1.64e-7, "powered_by": powered_by, "trace_id": str(uuid.uuid4())}
    return json.dumps(
        {"meta": meta, "errors": [{"code": code, "message": message}], "resources": []}
    ).encode()


def _cursor(key: datetime, composite_id: str, total: int, fetched: int) -> str:
    token = {
        "version": "v1",
        "total_hits": total,
        "total_relation": "eq",
        "after": [key.isoformat(), composite_id],
        "total_fetched": fetched,
    }
    return base64.b64encode(json.dumps(token).encode()).decode()


class _Handler(BaseHTTPRequestHandler):
    standin: FalconStandIn
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        state = self.standin
        self.send_response(status)
        sent = {"Content-Type": "application/json", **(headers or {})}
        sent.setdefault("X-RateLimit-Limit", str(state.rate_limit))
        sent.setdefault("X-RateLimit-Remaining", str(max(state.rate_limit - len(state.calls), 0)))
        for name, value in sent.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        raw = self._body()
        if path == "/oauth2/token":
            self._token(urllib.parse.parse_qs(raw.decode()))
            return
        self._data_call("POST", path, json.loads(raw or b"{}"))

    def do_GET(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        self._data_call("GET", split.path, dict(urllib.parse.parse_qsl(split.query)))

    def _token(self, form: dict[str, list[str]]) -> None:
        state = self.standin
        state.token_requests += 1
        given = (form.get("client_id", [""])[0], form.get("client_secret", [""])[0])
        if given != (state.client_id, state.client_secret):
            message = (
                "Failed to issue access token - Client authentication failed (e.g., unknown "
                "client, no client authentication included, or unsupported authentication method)"
            )
            self._send(403, _error_body(403, message, powered_by="csam"))
            return
        token = secrets.token_urlsafe(24)
        state.tokens.add(token)
        body = {"access_token": token, "token_type": "bearer", "expires_in": state.token_ttl}
        self._send(201, json.dumps(body).encode(), {"X-Cs-Region": "us-1"})

    def _data_call(self, method: str, path: str, args: dict[str, Any]) -> None:
        state = self.standin
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in state.tokens:
            self._send(401, _error_body(401, "access denied, invalid bearer token"))
            return
        state.calls.append((method, path, args))
        if state.queued:
            status, headers, body = state.queued.pop(0)
            self._send(status, body, headers)
            return
        if (method, path) == ("POST", "/alerts/combined/alerts/v1"):
            self._combined(args)
        elif (method, path) == ("GET", "/devices/queries/devices-scroll/v1"):
            self._scroll(args)
        elif (method, path) == ("POST", "/devices/entities/devices/v2"):
            found = [state.devices[i] for i in args.get("ids", []) if i in state.devices]
            self._send(200, _envelope([json.dumps(d).encode() for d in found], {}, "device-api"))
        else:
            self._send(404, _error_body(404, "404: Page Not Found"))

    def _scroll(self, args: dict[str, Any]) -> None:
        """Device ids a page at a time; ``offset`` is an opaque token (here: where the next
        page starts), with ``expires_at`` as the real API sends it."""
        ids = sorted(self.standin.devices)
        limit = int(args.get("limit") or 100)
        start = int(base64.b64decode(args["offset"])) if args.get("offset") else 0
        page = ids[start : start + limit]
        nxt = base64.b64encode(str(start + len(page)).encode()).decode()
        pagination = {"offset": nxt, "expires_at": 1_795_867_200_000_000_000, "total": len(ids)}
        body = _envelope(
            [json.dumps(i).encode() for i in page], {"pagination": pagination}, "device-api"
        )
        self._send(200, body)

    def _combined(self, args: dict[str, Any]) -> None:
        limit = int(args.get("limit") or 100)
        if not 1 <= limit <= 1000:
            self._send(400, _error_body(400, "limit must be between 1 and 1000"))
            return
        rows = self.standin.order(str(args.get("filter") or ""), str(args.get("sort") or ""))
        start, fetched = 0, 0
        if args.get("after"):
            token = json.loads(base64.b64decode(args["after"]))
            key = (_moment(token["after"][0]), token["after"][1])
            descending = str(args.get("sort") or "|desc").endswith("desc")
            keys = [(r[0], r[1]) for r in rows]
            if descending:
                start = next((i for i, k in enumerate(keys) if k < key), len(rows))
            else:
                start = bisect.bisect_right(keys, key)
            fetched = token["total_fetched"]
        page = rows[start : start + limit]
        fetched += len(page)
        pagination: dict[str, Any] = {"total": len(rows), "limit": limit}
        if page and start + limit < len(rows):
            pagination["after"] = _cursor(page[-1][0], page[-1][1], len(rows), fetched)
        body = _envelope([r[2].render() for r in page], {"pagination": pagination}, "detectsapi")
        self._send(200, body)


def _envelope(items: list[bytes], meta: dict[str, Any], powered_by: str) -> bytes:
    head = {"query_time": 0.04, **meta, "powered_by": powered_by, "trace_id": str(uuid.uuid4())}
    return (
        b'{"meta":'
        + json.dumps(head).encode()
        + b',"errors":[],"resources":['
        + b",".join(items)
        + b"]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=500)
    args = parser.parse_args()
    standin = FalconStandIn()
    standin.add_alerts(generated_alerts(args.alerts, devices=args.devices))
    standin.add_devices(generated_devices(args.devices))
    print(standin.start(), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
