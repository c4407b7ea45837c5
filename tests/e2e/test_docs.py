"""Every example in README.md, docs/ and deploy/README.md is read by Clearance's own code.

Each fenced YAML or JSON block is loaded by the loader that reads that kind of file
(``clearance.yaml``, server settings, integration settings, a policy or a fragment of one,
policy tests, a static inventory, an API body), or validated against the Kubernetes schemas.
Each shell command is parsed by the CLI's own argument parser; the ones that can run here run,
as written, in a copy of examples/ (with the virtualenv's ``clearance``). What cannot be read or
run here is listed below with the reason, so a new block nobody classified fails this test.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from clearance.cli import build_parser
from clearance.config import load_config
from clearance.integrations.settings import load_settings as load_integrations
from clearance.inventory.kubernetes.config import KubernetesInventoryConfig
from clearance.policy.load import load_policy_text
from clearance.policytest import run_file
from clearance.server import bodies
from clearance.server.settings import load_settings as load_server
from kustomize_lite import render

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), ROOT / "deploy/README.md"]
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def first(self) -> str:
        return next((ln.strip() for ln in self.text.splitlines() if ln.strip()), "")


def blocks() -> Iterator[Block]:
    for path in DOCS:
        text = path.read_text()
        for match in re.finditer(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```", text, re.M | re.S):
            body = re.sub(rf"^{match.group(1)}", "", match.group(3), flags=re.M)
            yield Block(path, text[: match.start()].count("\n") + 1, match.group(2), body)


# Blocks no Clearance loader reads: (file, start of the first line) → why.
NOT_LOADED = {
    ("docs/policy.md", "schema_version: 1          # required"): "an outline: {…} stands for "
    "each section, documented (and loaded) below",
    ("docs/sources/guardduty.md", '{"Effect": "Allow",'): "an AWS IAM policy, read by AWS",
    ("docs/sources/wazuh.md", '{"size": 1000,'): "the OpenSearch query Clearance sends "
    "(tests/standins/wazuh.py answers it in the source's tests)",
    ("docs/integrations/flagger.md", "analysis:"): "a Flagger Canary's analysis block, read by "
    "Flagger (tests/integration/integrations/test_argo_flagger.py drives the hooks)",
    ("docs/api.md", '{"type": "about:blank"'): "an error answer the service writes",
    ("docs/api.md", '{"id": "dec_…"'): "an answer the service writes, with … for elided fields",
    ("docs/api.md", '{"event": "clearance.watch.block"'): "a webhook the service sends "
    "(tests/e2e/test_watch_after_deploy.py receives the real one)",
    ("docs/api.md", '{"schema_version": 1, "id": "dec_…"'): "what `--format json` prints, with … "
    "for elided fields",
    ("docs/approvals.md", '"voided": [{"approval"'): "an excerpt of an answer",
    ("docs/audit.md", '{"schema_version": 1, "seq": 812'): "a record the service writes "
    "(tests/integration/test_audit_*.py check the real ones)",
    ("docs/notifications.md", '{"event": "approval.'): "a payload the service sends "
    "(tests/integration/server/test_notifications_api.py checks the real one)",
    ("docs/integrations/argo-rollouts.md", '{"verdict": "approve"'): "an answer the service "
    "writes (tests/integration/integrations/test_argo_flagger.py checks the real one)",
}


def data_blocks() -> list[Block]:
    return [b for b in blocks() if b.lang in ("yaml", "yml", "json")]


def ignored(block: Block) -> str | None:
    for (path, start), reason in NOT_LOADED.items():
        if block.where.startswith(path + ":") and block.first.startswith(start):
            return reason
    return None


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of examples/ (what the docs' relative paths name) as the working directory."""
    work = tmp_path / "work"
    shutil.copytree(ROOT / "examples", work)
    shutil.copytree(ROOT / "examples", work / "examples")
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path))
    return work


