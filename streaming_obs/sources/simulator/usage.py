"""Billing: system.billing.usage (bulk, in Spark) and system.billing.list_prices.

Usage is built in two stages. Python lists the *slots*: one per (resource, hour) that consumed
something — a job run's hourly slice, an interactive cluster hour, a warehouse hour, a DLT
update hour, a serving endpoint hour, a serverless notebook session — with its quantity and all
its metadata. Spark then spreads `n_rows` usage records over the slots (`id % slots`), each
carrying its share of the slot quantity, so the row count scales to tens of millions while the
total cost stays that of the slots. Corrections (RETRACTION + RESTATEMENT pairs) repeat a chosen
set of ORIGINAL rows.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DecimalType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from streaming_obs.sources.schemas import system_schema
from streaming_obs.sources.simulator.catalog import (
    CLOUD,
    CURRENCY,
    PRICE_ORIGIN,
    SKUS,
    UNPRICED_SKU,
    WAREHOUSE_DBU,
    Cluster,
    Universe,
)
from streaming_obs.sources.simulator.compute import warehouse_hours
from streaming_obs.sources.simulator.lakeflow import Run, hourly_slices
from streaming_obs.sources.simulator.rand import day_start, floor_hour, py_uuid, sub_rng, u01, uuid_col

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "CORRECTION_PERIOD",
    "usage_slots",
    "usage_frame",
    "corrections_frame",
    "price_row",
    "initial_price_rows",
    "history_price_changes",
]

#: One ORIGINAL row in this many gets a RETRACTION + RESTATEMENT pair.
CORRECTION_PERIOD = 300
_Q = Decimal("0.000001")
_H = timedelta(hours=1)

_SLOT_COLS: list[tuple[str, object]] = [
    ("workspace_id", StringType()),
    ("sku_name", StringType()),
    ("s_start", TimestampType()),
    ("s_end", TimestampType()),
    ("qty", DecimalType(38, 18)),
    ("cluster_id", StringType()),
    ("job_id", StringType()),
    ("job_run_id", StringType()),
    ("warehouse_id", StringType()),
    ("node_type", StringType()),
    ("notebook_id", StringType()),
    ("notebook_path", StringType()),
    ("dlt_pipeline_id", StringType()),
    ("dlt_update_id", StringType()),
    ("endpoint_name", StringType()),
    ("endpoint_id", StringType()),
    ("ai_runtime_workload_id", StringType()),
    ("tags", MapType(StringType(), StringType())),
    ("run_as", StringType()),
    ("owned_by", StringType()),
    ("created_by", StringType()),
    ("is_photon", BooleanType()),
    ("jobs_tier", StringType()),
    ("sql_tier", StringType()),
    ("dlt_tier", StringType()),
    ("serving_type", StringType()),
    ("performance_target", StringType()),
    ("ai_compute_type", StringType()),
]
_SLOT_NAMES = [n for n, _ in _SLOT_COLS]
_SLOT_SCHEMA = StructType([StructField(n, t) for n, t in _SLOT_COLS] + [StructField("slot_idx", StringType())])


def _slot(**kw: object) -> tuple:
    unknown = set(kw) - set(_SLOT_NAMES)
    if unknown:
        raise KeyError(f"unknown slot fields {sorted(unknown)}")
    q = kw.get("qty")
    kw["qty"] = Decimal(str(q)).quantize(_Q, ROUND_HALF_UP)
    return tuple(kw.get(n) for n in _SLOT_NAMES)


def _tags(tags: dict[str, str], serverless: bool) -> dict[str, str] | None:
    if tags:
        return dict(tags)
    return None if serverless else {}


def _run_slots(runs: list[Run], start: datetime, end: datetime) -> list[tuple]:
    out = []
    for r in runs:
        j = r.job
        for s, e in hourly_slices(max(r.start, start), min(r.end, end)):
            hours = (e - s).total_seconds() / 3600
            if j.compute == "serverless":
                out.append(_slot(
                    workspace_id=j.workspace_id, sku_name="PREMIUM_JOBS_SERVERLESS_COMPUTE_US_EAST", s_start=s, s_end=e,
                    qty=hours * 3.0 * (1 + j.workers), job_id=j.job_id, job_run_id=r.run_id,
                    tags=_tags(j.tags, True), run_as=j.run_as,
                    performance_target="PERFORMANCE_OPTIMIZED" if j.photon else "STANDARD"))
                continue
            hour = floor_hour(s)
            common = dict(workspace_id=j.workspace_id, s_start=hour, s_end=hour + _H, qty=hours * j.dbu_per_hour,
                          cluster_id=r.cluster_id, node_type=j.node_type, tags=_tags(j.tags, False),
                          is_photon=j.photon)
            if j.compute == "all_purpose":  # jobs on interactive compute: no job_id in usage_metadata
                sku = "PREMIUM_ALL_PURPOSE_COMPUTE_(PHOTON)" if j.photon else "PREMIUM_ALL_PURPOSE_COMPUTE"
                out.append(_slot(sku_name=sku, **common))
            else:
                sku = "PREMIUM_JOBS_COMPUTE_(PHOTON)" if j.photon else "PREMIUM_JOBS_COMPUTE"
                out.append(_slot(sku_name=sku, job_id=j.job_id, job_run_id=r.run_id, run_as=j.run_as,
                                 jobs_tier="CLASSIC", **common))
    return out


def _ap_slots(aps: list[tuple[Cluster, datetime, datetime]], start: datetime, end: datetime) -> list[tuple]:
    out = []
    for c, cs, ce in aps:
        for s, e in hourly_slices(max(cs, start), min(ce, end)):
            hour = floor_hour(s)
            sku = "PREMIUM_ALL_PURPOSE_COMPUTE_(PHOTON)" if c.photon else "PREMIUM_ALL_PURPOSE_COMPUTE"
            out.append(_slot(workspace_id=c.workspace_id, sku_name=sku, s_start=hour, s_end=hour + _H,
                             qty=(e - s).total_seconds() / 3600 * c.dbu_per_hour, cluster_id=c.cluster_id,
                             node_type=c.node_type, tags=_tags(c.tags, False), is_photon=c.photon))
    return out


def _hours(start: datetime, end: datetime):
    h = floor_hour(start)
    while h < end:
        if h >= start:
            yield h
        h += _H


def _other_slots(uni: Universe, start: datetime, end: datetime) -> list[tuple]:
    out = []
    for w, h in warehouse_hours(uni, start, end):
        rng = sub_rng(uni.seed, "wh-usage", w.warehouse_id, h.isoformat())
        util = 1.0 if w.type != "SERVERLESS" else rng.uniform(0.3, 1.0)
        clusters = 1 if rng.random() < 0.8 else w.max_clusters
        out.append(_slot(workspace_id=w.workspace_id, sku_name=w.sku, s_start=h, s_end=h + _H,
                         qty=WAREHOUSE_DBU[w.size] * clusters * util, warehouse_id=w.warehouse_id,
                         tags=_tags(w.tags, w.type == "SERVERLESS"), owned_by=uni.users[0],
                         sql_tier="CLASSIC" if w.type == "CLASSIC" else "PRO", is_photon=True))
    for h in _hours(start, end):
        day = day_start(h)
        for p in uni.pipelines:
            if p.continuous or p.start_hour <= h.hour < p.start_hour + p.hours:
                out.append(_slot(workspace_id=p.workspace_id, sku_name=p.sku, s_start=h, s_end=h + _H,
                                 qty=p.dbu_per_hour, dlt_pipeline_id=p.pipeline_id,
                                 dlt_update_id=py_uuid(sub_rng(uni.seed, "dlt-update", p.pipeline_id, day.isoformat())),
                                 tags=_tags(p.tags, False), run_as=p.run_as,
                                 dlt_tier=p.sku.split("_")[2]))
        for ep in uni.endpoints:
            load = sub_rng(uni.seed, "serving", ep.endpoint_id, h.isoformat()).uniform(0.3, 1.0)
            out.append(_slot(workspace_id=ep.workspace_id, sku_name="PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST",
                             s_start=h, s_end=h + _H, qty=ep.dbu_per_hour * load, endpoint_name=ep.name,
                             endpoint_id=ep.endpoint_id, tags=_tags(ep.tags, True), owned_by=ep.owner,
                             serving_type="MODEL"))
        if h.weekday() < 5 and 8 <= h.hour < 18:
            for nb in uni.notebooks:
                rng = sub_rng(uni.seed, "notebook-usage", nb.notebook_id, h.isoformat())
                if rng.random() < 0.3:
                    s = h + timedelta(minutes=rng.randint(0, 40))
                    e = s + timedelta(minutes=rng.randint(5, 19))
                    out.append(_slot(workspace_id=nb.workspace_id, sku_name="PREMIUM_ALL_PURPOSE_SERVERLESS_COMPUTE_US_EAST",
                                     s_start=s, s_end=e, qty=(e - s).total_seconds() / 3600 * 4.0,
                                     notebook_id=nb.notebook_id, notebook_path=nb.path, run_as=nb.owner))
        if h.hour in (14, 15):
            out.append(_slot(workspace_id=uni.gpu_workspace, sku_name=UNPRICED_SKU, s_start=h, s_end=h + _H, qty=16.0,
                             ai_runtime_workload_id=py_uuid(sub_rng(uni.seed, "gpu", h.date().isoformat())),
                             run_as=uni.users[-1], ai_compute_type="GPU"))
    return out


def usage_slots(
    uni: Universe,
    start: datetime,
    end: datetime,
    runs: list[Run],
    aps: list[tuple[Cluster, datetime, datetime]],
) -> list[tuple]:
    """Every consumption slot inside [start, end): run slices, interactive sessions, warehouses,
    DLT, serving, serverless notebooks and the unpriced GPU SKU."""
    return _run_slots(runs, start, end) + _ap_slots(aps, start, end) + _other_slots(uni, start, end)


def _struct(dtype: StructType, values: dict[str, Column]) -> Column:
    return F.struct(*[values.get(f.name, F.lit(None)).cast(f.dataType).alias(f.name) for f in dtype.fields])


def _sku_map(attr: str) -> Column:
    pairs = []
    for s in SKUS.values():
        pairs += [F.lit(s.name), F.lit(getattr(s, attr))]
    return F.create_map(*pairs)[F.col("sku_name")]


def usage_frame(
    spark: SparkSession,
    uni: Universe,
    slots: list[tuple],
    n_rows: int,
    *,
    salt: str,
    ingestion: str | date,
    max_ingestion: date | None = None,
    partitions: int | None = None,
) -> DataFrame | None:
    """`n_rows` ORIGINAL usage rows spread over the slots (official columns + `_id`).

    ingestion: "lateness" (usage_date + 0..5 days, capped at `max_ingestion`) or a fixed date.
    """
    if not slots or n_rows <= 0:
        return None
    order = list(range(len(slots)))
    sub_rng(uni.seed, "slot-order", salt).shuffle(order)
    rows = [slots[i] + (str(k),) for k, i in enumerate(order)]
    slot_df = spark.createDataFrame(rows, _SLOT_SCHEMA, verifySchema=False).withColumn("slot_idx", F.col("slot_idx").cast("long"))
    n_slots = len(slots)
    if partitions is None:  # ~250k rows a task, a multiple of the cores so none idles at the end
        cores = max(1, spark.sparkContext.defaultParallelism)
        partitions = cores * max(1, -(-n_rows // (250_000 * cores)))
    parts = partitions
    base = spark.range(0, n_rows, 1, parts).withColumnRenamed("id", "_id")
    base = base.withColumn("slot_idx", F.col("_id") % F.lit(n_slots)).withColumn(
        "_parts", F.lit(n_rows // n_slots) + F.when(F.col("slot_idx") < F.lit(n_rows % n_slots), 1).otherwise(0)
    )
    df = base.join(F.broadcast(slot_df), "slot_idx")
    schema = system_schema("billing_usage")
    meta_type = schema["usage_metadata"].dataType
    feat_type = schema["product_features"].dataType
    usage_date = F.to_date(F.col("s_start"))
    if ingestion == "lateness":
        u = u01(uni.seed, "late:" + salt, F.col("_id"))
        late = F.when(u < 0.6, 0).when(u < 0.95, 1).otherwise(2 + F.floor((u - 0.95) * 80)).cast("int")
        ingest = F.date_add(usage_date, late)
        if max_ingestion is not None:
            ingest = F.least(ingest, F.lit(max_ingestion))
    else:
        ingest = F.lit(ingestion).cast("date")
    meta = {n: F.col(n) for n in meta_type.fieldNames() if n in _SLOT_NAMES}
    return df.select(
        uuid_col(uni.seed, "usage:" + salt, F.col("_id")).alias("record_id"),
        F.lit(uni.account_id).alias("account_id"),
        "workspace_id",
        "sku_name",
        F.lit(CLOUD).alias("cloud"),
        F.col("s_start").alias("usage_start_time"),
        F.col("s_end").alias("usage_end_time"),
        usage_date.alias("usage_date"),
        F.col("tags").alias("custom_tags"),
        _sku_map("unit").alias("usage_unit"),
        (F.col("qty") / F.col("_parts").cast("decimal(20,0)")).cast("decimal(38,18)").alias("usage_quantity"),
        _struct(meta_type, meta).alias("usage_metadata"),
        _struct(schema["identity_metadata"].dataType,
                {"run_as": F.col("run_as"), "owned_by": F.col("owned_by"), "created_by": F.col("created_by")})
        .alias("identity_metadata"),
        F.lit("ORIGINAL").alias("record_type"),
        ingest.alias("ingestion_date"),
        _sku_map("product").alias("billing_origin_product"),
        _struct(feat_type, {
            "jobs_tier": F.col("jobs_tier"), "sql_tier": F.col("sql_tier"), "dlt_tier": F.col("dlt_tier"),
            "is_serverless": _sku_map("serverless"), "is_photon": F.coalesce(F.col("is_photon"), F.lit(False)),
            "serving_type": F.col("serving_type"), "performance_target": F.col("performance_target"),
            "ai_runtime": F.when(F.col("ai_compute_type").isNotNull(), F.struct(F.col("ai_compute_type").alias("compute_type"))),
        }).alias("product_features"),
        _sku_map("usage_type").alias("usage_type"),
        "_id",
    )


def corrections_frame(
    originals: DataFrame, seed: int, *, salt: str, ingestion: str | date, max_ingestion: date | None = None
) -> DataFrame:
    """RETRACTION + RESTATEMENT rows for one ORIGINAL row in CORRECTION_PERIOD.

    The retraction repeats the original with the quantity negated; the restatement carries the
    corrected quantity. Every row has its own record_id (the id of a usage record is unique).
    """
    picked = originals.where(F.col("_id") % F.lit(CORRECTION_PERIOD) == F.lit(CORRECTION_PERIOD // 2))
    if ingestion == "lateness":
        ingest = F.date_add(F.col("usage_date"), (3 + F.floor(u01(seed, "corr-late:" + salt, F.col("_id")) * 5)).cast("int"))
        if max_ingestion is not None:
            ingest = F.least(ingest, F.lit(max_ingestion))
    else:
        ingest = F.lit(ingestion).cast("date")
    factor = F.lit(0.5) + F.lit(0.7) * u01(seed, "restate:" + salt, F.col("_id"))
    retraction = picked.withColumn("record_id", uuid_col(seed, "retract:" + salt, F.col("_id"))).withColumn(
        "record_type", F.lit("RETRACTION")
    ).withColumn("usage_quantity", -F.col("usage_quantity")).withColumn("ingestion_date", ingest)
    restatement = picked.withColumn("record_id", uuid_col(seed, "restate:" + salt, F.col("_id"))).withColumn(
        "record_type", F.lit("RESTATEMENT")
    ).withColumn(
        "usage_quantity", F.round(F.col("usage_quantity").cast("double") * factor, 6).cast("decimal(38,18)")
    ).withColumn("ingestion_date", ingest)
    return retraction.unionByName(restatement)


def price_row(uni: Universe, sku: str, start: datetime, default: Decimal, promo: Decimal | None = None,
              end: datetime | None = None) -> dict:
    """One list_prices row; effective_list resolves the promotional price when there is one."""
    s = SKUS[sku]
    effective = min(default, promo) if promo is not None else default
    return {
        "price_start_time": start,
        "price_end_time": end,
        "account_id": uni.account_id,
        "sku_name": sku,
        "cloud": CLOUD,
        "currency_code": CURRENCY,
        "usage_unit": s.unit,
        "pricing": {
            "default": default,
            "promotional": {"default": promo if promo is not None else default},
            "effective_list": {"default": effective},
        },
    }


def initial_price_rows(uni: Universe) -> list[dict]:
    """The open price of every priced SKU, effective since PRICE_ORIGIN (the unpriced SKU has none)."""
    return [price_row(uni, s.name, PRICE_ORIGIN, s.price, s.promo) for s in SKUS.values() if s.price is not None]


def history_price_changes(uni: Universe, start: datetime, end: datetime) -> tuple[list[dict], list[dict]]:
    """Price changes inside [start, end): the promotion on serverless jobs ends at one third of
    the window and serverless SQL gets dearer at two thirds. Returns (closes, new rows)."""
    span = end - start
    if span < timedelta(hours=3):
        return [], []
    t1 = floor_hour(start + span / 3)
    t2 = floor_hour(start + span * 2 / 3)
    jobs = SKUS["PREMIUM_JOBS_SERVERLESS_COMPUTE_US_EAST"]
    sql = SKUS["PREMIUM_SERVERLESS_SQL_COMPUTE_US_EAST"]
    closes = [
        price_row(uni, jobs.name, PRICE_ORIGIN, jobs.price, jobs.promo, end=t1),
        price_row(uni, sql.name, PRICE_ORIGIN, sql.price, sql.promo, end=t2),
    ]
    news = [
        price_row(uni, jobs.name, t1, jobs.price),
        price_row(uni, sql.name, t2, (sql.price * Decimal("1.03")).quantize(Decimal("0.001"))),
    ]
    return closes, news
