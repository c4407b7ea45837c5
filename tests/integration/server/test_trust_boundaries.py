"""Issue 11's observations, each reproduced through the real HTTP API and shown closed.

1 scoped writers · 3 nothing stored breaks a decision · 7 request limits · 10 bounded rules ·
12 no 500s · 15 quarantine retention (8, admission, is in integrations/test_admission.py).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import insert

from builders import POLICY_YAML
from clearance.errors import PolicyError
from clearance.model.assets import index_keys, parse_asset
from clearance.policy.load import load_policy_text
from clearance.store import tables
from server_harness import Live, start_live

SOURCES = {"ingest": {"falco": {"eu": {"cluster": "prod-eu", "source": "falco-eu"}}}}


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[Live]:
    live, stop = start_live(store_url, tmp_path, SOURCES)
    yield live
    stop()


def _token(server: Live, name: str, *scopes: str) -> httpx.Client:
    _, secret = server.ctx.store.create_token(name, list(scopes), server.clock.now)
    return server.client(token=secret)


def _pushed(server: Live, uid: str, source: str, **extra: Any) -> dict[str, Any]:
    return {**server.signal(uid, 5, "hot", **extra), "uid": f"{source}:{uid}", "source": source}


# --- 1: an ingest credential writes only the sources it names, never a pulled one -------------


def test_an_ingest_token_cannot_clear_a_pulled_sources_finding(server: Live) -> None:
    assert server.push(server.signal("d1", 5, "hot")).status_code == 200
    assert server.ask("hot")["decision"]["verdict"] == "block"
    forged = server.signal("d1", 5, "hot", status="resolved")
    with server.client("feeder") as feeder:
        reply = feeder.post("/v1/signals", json={"signals": [forged]})
    assert reply.status_code == 403
    assert "'edr'" in reply.json()["detail"]  # names the source it may not write
    assert server.ask("hot")["decision"]["verdict"] == "block"


def test_a_source_scoped_token_writes_its_source_only(server: Live) -> None:
    with _token(server, "eu-feeder", "ingest:falco-eu") as eu:
        own = eu.post("/v1/signals", json={"signals": [_pushed(server, "a", "falco-eu")]})
        other = eu.post("/v1/signals", json={"signals": [_pushed(server, "b", "scanner")]})
        falco = eu.post("/v1/ingest/falco/eu", content=_falco_line())
    assert own.status_code == 200, own.text
    assert other.status_code == 403
    assert "'scanner'" in other.json()["detail"]
    assert falco.status_code == 202, falco.text
    # Refused writes never mark their source fresh.
    with server.client("ci") as ci:
        names = {s["name"] for s in ci.get("/v1/sources").json()["sources"]}
    assert "falco-eu" in names
    assert "scanner" not in names


def test_a_source_scoped_token_cannot_use_another_sources_receiver(server: Live) -> None:
    with _token(server, "other-feeder", "ingest:scanner") as other:
        reply = other.post("/v1/ingest/falco/eu", content=_falco_line())
    assert reply.status_code == 403
    assert "'falco-eu'" in reply.json()["detail"]


def test_times_beyond_the_allowed_skew_are_refused_naming_the_field(server: Live) -> None:
    future = (server.clock.now + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    item = _pushed(server, "f", "scanner", last_seen=future)
    with server.client("feeder") as feeder:
        reply = feeder.post("/v1/signals", json={"signals": [item]})
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "body.signals.0.last_seen"


def test_vendor_items_from_the_future_are_quarantined_with_a_reason(server: Live) -> None:
    event = json.loads(_falco_line())
    event["time"] = (server.clock.now + timedelta(days=365)).isoformat().replace("+00:00", "Z")
    with server.client("feeder") as feeder:
        reply = feeder.post("/v1/ingest/falco/eu", content=json.dumps(event))
    assert reply.status_code == 422  # nothing usable: named, and quarantined
    with server.client("ci") as ci:
        sources = ci.get("/v1/sources")
    falco = next(s for s in sources.json()["sources"] if s["name"] == "falco-eu")
    assert falco["quarantined"] == {"future_time": 1}


# --- 3: nothing stored can break a decision ----------------------------------------------------


@pytest.mark.parametrize(
    ("field", "raw"),
    [("count", "9007199254740993"), ("title", '"\\ud800"'), ("confidence", "1e999")],
)
def test_a_value_that_cannot_be_canonicalised_is_refused(
    server: Live, field: str, raw: str
) -> None:
    item = {**_pushed(server, "p", "scanner"), field: "@@"}
    body = json.dumps({"signals": [item]}).replace('"@@"', raw)
    with server.client("feeder") as feeder:
        reply = feeder.post(
            "/v1/signals", content=body, headers={"Content-Type": "application/json"}
        )
    assert reply.status_code in (400, 422), reply.text
    # Nothing was stored that could break the target's decisions.
    assert server.ask("hot")["decision"]["verdict"] == "proceed"


def test_a_stored_row_that_does_not_parse_is_skipped_and_counted(server: Live) -> None:
    poison = {**server.signal("x", 5, "hot"), "count": 2**60, "uid": "edr:poison"}
    with server.ctx.store.db.engine.begin() as conn:  # as an older version or a hand might
        conn.execute(
            insert(tables.signals).values(
                uid="edr:poison",
                source="edr",
                status="open",
                first_seen=server.clock.now,
                last_seen=server.clock.now,
                updated_at=server.clock.now,
                data=json.dumps(poison),
            )
        )
        for key in index_keys(parse_asset("host:node-c")):
            conn.execute(insert(tables.signal_assets).values(uid="edr:poison", key=key))
    decision = server.ask("hot")["decision"]  # 200, not 500
    edr = next(s for s in decision["sources"] if s["name"] == "edr")
    assert edr["skipped"] >= 1
    # Re-pushing the uid with valid content heals it.
    assert server.push({**server.signal("x", 5, "hot"), "uid": "edr:poison"}).status_code == 200
    assert "edr:poison" in json.dumps(server.ask("hot"))


# --- 7: limits before the body; authentication before the body ---------------------------------


def test_a_broken_body_without_a_token_is_401_not_422(server: Live) -> None:
    for path in ("/v1/decisions", "/v1/signals", "/v1/ingest/falco", "/v1/exceptions"):
        reply = httpx.post(server.url + path, content=b"{", headers={"content-type": "a/json"})
        assert reply.status_code == 401, path


def test_a_declared_length_over_the_limit_is_413_before_any_body(server: Live) -> None:
    # Headers only: the service must answer without waiting for 200 MB that never come.
    status = _raw_status(server.url, "/v1/decisions", 200 * 1024 * 1024, server.secrets["ci"])
    assert status == 413


def test_a_chunked_body_is_cut_off_at_the_limit(server: Live) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"environment": "' + b"x" * (2 * 1024 * 1024)

    with server.client("ci") as ci:
        reply = ci.post("/v1/decisions", content=chunks())
    assert reply.status_code == 413


@pytest.mark.parametrize("path", ["/v1/decisions", "/v1/signals", "/v1/exceptions"])
def test_deeply_nested_json_is_a_4xx(server: Live, path: str) -> None:
    body = b'{"signals": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    with server.client("root") as root:
        reply = root.post(path, content=body, headers={"content-type": "application/json"})
    assert 400 <= reply.status_code < 500


# --- 10: bounded rule evaluation ---------------------------------------------------------------

NESTED = """
  - name: three-deep
    scope: decision
    when: signals.exists(a, signals.exists(b, signals.exists(c, a.uid == b.uid && b.uid == c.uid)))
    verdict: block
    message: a rule from issue 11
