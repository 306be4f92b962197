"""The context's members are typed by what the pipeline asks of them; the implementations fit."""

from __future__ import annotations

from streaming_obs.context import QualityGate, TelemetrySink
from streaming_obs.quality import QualityEngine
from streaming_obs.telemetry import Telemetry


def test_the_quality_engine_and_telemetry_fit_the_context_protocols():
    assert isinstance(QualityEngine.from_dict({}), QualityGate)
    for name in ("register_query", "record_batch_write", "record_restart", "record_reconciliation", "shutdown"):
        assert callable(getattr(Telemetry, name)), name
    assert issubclass(Telemetry, TelemetrySink)
