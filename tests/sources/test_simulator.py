"""The system-table simulator, on real Spark and real Delta, at a small size.

One history (2 workspaces, 20 jobs, 2 days) is written once for the module and inspected by
most tests; determinism writes it a second time; the stream tests use their own tables.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest
from pyspark.sql import functions as F

from streaming_obs.config import load_settings
from streaming_obs.config.models import SOURCE_NAMES
from streaming_obs.sources.schemas import system_schema
from streaming_obs.sources.simulator import SKUS, UNPRICED_SKU, SimulatorStream, simulate_history, universe_for
from streaming_obs.sources.simulator.compute import ap_sessions_between
from streaming_obs.sources.simulator.lakeflow import runs_between, task_timeline_rows
from streaming_obs.sources.simulator.usage import CORRECTION_PERIOD, usage_frame, usage_slots
from streaming_obs.tables import Tables

UTC = timezone.utc
SIZES = {"workspaces": 2, "jobs": 20, "clusters": 6, "warehouses": 3}
END = datetime(2025, 7, 1, tzinfo=UTC)  # a Tuesday
DAYS = 2
USAGE_ROWS = 1500
SEED = 11


def _settings(root, **sim):
    """Same shape as conftest's make_settings, for a module-scoped fixture."""
    return load_settings(
        "local",
        overrides={
            "spark": {"master": "local[2]", "shuffle_partitions": 2},
            "storage": {"warehouse": str(root / "wh"), "checkpoints": str(root / "ckpt")},
            "simulator": {"root": str(root / "system"), **SIZES, **sim},
            "telemetry": {"prometheus": {"enabled": False}},
        },
        environ={},
    )


@pytest.fixture(scope="module")
def history(spark, tmp_path_factory):
    settings = _settings(tmp_path_factory.mktemp("simhist"))
    counts = simulate_history(spark, settings, days=DAYS, seed=SEED, usage_rows=USAGE_ROWS, end=END)
    return settings, counts


def _read(spark, settings, source):
    return Tables(settings).source(source).read(spark)


def _path(settings, source):
    return Tables(settings).source(source).path


def _cdf_enabled(spark, path) -> bool:
    props = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES delta.`{path}`").collect()}
    return props.get("delta.enableChangeDataFeed") == "true"


def _fingerprint(spark, settings, source):
    df = _read(spark, settings, source)
    row = df.agg(F.count(F.lit(1)).alias("n"), F.sum(F.crc32(F.to_json(F.struct(*df.columns)))).alias("h")).head()
    return row["n"], row["h"]


# -- schema, CDF, counts ------------------------------------------------------------------


def test_every_table_has_the_official_schema_cdf_and_rows(spark, history):
    settings, counts = history
    assert set(counts) == set(SOURCE_NAMES)
    for source in SOURCE_NAMES:
        df = _read(spark, settings, source)
        assert df.schema == system_schema(source), source
        assert _cdf_enabled(spark, _path(settings, source)), source
        assert counts[source] > 0, source
        assert df.count() == counts[source], source


# -- billing usage --------------------------------------------------------------------------


def test_usage_row_count_tags_and_metadata(spark, history):
    settings, counts = history
    u = _read(spark, settings, "billing_usage")
    originals = u.where("record_type = 'ORIGINAL'")
    assert originals.count() == USAGE_ROWS
    assert u.select("record_id").distinct().count() == counts["billing_usage"]  # every record has its own id
    tag_keys = settings.cost.tag_keys
    assert u.where(F.col("custom_tags")["team"].isNotNull()).count() > 0
    assert u.where(F.col("custom_tags")[tag_keys[1]].isNotNull()).count() > 0
    assert u.where(F.col("custom_tags").isNull() | (F.size("custom_tags") == 0)).count() > 0
    bad = u.where(
        ((F.col("billing_origin_product") == "SQL") & F.col("usage_metadata.warehouse_id").isNull())
        | ((F.col("billing_origin_product") == "DLT") & F.col("usage_metadata.dlt_pipeline_id").isNull())
        | ((F.col("billing_origin_product") == "MODEL_SERVING")
           & (F.col("usage_metadata.endpoint_name").isNull() | F.col("usage_metadata.endpoint_id").isNull()))
        | ((F.col("billing_origin_product") == "JOBS")
           & (F.col("usage_metadata.job_id").isNull() | F.col("usage_metadata.job_run_id").isNull()))
        | ((F.col("billing_origin_product").isin("JOBS", "ALL_PURPOSE")) & ~F.col("product_features.is_serverless")
           & F.col("usage_metadata.cluster_id").isNull())
    )
    assert bad.count() == 0
    assert u.where("usage_date != to_date(usage_start_time)").count() == 0
    classic = u.where(~F.col("product_features.is_serverless"))
    assert classic.count() > 0
    misaligned = classic.where(
        (F.minute("usage_start_time") != 0) | (F.second("usage_start_time") != 0)
        | (F.col("usage_end_time") != F.col("usage_start_time") + F.expr("INTERVAL 1 HOUR"))
    )
    assert misaligned.count() == 0
    skus = {r[0] for r in u.select("sku_name").distinct().collect()}
    assert {"PREMIUM_JOBS_COMPUTE", "PREMIUM_JOBS_SERVERLESS_COMPUTE_US_EAST", "PREMIUM_SERVERLESS_SQL_COMPUTE_US_EAST",
            "PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST", UNPRICED_SKU} <= skus
    assert any("DLT" in s for s in skus) and any("ALL_PURPOSE" in s for s in skus)


