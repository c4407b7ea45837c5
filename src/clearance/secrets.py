"""Where settings, and above all secrets, come from: the file, the environment, or another file.

Every settings loader (``clearance.yaml``, the server settings, the integration settings) runs
the raw YAML through these two steps before validating it, so no credential ever has to be
written inline in a file that lands in a ConfigMap or a repository:

* **``${VAR}``** in any string value is replaced by the environment variable ``VAR``; ``$$`` is
  a literal ``$``. A variable that is not set is a :class:`ConfigError` naming the key and the
  variable, never a silent empty string. Keys are not expanded, and neither is the policy file
  (its exact bytes are what decisions record).
* **``<name>_file: PATH``** beside a secret setting ``<name>`` (a pydantic ``SecretStr`` field:
  ``client_secret``, ``api_token``, ``password``, ``private_key``, …) reads the value from that
  file, surrounding whitespace stripped (a mounted Kubernetes Secret, a Docker secret). Relative
  paths are relative to the settings file. Giving both is an error.

Values are read once, when the settings load: a rotated secret takes effect on restart. Error
messages name keys, variables and paths, never a value.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

from clearance.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

FILE_SUFFIX = "_file"
_REFERENCE = re.compile(r"\$(?:\$|\{([^}]*)\})")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def expand_environment(raw: Any, env: Mapping[str, str], where: str = "") -> Any:
    """``raw`` with ``${VAR}`` replaced in every string value (recursively), ``$$`` unescaped."""
    if isinstance(raw, str):
        return _expand(raw, env, where or "document")
    if isinstance(raw, dict):
        return {k: expand_environment(v, env, _join(where, str(k))) for k, v in raw.items()}
    if isinstance(raw, list):
        return [expand_environment(v, env, f"{where}[{i}]") for i, v in enumerate(raw)]
    return raw


def _expand(text: str, env: Mapping[str, str], where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        if not _NAME.fullmatch(name):
            raise ConfigError(
                f"{where}: ${{{name}}} is not a variable reference (write $$ for a literal $)"
            )
        if name not in env:
            raise ConfigError(
                f"{where}: environment variable {name} is not set (referenced as ${{{name}}})"
            )
        return env[name]

    return _REFERENCE.sub(replace, text)


def read_secret_files(raw: Any, model: type[BaseModel], base: Path, where: str = "") -> Any:
    """``raw`` with every ``<secret>_file`` key of ``model`` (and its nested models) replaced by
    ``<secret>``: the file's content. Anything that is not a mapping is left to validation."""
    if not isinstance(raw, dict):
        return raw
    out = dict(raw)
    for name, field in model.model_fields.items():
        key = field.alias or name
        file_key = key + FILE_SUFFIX
        if _is_secret(field.annotation) and file_key in out:
            if key in out:
                raise ConfigError(f"{_join(where, key)}: give {key} or {file_key}, not both")
            out[key] = _read(out.pop(file_key), base, _join(where, file_key))
        elif key in out:
            out[key] = _nested(out[key], field.annotation, base, _join(where, key))
    return out


def _nested(value: Any, annotation: Any, base: Path, where: str) -> Any:
    """Descend into nested models, lists/tuples of models and mappings of models."""
    from pydantic import BaseModel  # noqa: PLC0415 - only pydantic settings have secrets

    for candidate in _members(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return read_secret_files(value, candidate, base, where)
        origin, args = get_origin(candidate), get_args(candidate)
        if origin in (list, tuple) and args and isinstance(value, list):
            return [_nested(v, args[0], base, f"{where}[{i}]") for i, v in enumerate(value)]
        if origin is dict and len(args) == 2 and isinstance(value, dict):
            return {k: _nested(v, args[1], base, _join(where, str(k))) for k, v in value.items()}
    return value


def _members(annotation: Any) -> tuple[Any, ...]:
    """The alternatives of ``X | Y`` / ``Optional[X]``, else the annotation itself."""
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(a for a in get_args(annotation) if a is not type(None))
    return (annotation,)


def _is_secret(annotation: Any) -> bool:
    from pydantic import SecretStr  # noqa: PLC0415 - only pydantic settings have secrets

    return any(a is SecretStr for a in _members(annotation))


def _read(path: Any, base: Path, where: str) -> str:
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{where}: must be a file path")
    file = Path(path).expanduser()
    file = file if file.is_absolute() else base / file
    try:
        return file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {file}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: {file} is not UTF-8 text") from exc


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
