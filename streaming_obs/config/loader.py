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

__all__ = ["BUDGETS_FILE", "ENVIRONMENTS", "ENV_PREFIX", "RESERVED_VARS", "load_settings", "config_hash", "conf_dir", "decode_utf8",
           "yaml_problem"]

ENVIRONMENTS = ("local", "dev", "staging", "prod")
ENV_PREFIX = "STREAMING_OBS_"
#: Variables with the prefix that are not config keys: the conf dir, the CLI's --env, the salt,
#: and every knob of spark-submit.sh (tests/cli/test_cli_options.py checks the script reads no other).
RESERVED_VARS = frozenset({
    "STREAMING_OBS_CONF_DIR", "STREAMING_OBS_ENV", "STREAMING_OBS_PII_SALT",
    "STREAMING_OBS_CACHE", "STREAMING_OBS_DELTA_JARS", "STREAMING_OBS_DELTA_PACKAGE", "STREAMING_OBS_PYENV_ARCHIVE",
    "STREAMING_OBS_PYTHON", "STREAMING_OBS_SPARK_LOG_LEVEL", "STREAMING_OBS_SUBMIT_DRY_RUN", "STREAMING_OBS_WHEEL",
})


def conf_dir(override: str | os.PathLike[str] | None = None) -> Traversable:
    """The directory holding base.yaml and friends: an override, $STREAMING_OBS_CONF_DIR,
    or the copy shipped inside the wheel."""
    chosen = override or os.environ.get("STREAMING_OBS_CONF_DIR")
    if chosen:
        return Path(chosen)
    return files("streaming_obs.conf")


def decode_utf8(raw: bytes) -> str:
    """`raw` as UTF-8 text.

    Raises:
        ValueError: ``line <n>: not UTF-8 (byte 0x.. at column <c>)``.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ValueError(f"line {line}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {column})") from None


def yaml_problem(exc: yaml.YAMLError, text: str) -> tuple[str, str]:
    """(where, what) of a YAML error, each on one line: ``("line 3", "not valid YAML (...)")``."""
    mark = getattr(exc, "problem_mark", None)
    position = getattr(exc, "position", None)  # ReaderError: a character YAML does not allow
    if mark is not None:
        where = f"line {mark.line + 1}"
    elif isinstance(position, int):
        where = f"line {text.count(chr(10), 0, position) + 1}"
    else:
        where = "?"
    problem = getattr(exc, "problem", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return where, f"not valid YAML ({problem})"


def _read_yaml(node: Traversable, label: str) -> dict[str, Any]:
    try:
        text = decode_utf8(node.read_bytes())
    except OSError as exc:
        raise ConfigError(label, "(file)", f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    except ValueError as exc:
        where, _, problem = str(exc).partition(": ")
        raise ConfigError(label, where, problem) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(label, *yaml_problem(exc, text)) from None
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
        if not name.startswith(ENV_PREFIX) or name in RESERVED_VARS:
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
    merged = _with_budgets(merged, directory, origin)
    for label, nested in _env_overrides(environ):
        merged = _overlay(merged, nested, label, origin)
    if overrides:
        merged = _overlay(merged, dict(overrides), "<overrides>", origin)
    merged.setdefault("env", env)
    try:
        settings = Settings.model_validate(merged)
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
    if config_dir or os.environ.get("STREAMING_OBS_CONF_DIR"):  # as conf_dir() chose
        settings = _rules_in_config_dir(settings, directory)
    settings._origins = dict(origin)
    return settings


#: the optional budgets file beside base.yaml (docs/budgets.md)
BUDGETS_FILE = "budgets.yaml"


def _with_budgets(merged: dict[str, Any], directory: Traversable, origin: dict[str, str]) -> dict[str, Any]:
    """Overlay `budgets.yaml` from the config directory when it exists: its one key, `budgets`,
    becomes the settings' `budgets` (labelled with the file, so a bad value names it)."""
    node = directory / BUDGETS_FILE
    if not node.is_file():
        return merged
    label = f"{_label(directory)}/{BUDGETS_FILE}"
    data = _read_yaml(node, label)
    unknown = sorted(set(data) - {"budgets"})
    if unknown:
        raise ConfigError(label, str(unknown[0]), "unknown key (the file holds one key, `budgets`: a list of budgets)")
    if data.get("budgets") is None:
        return merged
    if not isinstance(data["budgets"], list):
        raise ConfigError(label, "budgets", f"must be a list of budgets, not {type(data['budgets']).__name__}")
    return _overlay(merged, {"budgets": data["budgets"]}, label, origin)


def _rules_in_config_dir(settings: Settings, directory: Traversable) -> Settings:
    """A relative `quality.rules_file` that exists in an explicit config directory is that file:
    the rules beside base.yaml belong with it, and must not be passed over for the shipped ones.
    (Only then: the shipped settings keep the plain name, so their hash does not depend on
    where the wheel is installed.)"""
    name = settings.quality.rules_file
    if not isinstance(directory, Path) or Path(name).is_absolute():
        return settings
    candidate = directory / name
    if not candidate.is_file():
        return settings
    quality = settings.quality.model_copy(update={"rules_file": os.path.abspath(candidate)})
    return settings.model_copy(update={"quality": quality})


def _label(directory: Traversable) -> str:
    return str(directory) if isinstance(directory, Path) else "conf"


def config_hash(settings: Settings) -> str:
    """A short stable hash of the effective settings, recorded in the audit table."""
    blob = json.dumps(settings.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
