"""``clearance.yaml``: which sources, which inventory, which policy.

Plugins are loaded in two steps (validate the config, then create) so that a bad entry fails at
start-up naming the source. The document and the built-in plugins' settings are msgspec structs
(:mod:`clearance.validation`): a local ``check`` never imports pydantic, which the vendor
sources' settings and ``ingest:`` (validated only when present) still use. Built-in types are
looked up directly; others through the ``clearance.sources`` / ``clearance.inventories`` entry
points, so a user can add one without touching Clearance. Relative paths are relative to the
config file.

    policy: policy.yaml
    sources:
      - {name: edr-export, type: file, path: signals.jsonl}
    inventory: {name: hosts, type: static, path: inventory.yaml}
    store: sqlite:///clearance.db    # optional: `check` decides from what sync/ingest stored
    ingest:                          # optional: see clearance.ingest.settings
      falco: {default: {cluster: prod-eu}}
    quarantine: {keep: 10000, max_age: 30d}   # optional: refused items kept per source
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import yaml
from msgspec import Meta

from clearance import bounded_yaml
from clearance.errors import ConfigError
from clearance.inventory.interface import Inventory, InventoryPlugin
from clearance.model.quarantine import DEFAULT_RETENTION, Retention
from clearance.policy.schema import Duration, duration_seconds
from clearance.secrets import expand_environment, read_secret_files
from clearance.sources.interface import Source, SourcePlugin
from clearance.validation import SchemaError, first_error, validate

if TYPE_CHECKING:
    from clearance.ingest.settings import IngestSettings

CONFIG_ENV = "CLEARANCE_CONFIG"
DEFAULT_CONFIG = Path("clearance.yaml")

_BUILTIN_SOURCES = {"file": "clearance.sources.file:FileSource"}
_BUILTIN_INVENTORIES = {"static": "clearance.inventory.static:StaticInventory"}
# The top-level module of an optional dependency → the extra that installs it: what to tell a
# user whose plugin (or command, ``clearance.cli``) failed to import for want of it.
EXTRAS: dict[str, str] = {
    "sqlalchemy": "server",
    "alembic": "server",
    "fastapi": "server",
    "starlette": "server",
    "uvicorn": "server",
    "prometheus_client": "server",
    "jwt": "server",
    "cryptography": "server",
    "psycopg": "postgres",
    "falconpy": "crowdstrike",
    "boto3": "aws",
    "botocore": "aws",
    "lightkube": "kubernetes",
    "httpx2": "kubernetes",
    "nats": "nats",
}


class PluginEntry(msgspec.Struct, frozen=True, kw_only=True):
    """``name`` and ``type``, the sync settings below, and the plugin's own settings: every
    other key of the entry, validated by the plugin's ``Config`` (see :func:`_settings`)."""

    name: Annotated[str, Meta(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    type: Annotated[str, Meta(min_length=1)]
    every: Duration = Duration("60s")  # how often `sync` pulls it
    retries: Annotated[int, Meta(ge=0, le=10)] = 3


class SyncSettings(msgspec.Struct, frozen=True):
    every_seconds: int
    retries: int


class QuarantineSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``quarantine:``: what each source keeps of the items it refused (newest first)."""

    keep: Annotated[int, Meta(ge=1, le=10_000_000)] = DEFAULT_RETENTION.keep
    max_age: Duration = Duration("30d")

    def retention(self) -> Retention:
        return Retention(self.keep, duration_seconds(self.max_age))


@cache
def _no_ingest() -> IngestSettings:
    """The defaults, built once: the ingest routes ask on every request."""
    from clearance.ingest.settings import IngestSettings  # noqa: PLC0415 - see Config.ingest

    return IngestSettings()


def _ingest_settings(value: object) -> IngestSettings:
    """``ingest:`` validated by its own (pydantic) model, loaded only for a configuration that
    has the key: ``check`` reads no push receiver's settings. Its errors are reported under
    ``ingest``, as a nested model's were."""
    from pydantic import ValidationError  # noqa: PLC0415 - see the docstring

    from clearance.ingest.settings import IngestSettings  # noqa: PLC0415 - see the docstring

    try:
        return IngestSettings.model_validate(value)
    except ValidationError as exc:
        errors = [{**e, "loc": ("ingest", *e["loc"])} for e in exc.errors()]
        raise SchemaError(errors) from exc


class ConfigDocument(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    policy: Path
    sources: list[PluginEntry] = []
    inventory: PluginEntry
    # Push receivers and the Falco NATS consumer, as written: validated by IngestSettings (see
    # _ingest_settings); None: no ``ingest:`` (Config.ingest's defaults).
    ingest: Any = None
    quarantine: QuarantineSettings = QuarantineSettings()
    # The store sync, ingest and serve write and `check` reads (a database URL); None: check
    # reads the sources now, and the other commands use --database / the default.
    store: Annotated[str, Meta(min_length=1)] | None = None


_FIELDS: tuple[str, ...] = ConfigDocument.__struct_fields__  # their order: the errors' order


class Config(msgspec.Struct, frozen=True):
    path: Path
    policy_path: Path
    sources: tuple[Source, ...]
    inventory: Inventory
    sync: dict[str, SyncSettings]
    ingest_settings: IngestSettings | None = None  # None: clearance.yaml has no ``ingest:``
    quarantine: Retention = DEFAULT_RETENTION

    @property
    def pulled(self) -> frozenset[str]:
        """Sources ``sync`` owns: their signals are the platform's word, never a pusher's."""
        return frozenset(s.name for s in self.sources)

    @property
    def ingest(self) -> IngestSettings:
        """The push receivers' and the Falco NATS consumer's settings (their defaults without
        ``ingest:``); their models load when a command asks for them, never for ``check``."""
        return _no_ingest() if self.ingest_settings is None else self.ingest_settings

    store: str | None = None

    def close(self) -> None:
        """Close every source (their connections): whoever loaded the configuration calls it
        when done with the sources."""
        for source in self.sources:
            source.close()


def locate(explicit: str | None) -> Path:
    """``--config``, else ``$CLEARANCE_CONFIG``, else ``./clearance.yaml``."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get(CONFIG_ENV):
        return Path(env)
    return DEFAULT_CONFIG


# Said after a mistake in clearance.yaml itself, and only then (not after a bad flag or token).
CONFIG_TIP = "see examples/clearance.yaml, or run with --demo to use the built-in demo"


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate ``path``: ``${VAR}`` references are filled from ``env`` (default: the
    process environment) and ``<secret>_file`` keys read (see :mod:`clearance.secrets`)."""
    try:
        return _load_config(path, env)
    except ConfigError as exc:
        if exc.tip is None:
            exc.tip = CONFIG_TIP
        raise


def _load_config(path: Path, env: Mapping[str, str] | None) -> Config:
    try:
        raw = bounded_yaml.load(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError as exc:
        raise ConfigError(
            f"no configuration at {path} (set --config or {CONFIG_ENV}, or use --demo)"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    try:
        raw = expand_environment(raw, os.environ if env is None else env)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    doc, ingest = _document(raw, path)
    base = path.parent
    names = [s.name for s in doc.sources]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: source names must be unique, got {names}")
    sources = tuple(
        _create(
            entry, _settings(raw, "sources", i), _BUILTIN_SOURCES, "clearance.sources", base, path
        )
        for i, entry in enumerate(doc.sources)
    )
    inventory = _create(
        doc.inventory,
        _settings(raw, "inventory"),
        _BUILTIN_INVENTORIES,
        "clearance.inventories",
        base,
        path,
    )
    policy_path = doc.policy if doc.policy.is_absolute() else base / doc.policy
    return Config(
        path=path,
        policy_path=policy_path,
        sources=sources,  # type: ignore[arg-type]
        inventory=inventory,  # type: ignore[arg-type]
        sync={
            s.name: SyncSettings(every_seconds=duration_seconds(s.every), retries=s.retries)
            for s in doc.sources
        },
        ingest_settings=ingest,
        quarantine=doc.quarantine.retention(),
        store=doc.store,
    )


def _document(raw: Any, path: Path) -> tuple[ConfigDocument, IngestSettings | None]:
    """The document and its ``ingest:``; the first problem of either (in the order of the
    document's fields, as one model reported them) is a ConfigError."""
    errors: list[dict[str, Any]] = []
    doc: ConfigDocument | None = None
    ingest: IngestSettings | None = None
    try:
        doc = validate(raw, ConfigDocument)
    except SchemaError as exc:
        errors += exc.errors()
    if isinstance(raw, dict) and "ingest" in raw:
        try:
            ingest = _ingest_settings(raw["ingest"])
        except SchemaError as exc:
            errors += exc.errors()
    if errors or doc is None:
        errors.sort(
            key=lambda e: (
                _FIELDS.index(e["loc"][0]) if e["loc"][:1] and e["loc"][0] in _FIELDS else -1
            )
        )
        raise ConfigError(f"{path}: {first_error(SchemaError(errors))}")
    return doc, ingest


def _settings(raw: dict[str, Any], *where: str | int) -> dict[str, Any]:
    """A plugin entry's own settings: its keys other than :class:`PluginEntry`'s."""
    entry: Any = raw
    for part in where:
        entry = entry[part]
    return {k: v for k, v in entry.items() if k not in PluginEntry.__struct_fields__}


def _create(
    entry: PluginEntry,
    settings: dict[str, Any],
    builtins: dict[str, str],
    group: str,
    base: Path,
    path: Path,
) -> Source | Inventory:
    plugin = _plugin(entry.type, builtins, group, path)
    where = f"{path}: {entry.type} {entry.name!r}"
    if issubclass(plugin.Config, msgspec.Struct):
        try:
            config = validate(settings, plugin.Config)
        except SchemaError as exc:
            raise ConfigError(f"{where}: {first_error(exc)}") from exc
        return plugin.create(entry.name, config, base_dir=base)
    # A pydantic model: a vendor source's or another package's; secrets may come from files.
    from pydantic import ValidationError  # noqa: PLC0415 - the built-in plugins do not need it

    try:
        settings = read_secret_files(settings, plugin.Config, base)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    try:
        config = plugin.Config.model_validate(settings)
    except ValidationError as exc:
        err = exc.errors()[0]
        location = ".".join(str(p) for p in err["loc"]) or "document"
        raise ConfigError(f"{where}: {location}: {err['msg']}") from exc
    return plugin.create(entry.name, config, base_dir=base)


def _plugin(
    kind: str, builtins: dict[str, str], group: str, path: Path
) -> SourcePlugin | InventoryPlugin:
    target = builtins.get(kind)
    if target is None:
        from importlib.metadata import entry_points  # noqa: PLC0415 - scans installed packages: only for others

        found = [ep for ep in entry_points(group=group) if ep.name == kind]
        if not found:
            known = sorted({*builtins, *(ep.name for ep in entry_points(group=group))})
            raise ConfigError(f"{path}: unknown type {kind!r} (known: {', '.join(known)})")
        target = found[0].value
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = EXTRAS.get((exc.name or "").partition(".")[0], "all")
        raise ConfigError(
            f"{path}: type {kind!r} needs an optional dependency ({exc.name}): "
            f"pip install 'clearance[{extra}]'"
        ) from exc
    plugin: SourcePlugin | InventoryPlugin = getattr(module, attr)
    return plugin
