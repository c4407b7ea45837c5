"""`clearance ingest` through a real subprocess, into a real SQLite store: a platform's export is
stored as the live path stores it, bad items are quarantined beside the good ones, and the KEV
catalog raises images that carry a listed CVE, whichever arrives first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_fleet import Run

from clearance.model.signal import SignalKind
from clearance.store.sql import SqlStore

FIXTURES = Path(__file__).parent.parent / "fixtures"
NOW = "2026-11-28T12:00:00Z"


def _store(url: str) -> SqlStore:
    return SqlStore.open(url)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def test_falco_export_is_stored_with_its_cluster_and_bad_lines_quarantined(
    clearance: Run, url: str, tmp_path: Path
) -> None:
    events = (FIXTURES / "falco" / "events.syscall-k8s.falco-website.jsonl").read_bytes()
    export = tmp_path / "falco.jsonl"
    export.write_bytes(events + b'{"rule": "broken", "priority": \n')
    result = clearance(
        "ingest", "--format", "falco", "--cluster", "prod-eu", "--database", url,
        "--now", NOW, str(export),
    )  # fmt: skip
    assert result.code == 0, result.err
    assert f"{export}: 6 signal(s) stored as 'falco', 1 quarantined" in result.out
    store = _store(url)
    try:
        (state,) = store.source_states()
        assert state.name == "falco"
        assert state.quarantined == {"invalid_json": 1}
        assert state.last_success is not None
        assert state.last_success.isoformat() == "2026-11-28T12:00:00+00:00"
        pods = store.signals_touching(["pod:default/kubecon"])
        assert [s.severity for s in pods] == [5]  # the Critical "Terminal shell in container"
        assert {"cluster:prod-eu", "pod:default/kubecon"} <= {str(a) for a in pods[0].assets}
    finally:
        store.close()


def test_the_same_export_twice_changes_nothing(clearance: Run, url: str) -> None:
    export = str(FIXTURES / "falco" / "events.k8s_audit.falco-website.jsonl")
    args = ("ingest", "--format", "falco", "--database", url, "--now", NOW, export)
    assert clearance(*args).code == 0
    store = _store(url)
    try:
        first = {s.uid: s for s in store.signals_touching(_all_keys(store))}
    finally:
        store.close()
    assert clearance(*args).code == 0
    store = _store(url)
    try:
        assert {s.uid: s for s in store.signals_touching(_all_keys(store))} == first
    finally:
        store.close()


def _all_keys(store: SqlStore) -> list[str]:
    from sqlalchemy import select

    from clearance.store import tables as t

    with store.db.read("test: every asset key") as conn:
        return [row.key for row in conn.execute(select(t.signal_assets.c.key))]


def _catalog_listing(tmp_path: Path, cve: str, ransomware: str = "Known") -> Path:
    catalog = json.loads(
        (FIXTURES / "kev" / "known_exploited_vulnerabilities.trimmed.json").read_text()
    )
    entry = dict(catalog["vulnerabilities"][0])
    entry |= {"cveID": cve, "knownRansomwareCampaignUse": ransomware}
    catalog["vulnerabilities"].append(entry)
    catalog["vulnerabilities"].append(entry | {"cveID": "not-a-cve"})  # quarantined, not fatal
    path = tmp_path / "kev.json"
    path.write_text(json.dumps(catalog))
    return path


@pytest.mark.parametrize("kev_first", [True, False], ids=["kev-then-trivy", "trivy-then-kev"])
def test_a_kev_listed_cve_in_a_scanned_image_becomes_a_known_exploited_signal(
    clearance: Run, url: str, tmp_path: Path, kev_first: bool
) -> None:
    report = str(FIXTURES / "trivy" / "report.image.alpine-3.10.golden.json")
    kev = str(_catalog_listing(tmp_path, "CVE-2019-1549"))
    runs = [("kev", kev), ("trivy", report)]
    for fmt, path in runs if kev_first else runs[::-1]:
        result = clearance("ingest", "--format", fmt, "--database", url, "--now", NOW, path)
        assert result.code == 0, result.err
    assert "1 known-exploited" in result.out  # said by whichever ingest raised it
    store = _store(url)
    try:
        found = list(store.active_signals_of_kind(SignalKind.KNOWN_EXPLOITED))
        assert [s.rule for s in found] == ["CVE-2019-1549"]
        assert found[0].severity == 5  # known ransomware use
        vulnerability = next(
            s
            for s in store.active_signals_of_kind(SignalKind.VULNERABILITY)
            if s.rule == "CVE-2019-1549"
        )
        assert found[0].assets == vulnerability.assets
        states = {s.name: s for s in store.source_states()}
        assert states["kev"].quarantined == {"invalid_value": 1}
    finally:
        store.close()


def test_a_kev_file_that_is_not_a_catalog_keeps_the_stored_one(
    clearance: Run, url: str, tmp_path: Path
) -> None:
    kev = str(_catalog_listing(tmp_path, "CVE-2019-1549"))
    assert clearance("ingest", "--format", "kev", "--database", url, kev).code == 0
    html = tmp_path / "proxy.html"
    html.write_text("<html><body>502 Bad Gateway</body></html>")
    result = clearance("ingest", "--format", "kev", "--database", url, str(html))
    assert result.code == 5
    assert "not" in result.err.lower()
    report = str(FIXTURES / "trivy" / "report.image.alpine-3.10.golden.json")
    result = clearance("ingest", "--format", "trivy", "--database", url, report)
    assert "1 known-exploited" in result.out  # said by whichever ingest raised it


def test_an_option_the_format_does_not_take_is_refused_before_anything_is_stored(
    clearance: Run, url: str, tmp_path: Path
) -> None:
    export = str(FIXTURES / "defender" / "alerts.list-expand-evidence.docs.json")
    args = ("ingest", "--format", "defender", "--cluster", "x", "--database", url, export)
    result = clearance(*args)
    assert result.code == 2
    assert "does not take cluster" in result.err
    result = clearance(
        "ingest", "--format", "falco", "--database", url, str(tmp_path / "missing.jsonl")
    )
    assert result.code == 2
    assert "cannot read" in result.err
    assert not (tmp_path / "store.db").exists()


def test_a_saved_alertmanager_answer_is_stored_as_health_and_unplaced_alerts_counted(
    clearance: Run, url: str, tmp_path: Path
) -> None:
    alerts = json.loads(
        (FIXTURES / "alertmanager" / "alerts.v2.karma-mock-0.27.0.json").read_text()
    )
    crash = {
        **alerts[2],
        "fingerprint": "00000000000000f1",
        "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "checkout-1"},
    }
    export = tmp_path / "alerts.json"
    export.write_text(json.dumps([crash, *alerts]))
    result = clearance(
        "ingest", "--format", "alertmanager", "--cluster", "prod-eu", "--database", url,
        "--now", NOW, str(export),
    )  # fmt: skip
    assert result.code == 0, result.err
    # The 4 silenced recorded alerts are not read; the other 8 name no Kubernetes object.
    assert f"{export}: 1 signal(s) stored as 'alertmanager', 8 quarantined" in result.out
    stored = _store(url).get_signal("alertmanager:00000000000000f1")
    assert stored.kind is SignalKind.HEALTH
    assert {str(a) for a in stored.assets} == {"pod:shop/checkout-1", "namespace:prod-eu/shop"}


def _large_falco_export(path: Path, lines: int, bad: set[int]) -> None:
    """``lines`` real Falco events (pods spread out so they do not fold), past one 8 MB chunk,
    with a broken line at each number in ``bad``."""
    events = [
        json.loads(line)
        for line in (FIXTURES / "falco" / "events.syscall-k8s.falco-website.jsonl")
        .read_text()
        .splitlines()
    ]
    with path.open("w") as out:
        for number in range(1, lines + 1):
            if number in bad:
                out.write(f'{{"rule": "broken {number}", "priority": \n')
                continue
            event = dict(events[number % len(events)])
            event["output_fields"] = dict(event["output_fields"], **{"k8s.pod.name": f"p{number}"})
            event["output"] = event["output"] + " " + "x" * 600  # about 1.5 KB a line
            out.write(json.dumps(event) + "\n")


def test_a_large_export_is_streamed_and_each_quarantined_line_named(
    clearance: Run, url: str, tmp_path: Path
) -> None:
    export = tmp_path / "falco.jsonl"
    _large_falco_export(export, 7000, bad={3, 6500})
    assert export.stat().st_size > 9 * 1024 * 1024  # more than one chunk
    result = clearance(
        "ingest", "--format", "falco", "--cluster", "prod-eu", "--database", url,
        "--now", NOW, "-v", str(export),
    )  # fmt: skip
    assert result.code == 0, result.err
    # Every good line on both sides of the chunk boundary is stored (each pod its own signal).
    assert f"{export}: 6998 signal(s) stored as 'falco', 2 quarantined" in result.out
    # Where each bad line is in the file, not in the chunk it was read in.
    assert f"{export}:3: invalid_json: line 3 is not JSON" in result.err
    assert f"{export}:6500: invalid_json: line 6500 is not JSON" in result.err
    assert "\r" not in result.err  # no progress line when stderr is not a terminal
    store = _store(url)
    try:
        (state,) = store.source_states()
        assert state.quarantined == {"invalid_json": 2}
    finally:
        store.close()


def test_without_v_quarantined_items_are_counted_not_listed(
    clearance: Run, url: str, tmp_path: Path
) -> None:
    export = tmp_path / "falco.jsonl"
    _large_falco_export(export, 20, bad={7})
    result = clearance("ingest", "--format", "falco", "--database", url, "--now", NOW, str(export))
    assert result.code == 0, result.err
    assert ", 1 quarantined" in result.out
    assert "invalid_json" not in result.err


def test_progress_is_shown_on_a_terminal(url: str, tmp_path: Path) -> None:
    import os
    import pty
    import subprocess
    import sys

    from served import environ

    export = tmp_path / "falco.jsonl"
    _large_falco_export(export, 7000, bad=set())
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "clearance", "ingest", "--format", "falco", "--database", url,
             "--now", NOW, str(export)],
            stdout=subprocess.PIPE, stderr=follower, env=environ(), check=False, timeout=300,
        )  # fmt: skip
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0
    text = shown.decode()
    size = export.stat().st_size / 1_000_000
    assert f"{export}: " in text
    assert f"of {size:,.0f} MB (100%), 7,000 signal(s)" in text
    assert "%" not in done.stdout.decode()  # the summary on stdout, progress on the terminal


def test_the_kev_catalog_says_how_many_cves_it_stored(
    clearance: Run, url: str, tmp_path: Path
) -> None:
    kev = _catalog_listing(tmp_path, "CVE-2019-1549")
    entries = len(json.loads(kev.read_text())["vulnerabilities"]) - 1  # one is quarantined
    result = clearance("ingest", "--format", "kev", "--database", url, "--now", NOW, str(kev))
    assert result.code == 0, result.err
    assert f"{kev}: KEV catalog: {entries:,} CVEs stored" in result.out
    assert "signal(s) stored" not in result.out