@pytest.mark.parametrize("block", data_blocks(), ids=lambda b: b.where)
def test_every_yaml_and_json_example_loads(block: Block, sandbox: Path) -> None:
    reason = ignored(block)
    if reason:
        pytest.skip(reason)
    doc = json.loads(block.text) if block.lang == "json" else yaml.safe_load(block.text)
    kind = classify(doc)
    assert kind is not None, (
        f"{block.where}: no loader reads this block; teach classify() which one does, or add it "
        "to NOT_LOADED with the reason"
    )
    LOADERS[kind](doc, sandbox, block)


def classify(doc: Any) -> str | None:
    if isinstance(doc, list) and doc and all(isinstance(d, dict) and "when" in d for d in doc):
        return "policy"  # a list of rules, continuing a `rules:` above it
    if not isinstance(doc, dict):
        return None
    keys = set(doc)
    if doc.get("kind") == "Kustomization":
        return "kustomization"
    if doc.get("kind") == "Config" and doc.get("apiVersion") == "v1":
        return "kubeconfig"  # e.g. the API server's admission kubeconfig for the webhook
    if {"apiVersion", "kind"} <= keys:
        return "kubernetes"
    if keys == {"server"}:
        return "server"
    if "cases" in keys:
        return "policy-test"
    if keys == {"targets"}:
        return "static-inventory"
    if keys <= {
        "schema_version", "environments", "scoring", "rules", "suppressions", "exceptions",
        "freezes",
    }:  # fmt: skip
        return "policy"
    if keys <= {"policy", "sources", "inventory", "ingest", "store"}:
        return "config"
    if keys <= {"console_url", "github", "admission", "argo", "flagger"}:
        return "integrations"
    if ("signal" in keys or "rule" in keys) and "expires" in keys:
        return "exception-body"
    if {"environment", "cluster", "namespace", "workload"} <= keys:
        return "decision-body"
    if keys == {"report"}:
        return "check-body"
    return None


def load_config_block(doc: dict[str, Any], work: Path, block: Block) -> None:
    """As clearance.yaml, beside the examples' policy and inventory. ``${VAR}`` references get
    a placeholder value and ``*_file`` references a placeholder file, as a deployment would."""
    doc = {"policy": "policy.yaml", **doc}
    doc.setdefault("inventory", {"name": "hosts", "type": "static", "path": "inventory.yaml"})
    if doc["inventory"].get("type") == "kubernetes":
        # Creating it loads every kubeconfig and context it names; validate its settings.
        settings = {k: v for k, v in doc["inventory"].items() if k not in ("name", "type")}
        KubernetesInventoryConfig.model_validate(settings)
        doc["inventory"] = {"name": "hosts", "type": "static", "path": "inventory.yaml"}
    text = yaml.safe_dump(doc)
    env = {name: f"<{name}>" for name in re.findall(r"\$\{(\w+)\}", text)}
    for entry in doc.get("sources", []):
        for key, value in entry.items():
            if key.endswith("_file"):
                (work / value).parent.mkdir(parents=True, exist_ok=True)
                (work / value).write_text("placeholder\n")
    path = work / "doc-clearance.yaml"
    path.write_text(text)
    config = load_config(path, env=env)
    assert config.sources or "sources" not in doc


_KUBECONFIG_USER = {
    "client-certificate", "client-key", "client-certificate-data", "client-key-data", "token",
    "tokenFile",
}  # fmt: skip


def load_kubeconfig_block(doc: dict[str, Any], work: Path, block: Block) -> None:
    """A kubeconfig the API server reads for a webhook (AdmissionConfiguration kubeConfigFile):
    only its users matter there, each with a client certificate or a token."""
    users = doc.get("users")
    assert isinstance(users, list), f"{block.where}: a kubeconfig's users is a list"
    assert users, f"{block.where}: names no user"
    for entry in users:
        assert set(entry) == {"name", "user"}, f"{block.where}: {entry}"
        assert set(entry["user"]) <= _KUBECONFIG_USER, f"{block.where}: {entry['user']}"


