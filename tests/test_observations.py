"""Observation names: what the producers make, the consumers parse back, and nothing else."""

from __future__ import annotations

from streaming_obs.observations import (
    FRESHNESS_FIELD,
    OUTCOME_OF_ACTION,
    PASSED,
    TOTALS,
    freshness_name,
    is_freshness_name,
    parse_quality_name,
    parse_rule_field,
    quality_batch_name,
    quality_name,
    rule_field,
    rule_passed_field,
)
from streaming_obs.quality.rules import ACTIONS
from streaming_obs.telemetry.progress import QualityCount, parse_freshness, parse_quality, parse_quality_totals


def test_quality_names_round_trip():
    assert quality_name("bronze.billing_usage") == "dq_bronze_billing_usage"
    assert parse_quality_name(quality_name("silver.job_task_run_timeline")) == ("silver", "job_task_run_timeline")
    assert parse_quality_name("dq_orders") is None and parse_quality_name("dq.bronze_jobs") is None
    assert quality_batch_name("bronze.jobs") == "dq_bronze_jobs_batch"


def test_every_action_has_an_outcome_and_fields_round_trip():
    assert set(OUTCOME_OF_ACTION) == set(ACTIONS)
    for action in ACTIONS:
        assert parse_rule_field(rule_field("usage_end_after_start", action)) == (
            "usage_end_after_start", OUTCOME_OF_ACTION[action])
    assert parse_rule_field(rule_passed_field("r")) == ("r", PASSED)
    for field in [*TOTALS, "r_failed", "r__ok", "r__", "__passed"]:
        assert parse_rule_field(field) is None, field


def test_the_listener_parses_what_the_engine_writes():
    name = quality_name("bronze.jobs")
    row = {rule_passed_field("job_id_present"): 9, rule_field("job_id_present", "quarantine"): 1,
           "rows_in": 10, "rows_kept": 9, "rows_dropped": 0, "rows_quarantined": 1, "rows_failed": 0}
    assert parse_quality(name, row) == [QualityCount("bronze", "jobs", "job_id_present", "passed", 9),
                                        QualityCount("bronze", "jobs", "job_id_present", "quarantined", 1)]
    assert {q.outcome: q.rows for q in parse_quality_totals(name, row)} == {
        "in": 10, "kept": 9, "dropped": 0, "quarantined": 1, "failed": 0}


def test_freshness_names_round_trip():
    assert freshness_name("gold") == "fresh_gold" and is_freshness_name(freshness_name("gold"))
    assert not is_freshness_name("fresh") and not is_freshness_name("fresh.gold")
    observed = {freshness_name("a"): {FRESHNESS_FIELD: 100.0}, freshness_name("b"): {FRESHNESS_FIELD: 200.0},
                "fresh.c": {FRESHNESS_FIELD: 300.0}, freshness_name("d"): {"min_source_commit_ts": 400.0}}
    assert parse_freshness(observed) == 200.0
