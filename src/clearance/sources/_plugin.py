"""What every pull source's ``SourcePlugin.create`` does before building itself: make sure the
registry handed it its own config model, so a mix-up fails at start-up naming the source, and
that the SDK it needs is installed, so a missing extra is a configuration error at start-up
rather than a source that is "down" on every sync."""

from __future__ import annotations

import importlib.util
from typing import TypeVar

from pydantic import BaseModel

from clearance.errors import ConfigError, SourceError

__all__ = ["checked_config", "require_sdk"]

ConfigT = TypeVar("ConfigT", bound=BaseModel)


def checked_config(name: str, config: BaseModel, expected: type[ConfigT], kind: str) -> ConfigT:
    """``config`` as ``expected``; a SourceError naming source ``name`` if it is another model."""
    if not isinstance(config, expected):
        raise SourceError(name, f"expected a {kind} config, got {type(config).__name__}")
    return config


def require_sdk(name: str, kind: str, module: str, extra: str) -> None:
    """ConfigError naming the extra when ``module`` (the vendor SDK) cannot be imported."""
    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"source {name!r}: type {kind!r} needs {module}: pip install 'clearance[{extra}]'"
        )
