"""The design streaming_obs replaces: a daily batch job with high-water marks.

Each update (once a day in the original; once per benchmark step here):
1. reads the last processed version of the source from a bookmark table, and the version
   processed `overlap` updates before it: the read starts there, so late-arriving rows of the
   previous updates are read again (the overlap window);
2. batch-reads that version range of `system.billing.usage` (change feed, inserts only);
3. MERGEs it into its own silver copy on `record_id` (the overlap makes duplicates; usage is
   never deduplicated on anything else);
4. recomputes every gold table from silver, from scratch (the product's gold SQL, scope
   "everything"), and MERGEs it;
5. appends the new bookmark.
This lives in benchmarks/, not in the product. It is favoured on purpose: only the usage path is
charged, the other silver tables are the stream's (read, never written by the baseline).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from streaming_obs.tables import Tables, TableRef

__all__ = ["Bookmarks", "BaselineTables", "DailyBaseline"]


@dataclass
class Bookmarks:
    """The high-water-mark table: the last version processed per source, one row per update."""

    rows: list[tuple[int, str, int]] = field(default_factory=list)  # (update, source, last version)

    def history(self, source: str) -> list[int]:
        """Last processed versions of `source`, oldest first."""
        return [v for _u, s, v in sorted(self.rows) if s == source]

    def start_version(self, source: str, overlap: int) -> int:
        """First version the next update reads: after the bookmark `overlap` updates back
        (0 when there is no bookmark yet: first run reads everything)."""
        hist = self.history(source)
        if not hist:
            return 0
        return hist[max(0, len(hist) - 1 - overlap)] + 1

    def record(self, source: str, version: int) -> tuple[int, str, int]:
        """Add the bookmark of a finished update; returns the row written."""
        update = 1 + max((u for u, s, _v in self.rows if s == source), default=-1)
        row = (update, source, int(version))
        self.rows.append(row)
        return row


class BaselineTables(Tables):
    """The product's tables, except silver usage and gold, which the baseline owns."""

    def __init__(self, settings, root: str) -> None:
        super().__init__(settings)
        self.root = os.path.abspath(root)

    def _own(self, layer: str, name: str) -> TableRef:
        path = os.path.join(self.root, layer, name)
        return TableRef(f"baseline_{layer}", name, f"delta.`{path}`", path)

    def silver(self, source: str) -> TableRef:
        return self._own("silver", source) if source == "billing_usage" else super().silver(source)

    def gold(self, name: str) -> TableRef:
        super().gold(name)  # validates the name
        return self._own("gold", name)

    @property
    def bookmarks_path(self) -> str:
        return os.path.join(self.root, "ops", "hwm")


class DailyBaseline:
    """The daily high-water-mark job, run against the same source as the stream."""

    def __init__(self, spark, settings, root: str, *, overlap: int = 1) -> None:
        self.spark, self.settings = spark, settings
        self.tables = BaselineTables(settings, root)
        self.product = Tables(settings)
        self.overlap = overlap
        self.bookmarks = Bookmarks()

    def setup(self, seed_versions: list[int]) -> dict:
        """Start in sync with the stream (call it while the stream is idle): silver usage and the
        gold tables are shallow clones of the product's, and the bookmarks are the source
        versions after each of the last updates (`seed_versions`, oldest first)."""
        from streaming_obs.tables import GOLD_TABLES

        t0 = time.monotonic()
        pairs = [(self.product.silver("billing_usage"), self.tables.silver("billing_usage"))]
        pairs += [(self.product.gold(g), self.tables.gold(g)) for g in GOLD_TABLES]
        for src, dst in pairs:
            self.spark.sql(f"CREATE OR REPLACE TABLE {dst.ident} SHALLOW CLONE {src.ident}")
        self.bookmarks = Bookmarks()
        for v in seed_versions:
            self.bookmarks.record("billing_usage", v)
        self._write_bookmarks()
        return {"seconds": time.monotonic() - t0}

    def _write_bookmarks(self) -> None:
        df = self.spark.createDataFrame(self.bookmarks.rows, "update INT, source STRING, last_version BIGINT")
        df.write.format("delta").mode("overwrite").save(self.tables.bookmarks_path)

    def update(self) -> dict:
        """One update: version range with overlap → silver MERGE → gold from scratch → bookmark."""
        from delta.tables import DeltaTable
        from pyspark.sql import functions as F

        from benchmarks.deltalog import latest_version
        from streaming_obs.gold.compute import GoldScope, GoldWriter

        spark = self.spark
        t0 = time.monotonic()
        # The bookmark table is the job's state: read it back as the original did.
        stored = spark.read.format("delta").load(self.tables.bookmarks_path).collect()
        self.bookmarks = Bookmarks([(int(r["update"]), r["source"], int(r["last_version"])) for r in stored])
        source = self.product.source("billing_usage")
        start, end = self.bookmarks.start_version("billing_usage", self.overlap), latest_version(source.path)
        silver = self.tables.silver("billing_usage")
        cols = [c for c in silver.read(spark).columns if not c.startswith("_")]
        batch = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", start)
                 .option("endingVersion", end).load(source.path)
                 .where(F.col("_change_type").isin("insert", "update_postimage"))
                 .select(*cols, F.current_timestamp().alias("_ingest_time"),
                         F.lit(None).cast("bigint").alias("_bronze_version"),
                         F.col("_commit_timestamp").alias("_source_commit_ts")))
        t1 = time.monotonic()
        (DeltaTable.forPath(spark, silver.path).alias("t")
         .merge(batch.alias("s"), "t.record_id = s.record_id")
         .whenNotMatchedInsertAll().execute())
        t2 = time.monotonic()
        merged = GoldWriter(spark, self.tables, self.settings).apply(GoldScope.everything())
        t3 = time.monotonic()
        self.bookmarks.record("billing_usage", end)
        self._write_bookmarks()
        return {"start_version": start, "end_version": end, "versions_read": end - start + 1,
                "seconds": time.monotonic() - t0, "silver_merge_s": t2 - t1, "gold_recompute_s": t3 - t2,
                "gold_tables": len(merged)}
