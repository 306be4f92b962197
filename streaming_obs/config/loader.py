"""Loads `base.yaml`, overlays `<env>.yaml`, then `STREAMING_OBS_*` variables, and validates.

Every value remembers where it came from, so a bad value is reported as one line naming the file
(or the environment variable) and the key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from streaming_obs.config.models import KeyedValueError, Settings
from streaming_obs.errors import ConfigError, InvalidIdentifierError

__all__ = ["ENVIRONMENTS", "ENV_PREFIX", "load_settings", "config_hash", "conf_dir"]

ENVIRONMENTS = ("local", "dev", "staging", "prod")
ENV_PREFIX = "STREAMING_OBS_"
# Variables with this prefix that are not config keys (secrets, the conf dir itself).
_RESERVED_VARS = {
    "STREAMING_OBS_CONF_DIR", "STREAMING_OBS_PII_SALT", "STREAMING_OBS_ENV", "STREAMING_OBS_CACHE",
    "STREAMING_OBS_DELTA_JARS", "STREAMING_OBS_PYENV_ARCHIVE", "STREAMING_OBS_SUBMIT_DRY_RUN",
}


def conf_dir(override: str | os.PathLike[str] | None = None) -> Traversable:
    """The directory holding base.yaml and friends: an override, $STREAMING_OBS_CONF_DIR,
    or the copy shipped inside the wheel."""
    chosen = override or os.environ.get("STREAMING_OBS_CONF_DIR")
    if chosen:
        return Path(chosen)
    return files("streaming_obs.conf")


def _read_yaml(node: Traversable, label: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(node.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise ConfigError(label, where, f"not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(label, "(top)", "the file must hold a mapping of keys")
    return data


def _overlay(
    base: dict[str, Any], top: Mapping[str, Any], label: str, origin: dict[str, str], prefix: str = ""
) -> dict[str, Any]:
    """Deep-merge `top` into `base`; dictionaries merge, everything else replaces."""
    out = dict(base)
    for key, value in top.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _overlay(out[key], value, label, origin, dotted + ".")
        else:
            out[key] = value
            origin[dotted] = label
            # A replaced subtree now comes wholly from `label`.
            for k in [k for k in origin if k.startswith(dotted + ".")]:
                origin[k] = label
    return out


def _env_overrides(environ: Mapping[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """STREAMING_OBS_TRIGGER__INTERVAL_SECONDS=5 -> {'trigger': {'interval_seconds': 5}}."""
    found = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in _RESERVED_VARS:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        try:
            value = yaml.safe_load(environ[name])
        except yaml.YAMLError:
            value = environ[name]
        nested: dict[str, Any] = {}
        cursor = nested
        for part in path[:-1]:
            cursor = cursor.setdefault(part, {})
        cursor[path[-1]] = value
        found.append((f"${name}", nested))
    return found


def _origin_of(loc: tuple[Any, ...], origin: dict[str, str], default: str) -> str:
    parts = [str(p) for p in loc]
    while parts:
        hit = origin.get(".".join(parts))
        if hit:
            return hit
        parts.pop()
    return default


def load_settings(
    env: str = "local",
    *,
    config_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings of one environment.

    Args:
        env: one of ``local``, ``dev``, ``staging``, ``prod`` (or any ``<env>.yaml`` present).
        config_dir: directory with the YAML files; default: the files shipped in the wheel.
        environ: environment variables to read ``STREAMING_OBS_*`` overrides from (default os.environ).
        overrides: last-layer values from code (tests, CLI flags), labelled ``<overrides>``.

    Returns:
        The validated :class:`Settings`.

    Raises:
        ConfigError: a file is missing or malformed, or a value is invalid; names file and key.
    """
    directory = conf_dir(config_dir)
    environ = os.environ if environ is None else environ
    origin: dict[str, str] = {}
    merged: dict[str, Any] = {}
    for stem in ("base", env):
        node = directory / f"{stem}.yaml"
        label = f"{_label(directory)}/{stem}.yaml"
        if not node.is_file():
            raise ConfigError(label, "(file)", f"not found; environments: {', '.join(ENVIRONMENTS)}")
        merged = _overlay(merged, _read_yaml(node, label), label, origin)
    for label, nested in _env_overrides(environ):
        merged = _overlay(merged, nested, label, origin)
    if overrides:
        merged = _overlay(merged, dict(overrides), "<overrides>", origin)
    merged.setdefault("env", env)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, KeyedValueError):  # a field validator that names a key below it
            loc += ctx_error.loc
        key = ".".join(str(p) for p in loc) or "(top)"
        source = _origin_of(loc, origin, f"{_label(directory)}/{env}.yaml")
        msg = str(ctx_error) if isinstance(ctx_error, (ValueError, InvalidIdentifierError)) else err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        raise ConfigError(source, key, msg) from None


def _label(directory: Traversable) -> str:
    return str(directory) if isinstance(directory, Path) else "conf"


def config_hash(settings: Settings) -> str:
    """A short stable hash of the effective settings, recorded in the audit table."""
    blob = json.dumps(settings.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
