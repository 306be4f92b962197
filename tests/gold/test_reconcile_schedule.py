"""The in-stream reconciliation runs at most every `cost.reconcile.every_seconds` (pure logic)."""

from __future__ import annotations

import time

from streaming_obs.gold.hot import _due


def test_the_first_batch_checks_then_not_again_until_the_interval_passed():
    last: list[float | None] = [None]
    assert _due(last, 300) is True
    assert last[0] is not None
    assert _due(last, 300) is False  # the next batch, seconds later
    last[0] = time.monotonic() - 301  # the interval has passed
    assert _due(last, 300) is True
    assert _due(last, 300) is False


def test_zero_interval_or_no_schedule_checks_every_batch():
    last: list[float | None] = [None]
    assert all(_due(last, 0) for _ in range(3))
    assert all(_due(None, 300) for _ in range(3))
