"""What every pull source's ``SourcePlugin.create`` does before building itself: make sure the
registry handed it its own config model, so a mix-up fails at start-up naming the source."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from clearance.errors import SourceError

__all__ = ["checked_config"]

ConfigT = TypeVar("ConfigT", bound=BaseModel)


def checked_config(name: str, config: BaseModel, expected: type[ConfigT], kind: str) -> ConfigT:
    """``config`` as ``expected``; a SourceError naming source ``name`` if it is another model."""
    if not isinstance(config, expected):
        raise SourceError(name, f"expected a {kind} config, got {type(config).__name__}")
    return config
