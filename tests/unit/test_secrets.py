"""Secrets come from the environment (``${VAR}``) or a file (``<name>_file``), for every source
and setting, and never show in a repr, an error or a log line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from clearance.config import load_config
from clearance.errors import ConfigError
from clearance.integrations.settings import load_settings as load_integrations
from clearance.secrets import expand_environment
from clearance.server.settings import load_settings as load_server

SECRET = "s3cr3t-Value-0123456789"

# Every pull source with a credential: (type, settings without the secret, the secret's key).
SOURCES: list[tuple[str, dict[str, Any], str]] = [
    ("falcon", {"client_id": "0123abcd"}, "client_secret"),
    ("defender", {"tenant_id": "t-1", "client_id": "c-1"}, "client_secret"),
    ("sentinelone", {"base_url": "https://s1.example"}, "api_token"),
    ("wazuh", {"base_url": "https://wazuh.example:9200", "username": "reader"}, "password"),
    ("guardduty", {"region": "eu-west-1", "access_key_id": "AKIAEXAMPLE"}, "secret_access_key"),
]


def write_config(tmp_path: Path, source: dict[str, Any]) -> Path:
    (tmp_path / "inventory.yaml").write_text("targets: []\n")
    doc = {
        "policy": "policy.yaml",
        "sources": [source],
        "inventory": {"name": "hosts", "type": "static", "path": "inventory.yaml"},
    }
    path = tmp_path / "clearance.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def held_secret(source: object, key: str) -> str:
    config = source.config  # type: ignore[attr-defined]
    value = getattr(config, key)
    return str(value.get_secret_value())


@pytest.mark.parametrize(("kind", "settings", "key"), SOURCES, ids=[s[0] for s in SOURCES])
def test_a_source_secret_comes_from_the_environment(
    tmp_path: Path, kind: str, settings: dict[str, Any], key: str
) -> None:
    entry = {"name": "vendor", "type": kind, **settings, key: "${VENDOR_SECRET}"}
    config = load_config(write_config(tmp_path, entry), env={"VENDOR_SECRET": SECRET})
    [source] = config.sources
    assert held_secret(source, key) == SECRET
    assert SECRET not in repr(source)
    assert SECRET not in repr(source.config)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("kind", "settings", "key"), SOURCES, ids=[s[0] for s in SOURCES])
def test_a_source_secret_comes_from_a_file_relative_to_the_config(
    tmp_path: Path, kind: str, settings: dict[str, Any], key: str
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / key).write_text(SECRET + "\n")  # `echo` and editors add a newline
    entry = {"name": "vendor", "type": kind, **settings, f"{key}_file": f"secrets/{key}"}
    [source] = load_config(write_config(tmp_path, entry), env={}).sources
    assert held_secret(source, key) == SECRET


def test_a_missing_variable_names_the_key_and_the_variable(tmp_path: Path) -> None:
    entry = {"name": "edr", "type": "falcon", "client_id": "x", "client_secret": "${NOPE}"}
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, entry), env={})
    message = str(err.value)
    assert "sources[0].client_secret" in message
    assert "NOPE is not set" in message


def test_a_secret_and_its_file_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "s").write_text(SECRET)
    entry = {"name": "edr", "type": "falcon", "client_id": "x", "client_secret": SECRET}
    entry["client_secret_file"] = "s"
    with pytest.raises(ConfigError, match="client_secret or client_secret_file, not both") as err:
        load_config(write_config(tmp_path, entry), env={})
    assert SECRET not in str(err.value)


def test_an_unreadable_secret_file_names_the_key_and_path(tmp_path: Path) -> None:
    entry = {"name": "s1", "type": "sentinelone", "base_url": "https://s1.example"}
    entry["api_token_file"] = "missing/token"
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, entry), env={})
    assert "sentinelone 's1': api_token_file: cannot read" in str(err.value)
    assert str(tmp_path / "missing/token") in str(err.value)


def test_a_validation_error_elsewhere_never_echoes_the_secret(tmp_path: Path) -> None:
    entry = {"name": "w", "type": "wazuh", "base_url": "https://w", "username": "u"}
    entry |= {"password": "${PW}", "page_size": "many"}
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, entry), env={"PW": SECRET})
    assert "page_size" in str(err.value)
    assert SECRET not in str(err.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${A}", "1"),
        ("x-${A}-${B}", "x-1-two"),
        ("$$HOME", "$HOME"),  # $$ escapes: a literal dollar
        ("cost: 5$", "cost: 5$"),  # a lone $ is left alone
        ("$${A}", "${A}"),
    ],
)
def test_expansion_replaces_references_and_unescapes(text: str, expected: str) -> None:
    assert expand_environment({"k": [text]}, {"A": "1", "B": "two"}) == {"k": [expected]}


def test_expansion_refuses_what_is_not_a_variable_name() -> None:
    with pytest.raises(ConfigError, match=r"k: \$\{A-B\} is not a variable reference"):
        expand_environment({"k": "${A-B}"}, {})


def test_server_settings_take_the_webhook_url_from_env_and_keep_it_secret(
    tmp_path: Path,
) -> None:
    path = tmp_path / "server.yaml"
    url = f"https://hooks.example/T0/{SECRET}"
    path.write_text("server:\n  notify: {webhook_url: '${HOOK}'}\n")
    settings = load_server(path, env={"HOOK": url})
    assert settings.notify.webhook_url is not None
    assert settings.notify.webhook_url.get_secret_value() == url
    assert SECRET not in repr(settings)
    (tmp_path / "hook").write_text(url)
    path.write_text("server:\n  notify: {webhook_url_file: hook}\n")
    assert load_server(path, env={}).notify.webhook_url == settings.notify.webhook_url


def test_a_missing_variable_in_server_settings_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "server.yaml"
    path.write_text("server:\n  notify: {webhook_url: '${HOOK}'}\n")
    expected = r"server\.notify\.webhook_url: environment variable HOOK"
    with pytest.raises(ConfigError, match=expected):
        load_server(path, env={})


def test_integration_secrets_come_from_files_and_the_environment(tmp_path: Path) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----\n"
    (tmp_path / "app.pem").write_text(pem)
    path = tmp_path / "integrations.yaml"
    path.write_text(
        "github:\n  app_id: Iv23\n  private_key_file: app.pem\n"
        "  webhook_secret: ${GITHUB_WEBHOOK_SECRET}\n"
    )
    settings = load_integrations(path, env={"GITHUB_WEBHOOK_SECRET": SECRET})
    assert settings.github is not None
    assert settings.github.secret() == SECRET.encode()
    assert settings.github.key_pem().startswith("-----BEGIN PRIVATE KEY-----")
    assert SECRET not in repr(settings)


def test_a_failing_source_never_logs_its_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A closed loopback port: the request fails, and the error and logs must not carry the token.
    entry: dict[str, Any] = {"name": "s1", "type": "sentinelone", "base_url": "http://127.0.0.1:9"}
    entry |= {"api_token": "${S1_TOKEN}", "max_retries": 0}
    [source] = load_config(write_config(tmp_path, entry), env={"S1_TOKEN": SECRET}).sources
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Exception) as err:  # noqa: PT011 - whatever the source raises
        list(source.fetch(None))
    assert SECRET not in str(err.value)
    assert SECRET not in caplog.text
