"""Fixtures for the integration routes: the scenario, a real store, TLS material, a test app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from clearance.integrations.metrics import IntegrationMetrics
from clearance.integrations.settings import IntegrationSettings
from clearance.server.routes.integrations import IntegrationDeps
from clearance.store.sql import SqlStore
from integration.integrations.integrations_harness import (
    AppUnderTest,
    EngineDecider,
    Tls,
    authenticate,
    build_app,
    write_scenario,
)

SETTINGS = {
    "console_url": "https://clearance.test",
    "admission": {
        "cluster": "prod-eu",
        "namespaces": {"shop": "production", "stage": "staging", "dev": "development"},
        "unknown_kind": "deny",
        "on_error": "deny",
        "client_subjects": ["kube-apiserver"],
    },
    "argo": {"cluster": "prod-eu"},
    "flagger": {"cluster": "prod-eu", "namespaces": {"test": "development"}},
}


@pytest.fixture
def audit_store(tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore.open(f"sqlite:///{tmp_path / 'clearance.db'}")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def decider(tmp_path: Path, audit_store: SqlStore) -> EngineDecider:
    scenario = tmp_path / "scenario"
    scenario.mkdir()
    return EngineDecider(write_scenario(scenario), audit_store)


@pytest.fixture
def test_app(decider: EngineDecider) -> AppUnderTest:
    metrics = IntegrationMetrics()
    deps = IntegrationDeps(
        decider=decider,
        settings=IntegrationSettings.model_validate(SETTINGS),
        authenticate=authenticate,
        metrics=metrics,
    )
    return AppUnderTest(build_app(deps), deps, metrics)


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A generated CA and a serving cert valid for the in-cluster Service name and loopback."""
    ca = trustme.CA()
    cert = ca.issue_cert("clearance.clearance.svc", "127.0.0.1")
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path, ca_path = (
        directory / "tls.crt",
        directory / "tls.key",
        directory / "ca.crt",
    )
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_path), append=True)
    cert.private_key_pem.write_to_path(str(key_path))
    ca.cert_pem.write_to_path(str(ca_path))
    # The API server's client certificate (kube-apiserver's admission config names it).
    client = ca.issue_cert("kube-apiserver", common_name="kube-apiserver")
    client_path = directory / "client.pem"
    client.private_key_and_cert_chain_pem.write_to_path(str(client_path))
    return Tls(ca, cert_path, key_path, ca_path, client_path)