def load_policy_block(doc: Any, work: Path, block: Block) -> None:
    """A whole policy, or a fragment merged into examples/policy.yaml (as its docs describe)."""
    if isinstance(doc, list):
        doc = {"rules": doc}
    base = yaml.safe_load((ROOT / "examples/policy.yaml").read_text())
    if "rules" in doc:
        named = {r["name"] for r in doc["rules"]}
        doc = dict(doc, rules=[r for r in base["rules"] if r["name"] not in named] + doc["rules"])
    load_policy_text(yaml.safe_dump(merge(base, doc)), block.where)


def merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        return {k: merge(base[k], v) if k in base else v for k, v in extra.items()} | {
            k: v for k, v in base.items() if k not in extra
        }
    return extra


def load_policy_test_block(doc: dict[str, Any], work: Path, block: Block) -> None:
    """Runs as `clearance policy test` would, against the examples' policy: it must pass."""
    directory = work / "doc-tests"
    directory.mkdir()
    path = directory / "doc_test.yaml"
    path.write_text(yaml.safe_dump(doc))
    outcomes = run_file(path)
    assert outcomes
    assert all(o.passed for o in outcomes), [o for o in outcomes if not o.passed]


def load_static_inventory(doc: dict[str, Any], work: Path, block: Block) -> None:
    (work / "doc-inventory.yaml").write_text(yaml.safe_dump(doc))
    inventory = {"name": "h", "type": "static", "path": "doc-inventory.yaml"}
    load_config_block({"inventory": inventory}, work, block)


def load_server_block(doc: dict[str, Any], work: Path, block: Block) -> None:
    path = work / "doc-server.yaml"
    path.write_text(yaml.safe_dump(doc))
    env = {name: f"https://hooks.example/{name}" for name in re.findall(r"\$\{(\w+)\}", block.text)}
    load_server(path, env=env)


def load_integrations_block(doc: dict[str, Any], work: Path, block: Block) -> None:
    path = work / "doc-integrations.yaml"
    path.write_text(yaml.safe_dump(doc))
    env = {name: f"<{name}>" for name in re.findall(r"\$\{(\w+)\}", block.text)}
    load_integrations(path, env=env)


def validate_manifest(doc: dict[str, Any], work: Path, block: Block) -> None:
    kubernetes_validate.validate(doc, "1.37.0", strict=True)


def render_overlay(doc: dict[str, Any], work: Path, block: Block) -> None:
    """An overlay of deploy/ (a sibling directory, as the docs place it): it renders, and every
    object it yields validates."""
    shutil.copytree(ROOT / "deploy", work / "deploy")
    overlay = work / "my-clearance"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(doc))
    objects = render(overlay)
    assert any(o["kind"] == "Deployment" for o in objects)
    for obj in objects:
        # CRDs (cert-manager, the Prometheus Operator) are not in the core schemas; their own
        # tests check them (test_deploy_manifests.py, test_alert_rules.py).
        if not obj["apiVersion"].startswith(("cert-manager.io/", "monitoring.coreos.com/")):
            kubernetes_validate.validate(obj, "1.37.0", strict=True)


Loader = Callable[[Any, Path, Block], object]
LOADERS: dict[str, Loader] = {
    "config": load_config_block,
    "policy": load_policy_block,
    "policy-test": load_policy_test_block,
    "static-inventory": load_static_inventory,
    "server": load_server_block,
    "integrations": load_integrations_block,
    "kubernetes": validate_manifest,
    "kustomization": render_overlay,
    "kubeconfig": load_kubeconfig_block,
    "decision-body": lambda doc, work, block: bodies.DecisionRequest.model_validate(doc),
    "exception-body": lambda doc, work, block: bodies.ExceptionRequest.model_validate(doc),
    "check-body": lambda doc, work, block: bodies.CheckRequest.model_validate(doc),
}


