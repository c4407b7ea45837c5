"""A real ``clearance serve`` subprocess over a configuration on disk, asked over HTTP as
pipelines ask it: the production path, not an in-process app.

Tokens are made with ``clearance tokens create`` before the service starts (the command migrates
the database), so the service and the test share nothing but the database URL and the network.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from cli_fleet import Result


@dataclass
class Served:
    process: subprocess.Popen[str]
    base: str
    database: str
    tokens: dict[str, str]
    environ: dict[str, str]
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base, timeout=30)

    def headers(self, who: str = "ci") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def post(self, path: str, body: Any, who: str = "ci") -> httpx.Response:
        return self.client.post(path, json=body, headers=self.headers(who))

    def get(self, path: str, who: str = "ci") -> httpx.Response:
        return self.client.get(path, headers=self.headers(who))

    def decide(self, body: Mapping[str, Any], who: str = "ci") -> dict[str, Any]:
        answer = self.post("/v1/decisions", dict(body), who)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def env(self, who: str = "ci", **more: str) -> dict[str, str]:
        """What a pipeline sets: the service and a credential, no ``--server`` flag needed."""
        return {"CLEARANCE_SERVER": self.base, "CLEARANCE_TOKEN": self.tokens[who], **more}

    def clearance(self, *args: str, who: str = "ci") -> subprocess.CompletedProcess[str]:
        """The real CLI against this service (``$CLEARANCE_SERVER``/``$CLEARANCE_TOKEN``)."""
        environ = {**self.environ, "CLEARANCE_TOKEN": self.tokens[who]}
        return subprocess.run(
            [sys.executable, "-m", "clearance", *args, "--server", self.base],
            capture_output=True,
            text=True,
            env=environ,
            check=False,
            timeout=120,
        )


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("CLEARANCE_", "GITHUB_"))}


def environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without CI or Clearance variables, plus ``extra``."""
    return {**clean_environment(), **(extra or {})}


def clearance(*args: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> Result:
    """The real CLI in a subprocess, with ``env`` over a clean environment."""
    done = subprocess.run(
        [sys.executable, "-m", "clearance", *args],
        capture_output=True, text=True, env=environ(env), check=False, timeout=timeout,
    )  # fmt: skip
    return Result(done.returncode, done.stdout, done.stderr)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(
    config: Path,
    database: str,
    *flags: str,
    tokens: Mapping[str, str] = {"ci": "decide", "root": "admin"},
    environ: Mapping[str, str] | None = None,
) -> Iterator[Served]:
    """``clearance serve --config CONFIG --database DATABASE FLAGS…`` until the block ends."""
    env = {**clean_environment(), **(environ or {})}
    secrets = {}
    for name, scope in tokens.items():
        made = subprocess.run(
            [sys.executable, "-m", "clearance", "tokens", "create", name, "--scope", scope,
             "--database", database],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        secrets[name] = made.stdout.strip()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "clearance", "serve", "--config", str(config),
         "--database", database, "--port", str(port), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    served = Served(process, f"http://127.0.0.1:{port}", database, secrets, env)
    try:
        _wait_ready(served)
        yield served
    finally:
        served.client.close()
        process.terminate()
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung shutdown is the bug
            process.kill()
            process.communicate()


def _wait_ready(served: Served) -> None:
    for _ in range(600):
        if served.process.poll() is not None:
            _, err = served.process.communicate()
            raise AssertionError(f"clearance serve exited {served.process.returncode}:\n{err}")
        try:
            if served.client.get("/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("clearance serve never became ready")


# Who holds a token on a service with approvals: ``ci`` asks, ``alice`` and ``bob`` (group
# security, as the builders' policy wants) approve, ``root`` administers.
APPROVERS = {"ci": "decide", "alice": "approve", "bob": "approve", "root": "admin"}


@contextmanager
def serve_synced(config: Path, root: Path) -> Iterator[Served]:
    """As an operator runs it: ``clearance sync`` fills a fresh store from ``config``'s sources,
    then ``serve --no-sync`` answers from it, with :data:`APPROVERS` in group security."""
    database = f"sqlite:///{root / 'service.db'}"
    synced = clearance("sync", "--config", str(config), "--database", database)
    assert synced.code == 0, synced.out + synced.err
    settings = root / "server.yaml"
    groups = {"alice": ["security"], "bob": ["security"]}
    settings.write_text(yaml.safe_dump({"server": {"token_groups": groups}}))
    flags = ("--settings", str(settings), "--no-sync")
    with serve(config, database, *flags, tokens=APPROVERS) as served:
        yield served
