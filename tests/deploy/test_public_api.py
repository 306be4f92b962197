"""The public names of streaming_obs.deploy import, and their docstrings are there."""

import importlib

import pytest

MODULES = ["streaming_obs.deploy", "streaming_obs.deploy.bundle", "streaming_obs.deploy.driver",
           "streaming_obs.deploy.governance", "streaming_obs.deploy.plan"]


@pytest.mark.parametrize("name", MODULES)
def test_public_names_import_and_are_documented(name):
    module = importlib.import_module(name)
    assert module.__doc__
    for symbol in module.__all__:
        obj = getattr(module, symbol)
        if callable(obj):
            assert obj.__doc__, f"{name}.{symbol} has no docstring"
