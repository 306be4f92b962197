"""The gold declarations (sql/ddl/tables.yaml) and the step registry agree, and apply follows them."""

from __future__ import annotations

import dataclasses

import pytest

from streaming_obs.gold import compute
from streaming_obs.gold.compute import GOLD_STEPS, GoldScope, GoldWriter, gold_step, gold_steps
from streaming_obs.gold.touches import GOLD_INPUTS, declared_inputs
from streaming_obs.sqlfiles import table_specs


def test_every_declared_step_is_registered_and_every_registered_step_is_declared():
    declared = {s for spec in table_specs()["gold"].values() for s in spec["steps"]}
    assert declared == set(GOLD_STEPS)
    assert gold_steps()[0] == "costs"  # names follow costs: renames only update rows costs wrote
    assert gold_steps().index("renames") > gold_steps().index("costs")
    assert gold_steps().index("idle") > gold_steps().index("utilization")  # idle adds up utilization


def test_every_declared_input_has_a_projection_and_every_projection_is_declared():
    assert declared_inputs() == set(GOLD_INPUTS)


def test_every_declared_scope_is_a_field_of_gold_scope():
    fields = {f.name for f in dataclasses.fields(GoldScope)}
    for name, spec in table_specs()["gold"].items():
        assert spec["scope"] in fields, name


def test_a_toy_table_is_kept_through_the_registry_alone(monkeypatch):
    """Declare a table with a new step, register the step: apply runs it, after the declared
    steps before it, with the batch's scope."""
    specs = table_specs()
    gold = dict(specs["gold"])
    gold["toy_daily"] = {"key": ["usage_date"], "columns": "usage_date DATE", "steps": ["toy"],
                         "scope": "usage_dates", "inputs": ["billing_usage"]}
    monkeypatch.setattr(compute, "table_specs", lambda: {**specs, "gold": gold})
    calls = []
    monkeypatch.setattr(compute, "GOLD_STEPS", {s: (lambda w, sc, s=s: calls.append(s)) for s in GOLD_STEPS})
    with pytest.raises(KeyError, match="gold.toy_daily.steps: no gold step named 'toy'"):
        gold_steps()

    @gold_step("toy")
    def toy(writer, scope):
        calls.append(("toy", sorted(scope.usage_dates)))
        writer.merged["toy_daily"] = 1

    writer = object.__new__(GoldWriter)
    writer.merged, writer.timings = {}, {}
    from datetime import date

    assert writer.apply(GoldScope(usage_dates={date(2026, 1, 2)})) == {"toy_daily": 1}
    assert calls[:-1] == gold_steps()[:-1] and calls[-1] == ("toy", [date(2026, 1, 2)])
    assert list(writer.timings) == gold_steps() and all(t >= 0 for t in writer.timings.values())  # each step timed
