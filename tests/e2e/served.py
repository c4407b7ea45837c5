"""A real ``clearance serve`` in a subprocess, as an operator runs it, and the CLI run against it.

The store is filled the operator's way first (``clearance tokens create``, ``clearance sync``),
then ``serve --no-sync`` answers over loopback HTTP until the test stops it.
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

import httpx
import yaml
from cli_fleet import Result

SCOPES = {"ci": ["decide"], "alice": ["approve"], "bob": ["approve"], "root": ["admin"]}
GROUPS = {"alice": ["security"], "bob": ["security"]}


def environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without CI or Clearance variables, plus ``extra``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CLEARANCE_"))}
    return base | dict(extra or {})


def clearance(*args: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> Result:
    done = subprocess.run(
        [sys.executable, "-m", "clearance", *args],
        capture_output=True, text=True, env=environ(env), check=False, timeout=timeout,
    )  # fmt: skip
    return Result(done.returncode, done.stdout, done.stderr)


@dataclass
class Served:
    url: str
    database: str
    tokens: dict[str, str]
    log: list[str] = field(default_factory=list)

    def env(self, who: str = "ci", **more: str) -> dict[str, str]:
        """What a pipeline sets: the service and a credential, no ``--server`` flag needed."""
        return {"CLEARANCE_SERVER": self.url, "CLEARANCE_TOKEN": self.tokens[who], **more}

    def client(self, who: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@contextmanager
def serve(config: Path, root: Path) -> Iterator[Served]:
    """Sync ``config``'s sources into a fresh SQLite store, then serve it until the block ends."""
    database = f"sqlite:///{root / 'service.db'}"
    tokens = {}
    for name, scopes in SCOPES.items():
        flags = [f for scope in scopes for f in ("--scope", scope)]
        made = clearance("tokens", "create", name, *flags, "--database", database)
        assert made.code == 0, made.err
        tokens[name] = made.out.strip()
    synced = clearance("sync", "--config", str(config), "--database", database)
    assert synced.code == 0, synced.out + synced.err
    settings = root / "server.yaml"
    settings.write_text(yaml.safe_dump({"server": {"token_groups": GROUPS}}))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "clearance", "serve", "--config", str(config), "--database",
         database, "--settings", str(settings), "--port", str(port), "--no-sync"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ(),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    served = Served(url, database, tokens)
    try:
        for _ in range(600):
            if process.poll() is not None:
                break
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        assert process.poll() is None, process.communicate()[1]
        yield served
    finally:
        process.terminate()
        out, err = process.communicate(timeout=20)
        served.log += [out, err]
        for secret in tokens.values():
            assert secret not in out + err