"""
WIDE = """
  - name: pairs
    scope: decision
    when: signals.exists(a, signals.exists(b, a.uid != b.uid && a.title == b.title))
    verdict: approve
    message: two findings share a title
"""


def test_three_nested_comprehensions_are_refused_at_load() -> None:
    # The 11.8 s case: three comprehensions over 200 signals. It no longer loads.
    with pytest.raises(PolicyError) as caught:
        load_policy_text(_with_rules(NESTED).encode(), "policy.yaml")
    assert "nests comprehensions 3 deep" in str(caught.value)


def test_a_decision_rule_over_too_many_signals_fires_and_says_so(
    store_url: str, tmp_path: Path
) -> None:
    live, stop = start_live(store_url, tmp_path, policy=_with_rules(WIDE))
    try:
        items = [live.signal(f"n{i}", 1, "hot", title=f"t{i}") for i in range(300)]
        assert live.push(*items).status_code == 200
        decision = live.ask("hot")["decision"]
    finally:
        stop()
    reason = next(r for r in decision["reasons"] if r["code"] == "rule:pairs")
    assert "was not evaluated" in reason["message"]
    assert "300 active signals" in reason["message"]


def _with_rules(rules: str) -> str:
    head, sep, tail = POLICY_YAML.partition("rules:\n")
    assert sep, "the builders' policy has a rules: list"
    return head + sep + rules.lstrip("\n") + tail


# --- 12: no 500 for times out of range ---------------------------------------------------------


def test_a_time_out_of_range_in_utc_is_422_naming_the_field(server: Live) -> None:
    with server.client("ci") as ci:
        listing = ci.get("/v1/decisions", params={"until": "9999-12-31T23:59:59-14:00"})
    assert listing.status_code == 422
    assert listing.json()["errors"][0]["field"] == "query.until"
    body = {
        "signal": "edr:x",
        "environment": "production",
        "cluster": "prod-eu",
        "namespace": "shop",
        "workload": "deployment/hot",
        "expires": "9999-12-31T23:59:59-14:00",
        "reason": "r",
        "ticket": "T-1",
    }
    with server.client("root") as root:
        created = root.post("/v1/exceptions", json=body)
    assert created.status_code == 422
    assert created.json()["errors"][0]["field"] == "body.expires"


# --- 15: quarantine retention ------------------------------------------------------------------


def test_quarantine_is_bounded_per_source_and_drops_are_reported(
    store_url: str, tmp_path: Path
) -> None:
    config = {**SOURCES, "quarantine": {"keep": 100, "max_age": "30d"}}
    live, stop = start_live(store_url, tmp_path, config)
    try:
        bad = "\n".join(json.dumps({"rule": f"r{i}", "output": "no time"}) for i in range(5000))
        with live.client("feeder") as feeder:
            feeder.post("/v1/ingest/falco/eu", content=bad)
        with live.client("ci") as ci:
            state = next(
                s for s in ci.get("/v1/sources").json()["sources"] if s["name"] == "falco-eu"
            )
        metrics = httpx.get(live.url + "/metrics").text
        with live.ctx.store.db.engine.connect() as conn:
            kept = conn.execute(tables.quarantine.select()).all()
    finally:
        stop()
    assert len(kept) == 100
    assert sum(state["quarantined"].values()) == 100
    assert state["quarantine_dropped"] == 4900
    assert 'clearance_source_quarantine_dropped_items{source="falco-eu"} 4900.0' in metrics


# --- helpers -----------------------------------------------------------------------------------


def _falco_line() -> bytes:
    fixtures = Path(__file__).resolve().parents[2] / "fixtures"
    path = fixtures / "falco/events.syscall-k8s.falco-website.jsonl"
    return path.read_text().splitlines()[0].encode()


def _raw_status(url: str, path: str, length: int, token: str) -> int:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        request = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        )
        sock.sendall(request.encode())
        head = sock.recv(4096).decode("latin-1")
    return int(head.split(" ", 2)[1])


def test_a_vendor_item_nested_a_thousand_deep_is_quarantined_not_a_500(server: Live) -> None:
    # Found by bench.fuzz_api: JSON allows 1,024 levels, and quoting such a value in the
    # quarantine reason overflowed the stack inside the service.
    fixtures = Path(__file__).resolve().parents[2] / "fixtures"
    finding = json.loads(
        (fixtures / "ocsf/detection_finding.k8s-container.synthetic.ocsf.json").read_text()
    )
    body = json.dumps({**finding, "class_uid": "@@"}).replace('"@@"', "[" * 1000 + "]" * 1000)
    with server.client("feeder") as feeder:
        reply = feeder.post("/v1/ingest/ocsf", content=body)
    assert reply.status_code == 422
    assert "too_deep" in reply.text
