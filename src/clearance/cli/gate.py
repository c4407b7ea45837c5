"""The pipeline gate: ``python -m clearance.cli.gate`` (GitHub Action, GitLab CI,
Tekton, Jenkins).

Inputs arrive as ``CLEARANCE_*`` environment variables (action.yml passes ``inputs`` through
``env``, never into the script text). With a server (``CLEARANCE_SERVER``) the bearer is
``CLEARANCE_TOKEN`` when set (a GitLab ID token, a Jenkins or Tekton secret), else the GitHub
job's OIDC token, requested for the audience (``ACTIONS_ID_TOKEN_REQUEST_URL``/``_TOKEN``; needs
``id-token: write``) and masked with ``::add-mask::`` before anything else is printed: no stored
secret. Without a server, Clearance decides locally from ``clearance.yaml``.

Results: ``CLEARANCE_FORMAT`` ``github`` (default; job summary, outputs and annotations through
``clearance.render.github``) or ``text``; ``CLEARANCE_DOTENV`` a file for ``KEY=VALUE`` lines
(GitLab ``artifacts:reports:dotenv``); ``CLEARANCE_RESULTS_DIR`` a directory for one file per
result (Tekton ``/tekton/results``).

Exit: 0 to go on; the verdict's code (10 approve, 20 block) when ``fail-on`` says so; 2 when the
gate itself could not run (the message says why, never with the token).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

EXIT_UNUSABLE = 2
_FAIL = {"block": (20,), "approve": (10, 20), "never": ()}


class GateError(Exception):
    pass


def main(env: Mapping[str, str] = os.environ, sleep: Callable[[float], None] = time.sleep) -> int:
    fail_on = env.get("CLEARANCE_FAIL_ON", "block") or "block"
    if fail_on not in _FAIL:
        print(f"::error title=Clearance::fail-on must be block, approve or never, not {fail_on!r}")
        return EXIT_UNUSABLE
    try:
        code = _ask_server(env, sleep) if env.get("CLEARANCE_SERVER") else _check_locally(env)
    except GateError as exc:
        print(f"::error title=Clearance could not decide::{_escape(str(exc))}")
        return EXIT_UNUSABLE
    _append(env, "GITHUB_OUTPUT", f"exit-code={code}\n")
    _results(env, {"exit-code": str(code)})
    if code == 10 and code not in _FAIL[fail_on]:
        print("::warning title=Clearance::approval required; fail-on=block lets the job go on")
    return code if code in _FAIL[fail_on] or code not in (0, 10, 20) else 0


def _target(env: Mapping[str, str]) -> dict[str, Any]:
    missing = [
        k for k in ("ENV", "CLUSTER", "NAMESPACE", "WORKLOAD") if not env.get(f"CLEARANCE_{k}")
    ]
    if missing:
        raise GateError("missing inputs: " + ", ".join(m.lower() for m in missing))
    images = [i.strip() for i in env.get("CLEARANCE_IMAGES", "").replace(",", "\n").split("\n")]
    change = {
        "commit": env.get("GITHUB_SHA"),
        "actor": env.get("GITHUB_ACTOR"),
        "pipeline_run": (
            f"{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
            if env.get("GITHUB_REPOSITORY") and env.get("GITHUB_RUN_ID")
            else None
        ),
    }
    return {
        "environment": env["CLEARANCE_ENV"],
        "cluster": env["CLEARANCE_CLUSTER"],
        "namespace": env["CLEARANCE_NAMESPACE"],
        "workload": env["CLEARANCE_WORKLOAD"],
        "images": [i for i in images if i],
        "change": {k: v for k, v in change.items() if v},
    }


def _check_locally(env: Mapping[str, str]) -> int:
    from clearance.cli import main as cli

    t = _target(env)
    fmt = "github" if env.get("CLEARANCE_FORMAT", "github") == "github" else "text"
    argv = ["check", "--format", fmt, "--env", t["environment"], "--cluster", t["cluster"]]
    argv += ["--namespace", t["namespace"], "--workload", t["workload"]]
    for image in t["images"]:
        argv += ["--image", image]
    for flag, key in (("--config", "CLEARANCE_CONFIG"), ("--manifest", "CLEARANCE_MANIFEST")):
        if env.get(key):
            argv += [flag, env[key]]
    if t["change"].get("commit"):
        argv += ["--commit", t["change"]["commit"]]
    if t["change"].get("actor"):
        argv += ["--actor", t["change"]["actor"]]
    code = cli(argv)
    if verdict := {0: "proceed", 10: "approve", 20: "block"}.get(code):
        _results(env, {"verdict": verdict})
    return code


def oidc_token(env: Mapping[str, str], audience: str) -> str:
    url, bearer = env.get("ACTIONS_ID_TOKEN_REQUEST_URL"), env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not url or not bearer:
        raise GateError(
            "no OIDC token: give the job `permissions: id-token: write` (or run without server)"
        )
    print(f"::add-mask::{bearer}")
    sep = "&" if "?" in url else "?"
    full = f"{url}{sep}audience={urllib.parse.quote(audience, safe='')}"
    data = _http("GET", full, f"bearer {bearer}", what="the OIDC token endpoint")
    token = data.get("value") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise GateError("the OIDC token endpoint answered without a token")
    print(f"::add-mask::{token}")
    return token


def _ask_server(env: Mapping[str, str], sleep: Callable[[float], None]) -> int:
    from clearance.errors import UnknownStatusError
    from clearance.integrations.decision_json import decision_from_dict
    from clearance.model.status import ApprovalStatus
    from clearance.render.output import emit

    server = env["CLEARANCE_SERVER"].rstrip("/")
    token = env.get("CLEARANCE_TOKEN") or oidc_token(env, env.get("CLEARANCE_AUDIENCE") or server)
    auth = f"Bearer {token}"
    body = _target(env)
    outcome = _http("POST", f"{server}/v1/decisions", auth, body, what=server)
    if env.get("CLEARANCE_WAIT", "false").lower() == "true":
        outcome = _wait(env, server, auth, body, outcome, sleep)
    try:
        decision = decision_from_dict(outcome["decision"])
    except (KeyError, TypeError, ValueError) as exc:
        raise GateError(f"{server} answered something that is not a decision ({exc})") from exc
    emit(decision, "github" if env.get("CLEARANCE_FORMAT", "github") == "github" else "text")
    try:  # an unknown status never reads as proceed
        status = ApprovalStatus.from_wire(outcome.get("status"))
    except UnknownStatusError as exc:
        raise GateError(str(exc)) from exc
    _append(env, "GITHUB_OUTPUT", f"status={status.value}\n")
    verdict = {0: "proceed", 10: "approve"}.get(status.exit_code, "block")
    _results(
        env,
        {
            "verdict": verdict,
            "status": status.value,
            "score": f"{decision.score:g}",
            "decision-id": decision.id,
        },
    )
    return status.exit_code


def _wait(
    env: Mapping[str, str],
    server: str,
    auth: str,
    body: dict[str, Any],
    outcome: dict[str, Any],
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """Poll a pending decision; once approved, ask again: an approval counts only while the
    evidence holds, so a fresh decision may need a fresh approval (as ``check --wait`` does)."""
    deadline = time.monotonic() + 60 * float(env.get("CLEARANCE_WAIT_MINUTES") or 30)
    poll = float(env.get("CLEARANCE_POLL_SECONDS") or 15)
    while outcome.get("status") == "pending_approval" and time.monotonic() < deadline:
        print(f"Waiting for approval of decision {outcome['id']} …", flush=True)
        sleep(poll)
        current = _http("GET", f"{server}/v1/decisions/{outcome['id']}", auth, what=server)
        if current.get("status") in ("approved", "break_glass"):
            current = _http("POST", f"{server}/v1/decisions", auth, body, what=server)
        outcome = current
    return outcome


def _results(env: Mapping[str, str], values: Mapping[str, str]) -> None:
    """GitLab dotenv lines (CLEARANCE_VERDICT=…) and Tekton result files (verdict, …)."""
    if env.get("CLEARANCE_DOTENV"):
        lines = "".join(f"CLEARANCE_{k.upper().replace('-', '_')}={v}\n" for k, v in values.items())
        _append(env, "CLEARANCE_DOTENV", lines)
    if directory := env.get("CLEARANCE_RESULTS_DIR"):
        for key, value in values.items():
            (Path(directory) / key).write_text(value, encoding="utf-8")


def _http(method: str, url: str, auth: str, body: Any = None, *, what: str) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - https/http only
    request.add_header("Authorization", auth)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if not url.startswith(("https://", "http://")):
        raise GateError(f"{what}: only http(s) URLs are supported")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310
            parsed = json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode("utf-8", "replace")
        raise GateError(f"{what} answered HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
        raise GateError(f"cannot reach {what}: {exc}") from exc
    if not isinstance(parsed, dict):
        raise GateError(f"{what} answered something other than a JSON object")
    return parsed


def _append(env: Mapping[str, str], variable: str, text: str) -> None:
    if path := env.get(variable):
        with Path(path).open("a", encoding="utf-8") as f:
            f.write(text)


def _escape(message: str) -> str:
    return message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


if __name__ == "__main__":
    sys.exit(main())