def test_jobs_on_all_purpose_compute_have_cluster_but_no_job_id(spark, history):
    settings, _ = history
    uni = universe_for(settings, SEED)
    ap_jobs = [j for j in uni.jobs if j.compute == "all_purpose"]
    assert ap_jobs
    runs = [r for r in runs_between(uni, END - timedelta(days=DAYS), END) if r.job.compute == "all_purpose"]
    assert runs
    u = _read(spark, settings, "billing_usage")
    ap_rows = u.where(F.col("sku_name").startswith("PREMIUM_ALL_PURPOSE_COMPUTE"))
    assert ap_rows.where(F.col("usage_metadata.job_id").isNotNull()).count() == 0
    assert ap_rows.where(F.col("usage_metadata.cluster_id").isin([r.cluster_id for r in runs])).count() > 0
    # their task slices name the cluster: gold job_run_cost splits its cost by that task time
    slices = task_timeline_rows(uni, runs, None, END)
    assert slices and all(s["compute_ids"] == [r.cluster_id] for r in runs for s in slices if s["job_run_id"] == r.run_id)


def test_unpriced_sku_and_join_keys_match_list_prices(spark, history):
    settings, _ = history
    u = _read(spark, settings, "billing_usage")
    p = _read(spark, settings, "list_prices")
    assert p.where(F.col("sku_name") == UNPRICED_SKU).count() == 0
    assert u.where(F.col("sku_name") == UNPRICED_SKU).count() > 0
    assert {r[0] for r in p.select("currency_code").distinct().collect()} == {"USD"}
    keys = ["cloud", "sku_name", "usage_unit"]
    unmatched = {r["sku_name"] for r in u.select(*keys).distinct().join(p.select(*keys).distinct(), keys, "left_anti").collect()}
    assert unmatched == {UNPRICED_SKU}
    # at any instant at most one price per key
    overlapping = p.alias("a").join(p.alias("b"), keys).where(
        (F.col("a.price_start_time") < F.col("b.price_start_time"))
        & (F.col("a.price_end_time").isNull() | (F.col("a.price_end_time") > F.col("b.price_start_time")))
    )
    assert overlapping.count() == 0


