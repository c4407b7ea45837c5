"""Integration settings: how each dialect's request is mapped to a Clearance target.

GitHub names an environment, Flagger a canary, the API server a namespace: none of them names a
Clearance environment and cluster, so the mapping is configuration, validated with pydantic so a
bad file fails at start-up naming the field. Loaded from YAML (``$CLEARANCE_INTEGRATIONS``)::

    console_url: https://clearance.example.com
    github:
      app_id: Iv23liABCDEF                # the App's client ID (or numeric app id)
      private_key_path: /secrets/github-app.pem
      webhook_secret_path: /secrets/github-webhook-secret
      namespace: user                     # whose names GitHub logins are (the sender: requester)
      environments:
        "acme/shop:production": {environment: production, cluster: prod-eu,
                                 namespace: shop, workload: deployment/checkout,
                                 images: ["ghcr.io/acme/checkout:{sha}"]}
      checks:                             # the decided commit's required checks as evidence
        repository: acme/shop
        branch: main                      # whose protection (and rulesets) name the required
        installation_id: 4242             # as the App (or token_file: a read-only token)
    admission:
      cluster: prod-eu
      namespaces: {shop: production}
      default_environment: development
      approve: {production: deny, development: warn}
      unknown_kind: deny
      on_error: deny
    argo: {cluster: prod-eu, environment: production}
    flagger: {cluster: prod-eu, namespaces: {test: staging}, default_environment: staging}

``${VAR}`` and ``<secret>_file`` work here as in ``clearance.yaml`` (:mod:`clearance.secrets`):
``private_key_file`` and ``webhook_secret_file`` are read at start; the older
``private_key_path`` and ``webhook_secret_path`` are read on each use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from clearance import bounded_yaml
from clearance.errors import ConfigError
from clearance.secrets import expand_environment, read_secret_files

Stance = Literal["allow", "deny"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetTemplate(_Model):
    """A Clearance target; ``{sha}`` and ``{ref}`` in images are filled from the deployment."""

    environment: str = Field(min_length=1)
    cluster: str = Field(min_length=1)
    namespace: str = Field(min_length=1)
    workload: str = Field(min_length=3, pattern=r"^[^/]+/[^/]+$")
    images: tuple[str, ...] = ()


class ChecksSettings(_Model):
    """Read the check runs of each decided commit (the target's ``change.commit``) from
    GitHub's checks API, as ``github-checks`` evidence (docs/evidence.md). ``required``: the
    checks that must pass; unset, the branch's protection and rulesets name them.
    ``environments``: where to read them (empty: every environment)."""

    repository: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    branch: str = Field(default="main", min_length=1)
    installation_id: int | None = None
    token: SecretStr | None = None
    required: list[str] | None = None
    environments: list[str] = []

    @model_validator(mode="after")
    def _credential(self) -> ChecksSettings:
        if (self.installation_id is None) == (self.token is None):
            raise ValueError("give one of installation_id (as the App) or token")
        return self


class GitHubSettings(_Model):
    app_id: str = Field(min_length=1, description="client ID (recommended) or numeric app id")
    private_key: SecretStr | None = None
    private_key_path: Path | None = None
    webhook_secret: SecretStr | None = None
    webhook_secret_path: Path | None = None
    api_url: str = "https://api.github.com"
    # "owner/repo:environment" first, then "environment" alone.
    environments: dict[str, TargetTemplate] = {}
    retries: int = Field(default=5, ge=0, le=10)
    backoff_seconds: float = Field(default=2.0, ge=0)
    # The sender of a signed delivery asked for the deployment: its login is a principal in
    # this namespace ("user": the same people as API token owners; see docs/approvals.md).
    namespace: str = Field(default="user", pattern=r"^[a-z][a-z0-9.-]{0,62}$")
    checks: ChecksSettings | None = None

    def key_pem(self) -> str:
        return _secret(self.private_key, self.private_key_path, "github.private_key")

    def secret(self) -> bytes:
        return _secret(
            self.webhook_secret, self.webhook_secret_path, "github.webhook_secret"
        ).encode()

    def target_for(self, repository: str, environment: str) -> TargetTemplate | None:
        return self.environments.get(f"{repository}:{environment}") or self.environments.get(
            environment
        )


class AdmissionSettings(_Model):
    cluster: str = Field(min_length=1)
    namespaces: dict[str, str] = {}  # namespace → Clearance environment
    default_environment: str | None = None
    # approve → deny (default: fail closed) or warn (allowed with a warning), per environment.
    approve: dict[str, Literal["deny", "warn"]] = {}
    unknown_kind: Stance = "deny"  # an object Clearance cannot read a pod template from
    on_error: Stance = "deny"  # Clearance cannot decide (unmapped namespace, store down, …)
    # Who may call: a bearer credential (a kubeconfig token for the webhook, given to the API
    # server with --admission-control-config-file), or a client certificate verified against
    # `serve --tls-client-ca` whose common name or DNS name is in client_subjects. false is the
    # explicit insecure mode: requests without either are recorded as the cluster, a warning is
    # logged at start-up and clearance_insecure_admission is 1 in /metrics.
    require_auth: bool = True
    client_subjects: list[str] = []

    def environment_for(self, namespace: str) -> str | None:
        return self.namespaces.get(namespace, self.default_environment)


class ArgoSettings(_Model):
    cluster: str | None = None
    environment: str | None = None


class FlaggerSettings(_Model):
    cluster: str = Field(min_length=1)
    namespaces: dict[str, str] = {}
    default_environment: str | None = None

    def environment_for(self, namespace: str) -> str | None:
        return self.namespaces.get(namespace, self.default_environment)


class IntegrationSettings(_Model):
    console_url: str | None = None  # where a person approves: {console_url}/decisions/{id}
    github: GitHubSettings | None = None
    admission: AdmissionSettings | None = None
    argo: ArgoSettings = ArgoSettings()
    flagger: FlaggerSettings | None = None

    def decision_url(self, decision_id: str) -> str | None:
        if not self.console_url:
            return None
        return f"{self.console_url.rstrip('/')}/decisions/{decision_id}"


def load_settings(path: Path, env: Mapping[str, str] | None = None) -> IntegrationSettings:
    """Settings from ``path``; ``${VAR}`` is filled from ``env`` (default: the environment)."""
    try:
        raw = bounded_yaml.load(path.read_text(encoding="utf-8"), str(path)) or {}
        raw = expand_environment(raw, os.environ if env is None else env)
        raw = read_secret_files(raw, IntegrationSettings, path.parent)
        return IntegrationSettings.model_validate(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "document"
        raise ConfigError(f"{path}: {where}: {err['msg']}") from exc


def _secret(value: SecretStr | None, path: Path | None, name: str) -> str:
    if value is not None:
        return value.get_secret_value()
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}: cannot read {path}: {exc.strerror}") from exc
    raise ConfigError(f"{name} (or {name}_path) is required")