# --- shell commands ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    block: Block
    text: str

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text)


def commands() -> list[Command]:
    """Every command line: `\\` continuations joined, a synopsis line's indented `[--flag]`
    continuation too; `;` and `|` separate commands."""
    found: list[Command] = []
    for block in blocks():
        shell = block.lang in ("sh", "bash", "console", "shell")
        logical: list[str] = []
        for raw in block.text.replace("\\\n", " ").splitlines():
            line = raw.split(" #", 1)[0].rstrip() if shell else raw
            if shell and logical and re.match(r"\s+(\[|--)", line):
                logical[-1] += " " + line.strip()
            else:
                logical.append(line)
        for line in logical:
            if not shell and not line.startswith("$ "):
                continue  # a diagram or program output
            text = line.removeprefix("$ ").split(" #", 1)[0].strip()
            text = re.sub(r"\s\d?>>?\s*\S+", "", text)  # a redirection is the shell's
            if text and not text.startswith("#"):
                parts = re.split(r" ; | \| ", text)
                found.extend(Command(block, part.strip()) for part in parts)
    return found


# Commands that are not Clearance's, or that cannot run here: pattern → why.
NOT_RUN = {
    r"^pip install ": "the install matrix installs the wheel with each extra (.ci/install-matrix)",
    r"^make install-matrix$": "what CI runs after the tests (.ci/run)",
    r"^make demo$": "the install matrix runs its command, `clearance demo`, in every install",
    r"^make test$": "what CI runs (.ci/run)",
    r"^make image": "needs a container engine; none runs here (CI runs the image's entrypoint: "
    "tests/e2e/test_image_entrypoint.py)",
    r"^export ": "sets a variable for the commands after it",
    r"^(head|jq|less)\b": "reads the output of the command before it",
    r"^kubectl (apply|create|rollout|label|-n|get|exec|wait|port-forward) ": "needs a cluster",
    r"^(docker|podman) (push|tag|run) ": "needs a container engine and a registry",
    r"^CLEARANCE_SCREENSHOTS=docs \.venv/bin/pytest -q tests/e2e/test_console_browser\.py$": "the "
    "browser tests, which the suite runs (this variable only keeps their screenshots in docs/)",
}
# Clearance commands that run here as written (in a copy of examples/): command → exit code.
RUNS = {
    "clearance policy validate policy.yaml": 0,
    "clearance policy test policy-tests/": 0,
    "clearance policy test examples/policy-tests": 0,
    "clearance tokens create ci --scope decide": 0,
    "clearance demo": 0,
    "clearance check --config examples/clearance.yaml --env production --cluster prod-eu "
    "--namespace shop --workload deployment/checkout --now 2026-11-28T12:00:00Z": 20,
    "clearance check --config examples/clearance.yaml --env production --cluster prod-eu "
    "--namespace shop --workload deployment/checkout --now 2026-11-28T12:00:00Z "
    "--evidence junit:examples/reports/junit-failing.xml "
    "--evidence sarif:examples/reports/semgrep.sarif": 20,
    "clearance check --config examples/clearance.yaml --env production --cluster prod-eu "
    "--namespace shop --workload deployment/checkout --now 2026-11-28T12:00:00Z "
    "--format sarif": 20,
    "clearance check --config examples/clearance.yaml --env production --cluster prod-eu "
    "--namespace shop --workload deployment/checkout --now 2026-11-28T12:00:00Z "
    "--format junit": 20,
    "clearance policy test examples/policy-tests --format junit": 0,
    "clearance policy test examples/policy-tests --format json": 0,
    "clearance completion bash": 0,
    "clearance completion zsh": 0,
    "clearance completion fish": 0,
}


