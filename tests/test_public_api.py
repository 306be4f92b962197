"""The public names of each public module import and are what __all__ says."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "streaming_obs", "streaming_obs.config", "streaming_obs.errors", "streaming_obs.tables",
    "streaming_obs.session", "streaming_obs.sqlfiles", "streaming_obs.identifiers", "streaming_obs.bronze",
    "streaming_obs.silver", "streaming_obs.gold", "streaming_obs.quality", "streaming_obs.telemetry",
    "streaming_obs.resilience", "streaming_obs.ops", "streaming_obs.runner", "streaming_obs.cli",
    "streaming_obs.sources.readers", "streaming_obs.sources.schemas", "streaming_obs.sources.simulator",
    "streaming_obs.quality.static", "streaming_obs.quality.sql_expr", "streaming_obs.quality.regex_safety",
    "streaming_obs.telemetry.preflight",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_have_docstrings(name):
    module = importlib.import_module(name)
    assert module.__doc__, f"{name} has no module docstring"
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    for symbol in exported:
        obj = getattr(module, symbol)
        if callable(obj) and not symbol.isupper():
            assert obj.__doc__, f"{name}.{symbol} has no docstring"


def test_errors_share_one_base():
    from streaming_obs import errors

    for symbol in errors.__all__:
        cls = getattr(errors, symbol)
        assert issubclass(cls, errors.StreamingObsError)
        assert cls.__doc__ and "\n" not in cls.__doc__.strip()