def test_retraction_and_restatement_pairs_net_correctly(spark, history):
    settings, _ = history
    u = _read(spark, settings, "billing_usage")
    by_type = {r[0]: r[1] for r in u.groupBy("record_type").count().collect()}
    expected_pairs = len(range(CORRECTION_PERIOD // 2, USAGE_ROWS, CORRECTION_PERIOD))
    assert by_type["RETRACTION"] == by_type["RESTATEMENT"] == expected_pairs >= 1
    key = ["workspace_id", "sku_name", "usage_start_time", "usage_end_time",
           F.to_json("usage_metadata").alias("meta"), F.to_json("custom_tags").alias("tags")]
    orig = u.where("record_type = 'ORIGINAL'").select(*key, F.col("usage_quantity").alias("q_orig"), F.col("ingestion_date").alias("i_orig"))
    retr = u.where("record_type = 'RETRACTION'").select(*key, F.col("usage_quantity").alias("q_retr"), F.col("ingestion_date").alias("i_retr"))
    joined = retr.join(orig, ["workspace_id", "sku_name", "usage_start_time", "usage_end_time", "meta", "tags"])
    rows = joined.collect()
    assert len({(r["meta"], r["usage_start_time"]) for r in rows}) == expected_pairs
    for r in rows:
        if r["q_orig"] == -r["q_retr"]:
            break
    else:
        pytest.fail("no RETRACTION repeats an ORIGINAL with the negated quantity")
    # every retraction is exactly cancelled by some original of the same key
    cancelled = joined.where(F.col("q_orig") + F.col("q_retr") == 0).select("meta", "usage_start_time").distinct().count()
    assert cancelled == expected_pairs
    assert all(r["i_retr"] >= r["i_orig"] or r["i_retr"] == END.date() for r in rows if r["q_orig"] == -r["q_retr"])
    restated = u.where("record_type = 'RESTATEMENT'").agg(F.min("usage_quantity")).head()[0]
    assert restated > 0


def test_some_usage_is_ingested_days_late(spark, history):
    settings, _ = history
    u = _read(spark, settings, "billing_usage")
    lag = u.select(F.datediff("ingestion_date", "usage_date").alias("d"))
    assert lag.where("d >= 2").count() > 0
    assert lag.where("d < 0").count() == 0
    assert u.where(F.col("ingestion_date") > F.lit(END.date())).count() == 0


def test_usage_rows_spread_the_same_quantity(spark, history):
    """The row count is a volume knob: the total quantity of the slots does not change."""
    settings, _ = history
    uni = universe_for(settings, SEED)
    start = END - timedelta(days=1)
    runs = runs_between(uni, start, END)
    slots = usage_slots(uni, start, END, runs, ap_sessions_between(uni, start, END))
    expected = float(sum(s[4] for s in slots))
    totals = []
    for n in (len(slots), 3 * len(slots) + 7):
        df = usage_frame(spark, uni, slots, n, salt="t", ingestion=END.date())
        totals.append(float(df.agg(F.sum("usage_quantity")).head()[0]))
    assert totals[0] == pytest.approx(expected, rel=1e-6)
    assert totals[1] == pytest.approx(expected, rel=1e-4)


# -- prices ------------------------------------------------------------------------------------


def test_price_change_is_an_update_in_the_change_feed(spark, history):
    settings, _ = history
    cdf = (
        spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0)
        .load(_path(settings, "list_prices"))
    )
    kinds = {r[0]: r[1] for r in cdf.groupBy("_change_type").count().collect()}
    assert kinds.get("update_preimage", 0) >= 1 and kinds["update_preimage"] == kinds.get("update_postimage")
    post = cdf.where("_change_type = 'update_postimage'").collect()
    pre = {(r["sku_name"], r["price_start_time"]) for r in cdf.where("_change_type = 'update_preimage'").collect()}
    assert all(r["price_end_time"] is not None and (r["sku_name"], r["price_start_time"]) in pre for r in post)
    p = _read(spark, settings, "list_prices")
    for r in post:  # a new price starts where the old one ended
        assert p.where((F.col("sku_name") == r["sku_name"]) & (F.col("price_start_time") == r["price_end_time"])).count() == 1
    promo = p.where(F.col("sku_name") == "PREMIUM_JOBS_SERVERLESS_COMPUTE_US_EAST").orderBy("price_start_time").collect()
    assert promo[0]["pricing"]["effective_list"]["default"] < promo[0]["pricing"]["default"]
    assert promo[-1]["pricing"]["effective_list"]["default"] == promo[-1]["pricing"]["default"]


# -- SCD2 dimensions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, key, name_col",
    [("jobs", "job_id", "name"), ("clusters", "cluster_id", "cluster_name"), ("warehouses", "warehouse_id", "warehouse_name")],
)
def test_renamed_entities_have_several_scd2_rows(spark, history, source, key, name_col):
    settings, _ = history
    df = _read(spark, settings, source)
    multi = (
        df.groupBy("workspace_id", key)
        .agg(F.count(F.lit(1)).alias("n"), F.countDistinct(name_col).alias("names"), F.countDistinct("change_time").alias("times"),
             F.max_by(name_col, "change_time").alias("current"))
        .where("n >= 2")
        .collect()
    )
    assert multi and all(r["names"] >= 2 and r["times"] == r["n"] for r in multi)


