"""Service settings: who may call (OIDC issuers, claim mappings, token groups), overload limits,
break-glass rules and the outbound webhook.

Read from the ``server:`` key of a YAML file (``clearance serve --settings FILE``; the file may
be ``clearance.yaml`` itself once its loader accepts the key) or from a file that holds only
these keys. Every field is optional; the defaults accept API tokens only::

    server:
      max_in_flight: 16            # requests deciding at once; beyond, wait up to queue_wait
      queue_wait: 0.5              # seconds (or the request's own deadline); then 429
      keep_alive: 100              # seconds an idle connection stays open (clients close first)
      read_cache: 0.5              # seconds other replicas' writes may take to be seen
      token_groups:                # API token name → groups (approval rights)
        alice: [security]
      principals:                  # joins between names of one person: never guessed
        email_domains: [example.com]       # alice@example.com is the person alice
        aliases: {"github:alice-gh": alice}
      oidc:
        - issuer: https://token.actions.githubusercontent.com
          audience: https://github.com/acme
          jwks_url: https://token.actions.githubusercontent.com/.well-known/jwks   # default
          subject_claim: actor     # which claim names the caller
          namespace: user          # whose names its claims are (default: user, as token owners)
          requester_claim: actor   # CI: the claim naming the person the run acts for
          groups_claim: null       # a claim holding a list of groups, if the issuer has one
          rules:                   # every rule whose claims all match adds its scopes/groups
            - claims: {repository: acme/shop, ref: refs/heads/main}
              scopes: [decide]
      break_glass:
        expires_after: 1h
        second_person: false
      notify:
        webhook_url: ${CLEARANCE_NOTIFY_URL}   # or webhook_url_file: a URL may carry a token
        retries: 3
        environments:              # approval events per environment (docs/notifications.md)
          production: {slack_webhook_url: ${SLACK_WEBHOOK}, teams_webhook_url: ${TEAMS_WEBHOOK}}
        slack: {signing_secret: ${SLACK_SIGNING_SECRET}, users: {U024BE7LH: {principal: alice}}}
      body_limits: {ingest: 16777216, decisions: 2097152, default: 65536}   # bytes
      future_skew: 5m              # pushed times later than now + this are refused
      console:                     # the approvers' web console (docs/console.md)
        url: https://clearance.example.com
        issuer: https://login.example.com    # one of the oidc issuers above
        client_id: clearance-console
        session_secret: ${CLEARANCE_SESSION_SECRET}
      audit:                       # signed checkpoints of the audit chain (docs/audit.md)
        signing_key: /etc/clearance/audit-key.pem     # Ed25519 PEM, kept outside the database
        checkpoint_every: 1000     # records
        checkpoint_interval: 5m    # and at least this often, new records or not
        checkpoints_file: /var/lib/clearance-anchor/checkpoints.jsonl  # append-only copy

``${VAR}`` and ``<secret>_file`` work in this file as in ``clearance.yaml``
(:mod:`clearance.secrets`); the webhook URL is held as a secret, since hooks often carry their
token in it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from clearance import bounded_yaml
from clearance.errors import ConfigError, InvalidPrincipalError
from clearance.model.principal import PrincipalMap, check_namespace
from clearance.policy.schema import Duration
from clearance.secrets import expand_environment, read_secret_files
from clearance.service.channels import NOTIFY_EVENTS, NotifyEvent
from clearance.store.interface import parse_scopes


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClaimRule(_Strict):
    """Claims to match (exact strings, or ``*`` globs) → the scopes and groups granted
    (``ingest:SOURCE`` grants ``ingest`` for that source only)."""

    claims: dict[str, str] = Field(min_length=1)
    scopes: list[str] = []

    @field_validator("scopes")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        parse_scopes(value)  # a ValueError naming the unknown scope
        return value

    groups: list[str] = []


class OidcIssuer(_Strict):
    issuer: str = Field(min_length=1)
    audience: str = Field(min_length=1)
    jwks_url: str | None = None
    subject_claim: str = Field(default="sub", min_length=1, description="names the caller")
    namespace: str = Field(
        default="user",
        description="the principal namespace of this issuer's names: 'user' joins them with "
        "API token owners (the same people); another keeps them apart",
    )
    requester_claim: str | None = Field(
        default=None,
        description="CI issuers: the claim naming the person the run acts for (GitHub Actions "
        "'actor', GitLab 'user_login'); that person, not the caller, requested a decision",
    )
    groups_claim: str | None = None
    algorithms: list[str] = ["RS256"]
    leeway: int = Field(default=30, ge=0, le=300, description="clock skew allowed, seconds")
    jwks_min_refetch: float = Field(
        default=1.0, ge=0, description="seconds between JWKS refetches for unknown key ids"
    )
    rules: list[ClaimRule] = []

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        try:
            return check_namespace(value)
        except InvalidPrincipalError as exc:
            raise ValueError(str(exc)) from exc

    @property
    def jwks(self) -> str:
        return self.jwks_url or self.issuer.rstrip("/") + "/.well-known/jwks"


class PrincipalSettings(_Strict):
    """Configured joins between names of one person (see ``clearance.model.principal``)."""

    email_domains: list[str] = Field(
        default=[], description="an address in these domains names the person of its local part"
    )
    aliases: dict[str, str] = Field(
        default={}, description="principal → the principal it also is ('github:alice-gh': alice)"
    )

    def build(self) -> PrincipalMap:
        return PrincipalMap.configure(self.email_domains, self.aliases)

    @model_validator(mode="after")
    def _joins(self) -> PrincipalSettings:
        try:
            self.build()
        except InvalidPrincipalError as exc:
            raise ValueError(str(exc)) from exc
        return self


class BreakGlassSettings(_Strict):
    expires_after: Duration = Duration("1h")
    second_person: bool = False


class ChannelSettings(_Strict):
    """Where one environment's approval events go (docs/notifications.md). Each URL is a
    secret: Slack incoming-webhook and Teams workflow URLs carry their own credential."""

    slack_webhook_url: SecretStr | None = None
    teams_webhook_url: SecretStr | None = None
    webhook_url: SecretStr | None = None  # generic JSON
    events: list[NotifyEvent] = list(NOTIFY_EVENTS)


class SlackUser(_Strict):
    principal: str = Field(min_length=1, description="the person this Slack user is")
    groups: list[str] = []


class SlackSettings(_Strict):
    """The Slack app's interaction endpoint (``POST /v1/integrations/slack/interactions``):
    requests are verified with the app's signing secret, within ``replay_window`` seconds of
    their timestamp, and the clicking Slack user acts only as the person mapped here."""

    signing_secret: SecretStr
    replay_window: int = Field(default=300, ge=30, le=900, description="seconds")
    users: dict[str, SlackUser] = Field(default={}, description="Slack user id → person")
    response_url_prefix: str = Field(
        default="https://hooks.slack.com/",
        description="the outcome of a click is posted back to the payload's response_url only "
        "when it starts with this (Slack's own host: never a URL of the sender's choosing)",
    )


class NotifySettings(_Strict):
    webhook_url: SecretStr | None = None  # a hook URL often carries its token
    retries: int = Field(default=3, ge=0, le=10)
    backoff: float = Field(default=0.5, ge=0, le=60)
    console_url: str | None = Field(
        default=None,
        description="links in messages: {console_url}/decisions/{id} (default: console.url)",
    )
    environments: dict[str, ChannelSettings] = {}
    slack: SlackSettings | None = None
    # How often to look for approval requests that expired unanswered and exceptions about to
    # expire (clearance.service.lapses), and how long before its expiry an exception is told.
    sweep_interval: Duration = Duration("1m")
    exception_warning: Duration = Duration("1d")


class ConsoleSettings(_Strict):
    """The approvers' web console (``docs/console.md``): people sign in with OIDC (authorization
    code + PKCE) at ``issuer``, one of the trusted ``oidc`` issuers, whose rules map their
    claims to scopes and groups exactly as for API callers. ``approve`` (or ``admin``) makes an
    approver; ``decide`` a read-only viewer; anyone else is refused after sign-in."""

    url: str = Field(
        pattern=r"^https?://[^/?#]+(/[^?#]*)?$",
        description="the console's public base URL; the OIDC redirect URI is "
        "{url}/console/callback and integrations link {url}/decisions/{id}",
    )
    issuer: str = Field(min_length=1, description="one of the oidc issuers, by its issuer URL")
    client_id: str = Field(min_length=1, description="the OIDC client registered for the console")
    client_secret: SecretStr | None = Field(
        default=None, description="a confidential client's secret; public clients use PKCE alone"
    )
    session_secret: SecretStr = Field(
        description="signs session cookies (32 characters or more; rotating it signs everyone out)"
    )
    scopes: list[str] = ["openid", "profile", "email"]
    session_lifetime: Duration = Duration("8h")

    @field_validator("session_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (it signs the session cookies)")
        return value


class WatchSettings(_Strict):
    """Watching after the deploy (clearance.service.watch): every ``interval``, deployed targets
    are decided again from the store; one that would now block alerts. ``null`` turns it off."""

    interval: Duration | None = Duration("1m")


class BodyLimitSettings(_Strict):
    """Bytes a request body may have, per route class; checked before any body is read."""

    ingest: int = Field(default=16 * 1024 * 1024, ge=1024, le=1024**3)
    # A target and the manifest being deployed (itself at most 1 MiB: clearance/manifest.py).
    decisions: int = Field(default=2 * 1024 * 1024, ge=1024, le=1024**3)
    admission: int = Field(default=3 * 1024 * 1024, ge=1024, le=1024**3)
    github: int = Field(default=1024 * 1024, ge=1024, le=1024**3)
    default: int = Field(default=64 * 1024, ge=1024, le=1024**3)


class AuditSettings(_Strict):
    """Signed checkpoints of the audit chain. Without ``signing_key`` none are written, and the
    service warns at start that its log is anchored only to itself. Relative paths are relative
    to the settings file."""

    signing_key: Path | None = None
    checkpoint_every: int = Field(default=1000, ge=1, le=10_000_000, description="records")
    checkpoint_interval: Duration = Duration("5m")
    checkpoints_file: Path | None = Field(
        default=None, description="an append-only file, or a directory, outside the database"
    )


class ServerSettings(_Strict):
    # Measured (docs/benchmarks.md, open loop): past capacity, more in flight only stretched
    # every answer (GIL contention starves the event loop that reads requests), and a long
    # queue_wait is a standing queue every accepted request waits through.
    max_in_flight: int = Field(default=16, ge=1, le=10_000)
    queue_wait: float = Field(default=0.5, ge=0, le=60, description="seconds")
    retry_after: int = Field(default=1, ge=1, le=3600, description="seconds, for 429/503")
    # Longer than clients keep an idle connection for reuse (the API server's webhook client:
    # 90 s; load balancers: 60 s), so they close it, never the service: a close that crosses a
    # request on the wire fails that request, and the API server does not retry an admission
    # call (its failurePolicy answers). uvicorn's own default is 5 s.
    keep_alive: int = Field(
        default=100, ge=1, le=3600, description="seconds an idle connection is kept open"
    )
    read_cache: float = Field(
        default=0.5,
        ge=0,
        le=60,
        description="seconds to reuse source health, exceptions and break-glass reads "
        "(this replica's own writes apply at once; 0 turns it off)",
    )
    token_groups: dict[str, list[str]] = {}
    principals: PrincipalSettings = PrincipalSettings()
    oidc: list[OidcIssuer] = []
    break_glass: BreakGlassSettings = BreakGlassSettings()
    notify: NotifySettings = NotifySettings()
    body_limits: BodyLimitSettings = BodyLimitSettings()
    future_skew: Duration = Field(
        default=Duration("5m"), description="how far past the service's clock a pushed time may be"
    )
    audit: AuditSettings = AuditSettings()
    console: ConsoleSettings | None = None
    watch: WatchSettings = WatchSettings()

    @model_validator(mode="after")
    def _console_issuer(self) -> ServerSettings:
        if self.console is not None and self.console.issuer not in {i.issuer for i in self.oidc}:
            raise ValueError(
                f"console.issuer {self.console.issuer!r} is not one of the oidc issuers: the "
                "console signs people in only where the API trusts the same issuer"
            )
        return self


def load_settings(path: Path | None, env: Mapping[str, str] | None = None) -> ServerSettings:
    """Settings from ``path`` (its ``server:`` key, or the whole file); defaults without one.
    ``${VAR}`` is filled from ``env`` (default: the process environment)."""
    if path is None:
        return ServerSettings()
    try:
        raw = bounded_yaml.load(path.read_text(encoding="utf-8"), str(path)) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read server settings {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if isinstance(raw, dict) and "server" in raw:
        raw = raw["server"] or {}
    try:
        raw = expand_environment(raw, os.environ if env is None else env, "server")
        raw = read_secret_files(raw, ServerSettings, path.parent, "server")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        settings = ServerSettings.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "document"
        raise ConfigError(f"{path}: server.{where}: {err['msg']}") from exc
    return settings.model_copy(update={"audit": _relative_to(settings.audit, path.parent)})


def _relative_to(audit: AuditSettings, base: Path) -> AuditSettings:
    key, copy = audit.signing_key, audit.checkpoints_file
    return audit.model_copy(
        update={
            "signing_key": None if key is None else base / key,
            "checkpoints_file": None if copy is None else base / copy,
        }
    )
