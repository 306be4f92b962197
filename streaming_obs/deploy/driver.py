"""The program `spark-submit.sh` hands to `spark-submit`: start Spark the submit's way, then run the CLI.

`spark-submit` needs a Python *file* as its primary resource; `spark-submit.sh` extracts this
module from the wheel and runs it, with the wheel itself on `--py-files`. The session is created
here, before the CLI runs, so that the master, the Delta `--packages` and the `--conf`s given to
`spark-submit` win over `spark.master` of the YAML config (`session.get_spark` reuses an active
session untouched). Settings-level SQL confs (shuffle partitions, time zone, Delta defaults) are
still applied, because they are runtime confs.

`smoke-test` is a built-in program for checking a cluster without the pipeline: it writes a Delta
table from the executors, reads it back and prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["main", "submit_session", "smoke_test", "env_from_args"]

# Confs that only take effect when the JVM starts or the context is created: spark-submit
# already owns them (`--packages`, `--master`, driver JVM options).
_SUBMIT_OWNED = ("spark.jars", "spark.jars.packages", "spark.master", "spark.driver.extraJavaOptions")


def env_from_args(argv: Sequence[str], default: str = "local") -> str:
    """The value of `--env` (``--env X``, ``-e X`` or ``--env=X``) in a CLI argument list, else
    ``$STREAMING_OBS_ENV``, else `default` (the CLI resolves it the same way)."""
    args = list(argv)
    for i, arg in enumerate(args):
        if arg in ("--env", "-e") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--env="):
            return arg.split("=", 1)[1]
    return os.environ.get("STREAMING_OBS_ENV", default)


def submit_session(env: str | None) -> SparkSession:
    """Create the SparkSession from the submit's SparkConf, plus the runtime confs of `env`.

    Args:
        env: environment whose settings supply shuffle partitions, time zone and Delta
            defaults; None creates the session from the submit's conf alone.

    Returns:
        The active SparkSession (the CLI's `get_spark` will find and reuse it).
    """
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    if env is not None:
        for key, value in _settings_conf(env).items():
            builder = builder.config(key, value)
    return builder.getOrCreate()


def _settings_conf(env: str) -> dict[str, str]:
    from streaming_obs.config import load_settings
    from streaming_obs.session import local_conf  # the one list of Delta/Spark confs

    conf = local_conf(load_settings(env))
    return {k: v for k, v in conf.items() if k not in _SUBMIT_OWNED}


def smoke_test(spark: SparkSession, path: str, rows: int = 1000) -> dict[str, object]:
    """Write `rows` rows as a Delta table at `path` from the executors and read them back.

    Returns:
        ``{"master", "rows", "sum", "delta_version", "executors"}`` for the caller to check.
    """
    from pyspark.sql import functions as F

    df = spark.range(rows, numPartitions=4).withColumn("sq", F.col("id") * F.col("id"))
    df.write.format("delta").mode("overwrite").save(path)
    back = spark.read.format("delta").load(path)
    total = back.agg(F.sum("id")).head()[0]
    version = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").agg(F.max("version")).head()[0]
    executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()  # noqa: SLF001
    return {
        "master": spark.sparkContext.master,
        "rows": back.count(),
        "sum": int(total),
        "delta_version": int(version),
        "executors": int(executors),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run `streaming-obs <argv>` (or `smoke-test <path>`) inside the submitted application.

    Returns:
        The process exit code of the CLI.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "smoke-test":
        path = args[1] if len(args) > 1 else os.path.abspath(".streaming_obs/smoke")
        spark = submit_session(None)
        try:
            print(json.dumps(smoke_test(spark, os.path.abspath(path))), flush=True)
        finally:
            spark.stop()
        return 0
    from streaming_obs.errors import StreamingObsError

    try:
        spark = submit_session(env_from_args(args))
    except StreamingObsError as exc:  # same one-line report as the CLI gives
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    from streaming_obs.cli.main import main as cli_main

    sys.argv = ["streaming-obs", *args]
    try:
        result = cli_main()
        code = result if isinstance(result, int) else 0
    except SystemExit as exc:  # typer/click end with sys.exit(code)
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        spark.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