def clearance_argv(argv: list[str]) -> list[str] | None:
    if argv and argv[0] in ("clearance", ".venv/bin/clearance"):
        return argv[1:]
    return None


def synopsis(argv: list[str]) -> list[str]:
    """A reference line as one invocation: `[optional]` parts taken, `a|b` as its first choice,
    a lone `…` (more of the same) dropped."""
    out = []
    for written in argv:
        token = written.strip("[]")
        if token in ("", "…"):
            continue
        out.append(token.split("|")[0])
    return out


@pytest.mark.parametrize("command", commands(), ids=lambda c: f"{c.block.where} {c.text[:60]}")
def test_every_shell_command_parses_or_is_listed(command: Command) -> None:
    argv = clearance_argv(command.argv)
    if argv is None:
        reasons = [why for pattern, why in NOT_RUN.items() if re.search(pattern, command.text)]
        if command.text.startswith("kubectl kustomize "):
            return  # runs below
        assert reasons, f"{command.block.where}: `{command.text}` is neither Clearance's nor listed"
        pytest.skip(reasons[0])
    if re.search(r"\[|\w\|\w| … | …$", command.text):
        argv = synopsis(argv)
    try:
        build_parser(argv).parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{command.block.where}: `{command.text}` does not parse (exit {exc.code})")


def runnable() -> list[Command]:
    return [c for c in commands() if " ".join(clearance_argv(c.argv) or ["-"]) in RUNS_ARGS]


RUNS_ARGS = {" ".join(k.split()[1:]) for k in RUNS}


@pytest.mark.parametrize("command", runnable(), ids=lambda c: f"{c.block.where} {c.text[:60]}")
def test_runnable_commands_run_as_written(command: Command, sandbox: Path) -> None:
    argv = clearance_argv(command.argv)
    assert argv is not None
    proc = subprocess.run(
        [str(BIN / "clearance"), *argv], check=False, capture_output=True, text=True, timeout=120
    )
    expected = RUNS[f"clearance {' '.join(argv)}"]
    assert proc.returncode == expected, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_readme_quick_start_runs_as_written(tmp_path: Path) -> None:
    """`.venv/bin/clearance check --demo … --explain`: the demo blocks checkout, and explains."""
    [quick] = [c for c in commands() if c.text.startswith(".venv/bin/clearance check --demo")]
    argv = clearance_argv(quick.argv)
    assert argv is not None
    proc = subprocess.run(
        [str(BIN / "clearance"), *argv], check=False, capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 20, proc.stderr
    assert "BLOCK" in proc.stdout


@pytest.mark.parametrize(
    "command",
    [c for c in commands() if c.text.startswith("kubectl kustomize ")],
    ids=lambda c: f"{c.block.where} {c.text}",
)
def test_kubectl_kustomize_commands_render(command: Command) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (tests/kustomize_lite.py renders deploy/ instead)")
    proc = subprocess.run(
        [kubectl, *command.argv[1:]], cwd=ROOT, check=False, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "kind: Deployment" in proc.stdout


def test_secret_references_in_docs_are_never_inline_credentials() -> None:
    """A doc never shows a credential written inline: secrets are ${VAR} or *_file."""
    secret_keys = ("client_secret", "api_token", "password", "secret_access_key", "private_key")
    for block in data_blocks():
        for key in secret_keys:
            for value in re.findall(rf"^\s*{key}:\s*(\S.*)$", block.text, re.M):
                assert value.startswith(("${", "'${", '"${')), f"{block.where}: {key}: {value}"


def test_the_docs_name_no_missing_file() -> None:
    """Links and `paths/like/this.md` in the docs point at files that exist."""
    missing = []
    for path in DOCS:
        text = path.read_text()
        for target in re.findall(r"\]\(([^)#\s]+)\)", text):
            if "://" in target:
                continue
            if not (path.parent / target).exists():
                missing.append(f"{path.relative_to(ROOT)}: {target}")
    assert not missing, missing