def test_every_usage_compute_id_is_known(spark, history):
    settings, _ = history
    u = _read(spark, settings, "billing_usage")
    clusters = _read(spark, settings, "clusters").select("workspace_id", F.col("cluster_id").alias("cid")).distinct()
    unknown = (
        u.where(F.col("usage_metadata.cluster_id").isNotNull())
        .select("workspace_id", F.col("usage_metadata.cluster_id").alias("cid")).distinct()
        .join(clusters, ["workspace_id", "cid"], "left_anti")
    )
    assert unknown.count() == 0
    whs = _read(spark, settings, "warehouses").select("workspace_id", F.col("warehouse_id").alias("wid")).distinct()
    unknown_wh = (
        u.where(F.col("usage_metadata.warehouse_id").isNotNull())
        .select("workspace_id", F.col("usage_metadata.warehouse_id").alias("wid")).distinct()
        .join(whs, ["workspace_id", "wid"], "left_anti")
    )
    assert unknown_wh.count() == 0


# -- lakeflow ----------------------------------------------------------------------------------


def test_run_slices_carry_the_result_on_the_last_slice_only(spark, history):
    settings, _ = history
    rows = _read(spark, settings, "job_run_timeline").collect()
    by_run = defaultdict(list)
    for r in rows:
        by_run[(r["workspace_id"], r["run_id"])].append(r)
    multi = 0
    states = set()
    for slices in by_run.values():
        slices.sort(key=lambda r: r["period_start_time"])
        for a, b in zip(slices, slices[1:]):
            assert a["period_end_time"] == b["period_start_time"]
            assert b["period_start_time"].minute == 0 and b["period_start_time"].second == 0
            assert a["result_state"] is None and a["termination_code"] is None
        last = slices[-1]
        if last["result_state"] is not None:
            states.add(last["result_state"])
            assert last["termination_code"] is not None and last["run_duration_seconds"] is not None
        if len(slices) > 1:
            multi += 1
        for s in slices:
            assert (s["period_end_time"] - s["period_start_time"]) <= timedelta(hours=1)
    assert multi >= 1
    assert {"SUCCEEDED", "FAILED"} <= states and states & {"ERROR", "TIMED_OUT"}


def test_task_runs_are_consistent_with_job_runs(spark, history):
    settings, _ = history
    runs = _read(spark, settings, "job_run_timeline")
    tasks = _read(spark, settings, "job_task_run_timeline")
    run_span = runs.groupBy("workspace_id", "job_id", "run_id").agg(
        F.min("period_start_time").alias("s"), F.max("period_end_time").alias("e"), F.max("result_state").alias("state"))
    task_span = tasks.groupBy("workspace_id", "job_id", F.col("job_run_id").alias("run_id")).agg(
        F.min("period_start_time").alias("ts"), F.max("period_end_time").alias("te"),
        F.max_by("result_state", "period_end_time").alias("last_task_state"))
    joined = run_span.join(task_span, ["workspace_id", "job_id", "run_id"], "full")
    assert joined.where("s IS NULL OR ts IS NULL").count() == 0
    assert joined.where("s != ts OR e != te").count() == 0
    assert joined.where("state IS NOT NULL AND state != last_task_state").count() == 0


# -- compute, query, audit ---------------------------------------------------------------------


def test_node_timeline_is_per_minute_per_node_with_drivers(spark, history):
    settings, _ = history
    n = _read(spark, settings, "node_timeline")
    assert n.where("end_time != start_time + INTERVAL 1 MINUTE OR second(start_time) != 0").count() == 0
    assert {r[0] for r in n.select("driver").distinct().collect()} == {True, False}
    drivers = n.groupBy("cluster_id", "start_time").agg(F.sum(F.col("driver").cast("int")).alias("d"))
    assert drivers.where("d != 1").count() == 0
    stats = n.agg(F.min("cpu_user_percent"), F.max(F.col("cpu_user_percent") + F.col("cpu_system_percent")),
                  F.max("mem_used_percent")).head()
    assert stats[0] >= 0 and stats[1] <= 100 and stats[2] <= 100


def test_query_history_has_running_then_final_rows(spark, history):
    settings, _ = history
    q = _read(spark, settings, "query_history")
    per = q.groupBy("workspace_id", "statement_id").agg(
        F.count(F.lit(1)).alias("n"),
        F.max_by("execution_status", "update_time").alias("last"),
        F.min_by("execution_status", "update_time").alias("first"),
    )
    assert per.where("n < 2").count() == 0
    assert per.where("first != 'RUNNING' OR last = 'RUNNING'").count() == 0
    finals = {r[0] for r in per.select("last").distinct().collect()}
    assert {"FINISHED", "FAILED"} <= finals
    assert q.where(F.col("compute.warehouse_id").isNull()).count() > 0
    assert q.where("execution_status = 'FAILED' AND error_message IS NULL").count() == 0
    known = {r[0] for r in _read(spark, settings, "warehouses").select("warehouse_id").distinct().collect()}
    used = {r[0] for r in q.select("compute.warehouse_id").distinct().collect() if r[0]}
    assert used and used <= known


