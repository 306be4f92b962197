"""The one factory of SparkSessions with Delta Lake.

On Databricks (or under `spark-submit` with Delta already configured) the active session is
reused untouched; locally a session is built with the Delta extensions and the Delta jars taken
from Maven Central with Spark's own resolver (`spark.jars.packages`), or from `spark.jars` when
the settings list jars resolved beforehand.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import TYPE_CHECKING

from streaming_obs.errors import DeltaJarsError, JavaNotFoundError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.config.models import Settings

__all__ = ["get_spark", "check_java", "java_major_version"]

_DELTA_EXT = "io.delta.sql.DeltaSparkSessionExtension"
_DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def java_major_version(java: str | None = None) -> int | None:
    """Major version of the `java` Spark would launch (JAVA_HOME first), or None if absent."""
    if java is None:
        home = os.environ.get("JAVA_HOME")
        java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def check_java(java: str | None = None) -> int:
    """Return the Java major version, or raise a one-line error if Java is missing or < 17."""
    version = java_major_version(java)
    if version is None:
        raise JavaNotFoundError("Java not found: install Java 17 or newer, or set JAVA_HOME")
    if version < 17:
        raise JavaNotFoundError(f"Java {version} found; Spark 4 needs Java 17 or newer")
    return version


def _local_conf(settings: Settings) -> dict[str, str]:
    s = settings.spark
    conf = {
        "spark.sql.extensions": _DELTA_EXT,
        "spark.sql.catalog.spark_catalog": _DELTA_CATALOG,
        "spark.sql.shuffle.partitions": str(s.shuffle_partitions),
        "spark.default.parallelism": str(max(2, s.shuffle_partitions)),
        "spark.ui.enabled": str(s.ui).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": os.path.abspath(os.path.join(settings.storage.warehouse, "_metastore")),
        # Delta's log replay defaults to 50 partitions: far too many for a laptop-sized stream.
        "spark.databricks.delta.snapshotPartitions": str(max(1, s.shuffle_partitions)),
        # VACUUM lists a table's files with this many tasks; Spark's default of 10 000 made a
        # VACUUM of a tiny gold table take 20-30 s on 2 cores (2 s with this).
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(max(2, s.shuffle_partitions)),
        "spark.databricks.delta.properties.defaults.enableChangeDataFeed": "true",
        "spark.databricks.delta.schema.autoMerge.enabled": "true",
        "spark.sql.streaming.stopTimeout": "60000",
        # ~20 queries each plan several distinct stages per batch: Spark's default cache of 100
        # generated classes thrashed, recompiling every batch (a continuous run on 2 cores spent
        # ~30 % longer per batch with it).
        "spark.sql.codegen.cache.maxEntries": "1000",
        # Every SQL execution renders its plan for the UI; "formatted" (the default) details
        # every node and showed up as ~9 % of the driver's busy time in a continuous run.
        "spark.sql.ui.explainMode": "simple",
        "spark.sql.adaptive.enabled": "true",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    }
    if s.master.startswith("local"):
        # Nothing outside this machine talks to a local driver: listen on loopback only (the
        # RPC and block manager ports; Spark's default is the host's first non-loopback address,
        # with spark.authenticate off). A cluster master needs a reachable driver: left alone.
        conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf["spark.driver.host"] = "127.0.0.1"
        # Local tables and checkpoints are private to the user: Hadoop applies this umask to
        # every file (0600) and directory (0700) that Spark and Delta create.
        conf["spark.hadoop.fs.permissions.umask-mode"] = "077"
    if settings.maintenance.optimize_write:
        conf["spark.databricks.delta.optimizeWrite.enabled"] = "true"
    if settings.maintenance.auto_compact:
        conf["spark.databricks.delta.autoCompact.enabled"] = "true"
    if s.jars:
        conf["spark.jars"] = ",".join(s.jars)
    else:
        conf["spark.jars.packages"] = s.delta_package
    conf.update(s.conf)
    return conf


def get_spark(settings: Settings) -> SparkSession:
    """Return the active SparkSession if one exists, else build a local one with Delta.

    Raises:
        JavaNotFoundError: Java is missing or older than 17.
        DeltaJarsError: Spark could not resolve the Delta jars from Maven Central.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    check_java()
    builder = SparkSession.builder.master(settings.spark.master).appName(settings.spark.app_name)
    for key, value in _local_conf(settings).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM died before talking to Python: say why in one line
        text = str(exc)
        if "JAVA_GATEWAY_EXITED" in text or "unresolved dependency" in text:
            raise DeltaJarsError(
                f"could not start Spark with {settings.spark.delta_package}: the Delta jars did not "
                "resolve from Maven Central (check network/proxy, or pre-fetch them with "
                "`make jars` and set spark.jars)"
            ) from exc
        raise
    spark.sparkContext.setLogLevel("WARN")
    return spark