def test_audit_events(spark, history):
    settings, _ = history
    a = _read(spark, settings, "audit")
    assert a.where("event_date != to_date(event_time)").count() == 0
    assert a.where("response.status_code >= 400").count() > 0
    assert a.select("event_id").distinct().count() == a.count()


# -- determinism -------------------------------------------------------------------------------


def test_same_seed_same_data(spark, history, make_settings):
    settings, counts = history
    again = make_settings(simulator=SIZES)
    assert _path(again, "billing_usage") != _path(settings, "billing_usage")
    counts2 = simulate_history(spark, again, days=DAYS, seed=SEED, usage_rows=USAGE_ROWS, end=END)
    assert counts2 == counts
    for source in SOURCE_NAMES:
        assert _fingerprint(spark, again, source) == _fingerprint(spark, settings, source), source


def test_different_seed_different_account(history):
    settings, _ = history
    a, b = universe_for(settings, SEED), universe_for(settings, SEED + 1)
    assert a.account_id != b.account_id
    assert [j.job_id for j in a.jobs] != [j.job_id for j in b.jobs]
    assert universe_for(settings, SEED).account_id == a.account_id
    assert len(a.jobs) == SIZES["jobs"] and len(a.clusters) == SIZES["clusters"] and len(a.workspaces) == SIZES["workspaces"]


# -- continuous mode ---------------------------------------------------------------------------


T0 = datetime(2025, 7, 2, 10, 0, tzinfo=UTC)  # a Wednesday morning: warehouses are up


def test_stream_steps_append_late_rows_corrections_prices_and_renames(spark, make_settings):
    settings = make_settings(simulator=SIZES)
    stream = SimulatorStream(spark, settings, rows_per_second=2, seed=SEED, start=T0,
                             late_share=0.25, rename_every=1, price_change_every=2)
    c1 = stream.step(T0 + timedelta(minutes=30))
    assert c1["billing_usage"] == 3600  # 2 rows/s over 30 minutes
    assert c1["jobs"] == SIZES["jobs"] + 1  # seeded dimension + one rename
    assert c1["list_prices"] == len([s for s in SKUS.values() if s.price is not None])
    assert c1["job_run_timeline"] > 0 and c1["node_timeline"] > 0 and c1["query_history"] > 0 and c1["audit"] > 0
    for source in SOURCE_NAMES:
        assert _cdf_enabled(spark, _path(settings, source)), source
    c2 = stream.step(T0 + timedelta(minutes=31))
    assert c2["billing_usage"] > 120  # 2 rows/s over 60 s, plus corrections of the previous step
    assert c2["list_prices"] == 2  # the open price ended (update) and a new one started
    assert stream.step(T0 + timedelta(minutes=31)) == dict.fromkeys(SOURCE_NAMES, 0)  # no time passed

    u = _read(spark, settings, "billing_usage")
    assert u.count() == c1["billing_usage"] + c2["billing_usage"]
    late = u.where((F.col("usage_date") < F.lit(T0.date())) & (F.col("ingestion_date") == F.lit(T0.date())))
    assert late.count() > 0
    current = u.where(F.col("usage_start_time") >= F.lit(T0 - timedelta(minutes=1)))
    assert current.count() > late.count()
    types = {r[0]: r[1] for r in u.groupBy("record_type").count().collect()}
    assert types.get("RETRACTION", 0) == types.get("RESTATEMENT", 0) >= 1
    runs = _read(spark, settings, "job_run_timeline")
    assert runs.where(F.col("period_end_time") > F.lit(T0 + timedelta(minutes=31))).count() == 0
    assert runs.where(F.col("period_end_time") <= F.lit(T0)).count() == 0
    cdf = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0)
           .load(_path(settings, "list_prices")))
    assert cdf.where("_change_type = 'update_postimage' AND price_end_time IS NOT NULL").count() == 1
    jobs = _read(spark, settings, "jobs")
    assert jobs.groupBy("workspace_id", "job_id").count().where("count >= 2").count() >= 1


def test_a_catch_up_first_step_writes_one_flush_of_usage_rows_of_about_the_same_quantity(spark, make_settings, tmp_path):
    """catch_up_seconds (the demo: history ends at the hour, the first step covers the minutes
    since): the first step's usage rows are capped, its quantity about the same (with fewer rows
    than the hour's slots each row carries a slot scaled by slots/rows: 2.6 % off here); later
    steps are not capped."""
    def stream_in(sub, catch_up):
        settings = make_settings(simulator={**SIZES, "root": str(tmp_path / sub)})
        return settings, SimulatorStream(spark, settings, rows_per_second=2, seed=SEED, start=T0, late_share=0,
                                         rename_every=10_000, price_change_every=10_000, catch_up_seconds=catch_up)

    (full, a), (capped, b) = stream_in("a", None), stream_in("b", 5)
    first_a, first_b = a.step(T0 + timedelta(minutes=30)), b.step(T0 + timedelta(minutes=30))
    assert first_a["billing_usage"] == 3600 and first_b["billing_usage"] == 10  # 2 rows/s x 5 s

    def quantity(settings):
        return _read(spark, settings, "billing_usage").agg(F.sum("usage_quantity")).first()[0]

    assert float(quantity(capped)) == pytest.approx(float(quantity(full)), rel=0.05)
    second = b.step(T0 + timedelta(minutes=31))
    assert second["billing_usage"] >= 120  # 2 rows/s over 60 s: no cap after the first step


def test_other_tables_every_k_steps_write_the_same_rows_in_fewer_commits(spark, make_settings, tmp_path):
    """others_every=2: usage is written every step, the other tables every second step covering
    both intervals; what lands is the same as writing everything every step."""
    def stream_in(sub, every):
        settings = make_settings(simulator={**SIZES, "root": str(tmp_path / sub)})
        return settings, SimulatorStream(spark, settings, rows_per_second=1, seed=SEED, start=T0,
                                         rename_every=10_000, price_change_every=10_000, others_every=every)

    (every_step, a), (every_other, b) = stream_in("a", 1), stream_in("b", 2)
    times = [T0 + timedelta(minutes=m) for m in (2, 4, 6)]
    counts_a = [a.step(t) for t in times]
    counts_b = [b.step(t) for t in times]
    assert [c["billing_usage"] for c in counts_b] == [c["billing_usage"] for c in counts_a]
    assert counts_b[1]["node_timeline"] == 0 and counts_b[1]["job_run_timeline"] == 0  # a usage-only step
    assert counts_b[2]["node_timeline"] == counts_a[1]["node_timeline"] + counts_a[2]["node_timeline"] > 0
    for source in ("node_timeline", "job_run_timeline", "job_task_run_timeline", "audit", "billing_usage"):
        rows_a = sorted(map(str, _read(spark, every_step, source).collect()))
        rows_b = sorted(map(str, _read(spark, every_other, source).collect()))
        assert rows_a == rows_b, source
    usage_versions = spark.sql(f"DESCRIBE HISTORY delta.`{_path(every_other, 'billing_usage')}`").count()
    node_versions = spark.sql(f"DESCRIBE HISTORY delta.`{_path(every_other, 'node_timeline')}`").count()
    assert usage_versions > node_versions


def test_stream_determinism_without_spark(history):
    settings, _ = history
    uni = universe_for(settings, SEED)
    a = runs_between(uni, T0 - timedelta(days=1), T0)
    b = runs_between(universe_for(settings, SEED), T0 - timedelta(days=1), T0)
    assert [(r.run_id, r.start, r.end, r.result_state) for r in a] == [(r.run_id, r.start, r.end, r.result_state) for r in b]


def test_run_steps_until_the_stop_event(make_settings, monkeypatch, spark):
    settings = make_settings(simulator={"flush_seconds": 0.05, **SIZES})
    stream = SimulatorStream(spark, settings, rows_per_second=1, seed=SEED)
    stop = threading.Event()
    calls = []

    def fake_step(now=None):
        calls.append(now)
        if len(calls) == 3:
            stop.set()
        return {}

    monkeypatch.setattr(stream, "step", fake_step)
    done = threading.Event()
    worker = threading.Thread(target=lambda: (stream.run(stop_event=stop), done.set()), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert done.is_set() and len(calls) == 3

    calls.clear()
    stop2 = threading.Event()
    monkeypatch.setattr(stream, "step", lambda now=None: calls.append(now) or {})
    stream.run(duration_s=0.3, stop_event=stop2)
    assert 2 <= len(calls) <= 10
