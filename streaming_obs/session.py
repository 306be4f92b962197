"""The one factory of SparkSessions with Delta Lake.

On Databricks (or under `spark-submit` with Delta already configured) the active session is
reused untouched; locally a session is built with the Delta extensions and the Delta jars.

The jars are resolved once, into a cache, by Spark's own resolver (Ivy) run in a subprocess
whose output goes to the log file, so a first run prints one progress line instead of Ivy's
report and later runs put the cached jars straight on `spark.jars` (no resolver, no report).
`STREAMING_OBS_DELTA_JARS` (or `spark.jars` in the settings) names jars fetched elsewhere: the
offline route. Spark's log goes through the log4j2 config shipped in the wheel: ERROR on the
terminal (everything with `--verbose`), INFO to the run's log file. The gateway JVM is started in
a session of its own, so a Ctrl-C or a SIGTERM to the process group reaches Python only, and
Python decides how to stop.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from streaming_obs import logs
from streaming_obs.errors import DeltaJarsError, JavaNotFoundError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.config.models import Settings

__all__ = ["get_spark", "stop_spark", "check_java", "java_major_version", "jdk_tool", "delta_jars", "jar_cache_dir", "local_conf"]

_DELTA_EXT = "io.delta.sql.DeltaSparkSessionExtension"
_DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
#: the variable naming jars fetched beforehand (comma-separated paths): the offline route
JARS_ENV = "STREAMING_OBS_DELTA_JARS"
#: Spark settings the resolver subprocess must see too (a mirror instead of Maven Central)
_RESOLVER_CONFS = ("spark.jars.repositories", "spark.jars.ivySettings", "spark.jars.excludes")
_OFFLINE_MARKERS = ("UnknownHostException", "ConnectException", "SocketTimeoutException", "unresolved dependency",
                    "not found", "Connection refused", "timed out", "NoRouteToHost")

#: sessions this module built (and may therefore stop); a reused active session is never stopped
_BUILT: set[int] = set()


def jdk_tool(name: str = "java") -> str | None:
    """Path of `name` (java, jfr, jcmd...) of the Java Spark would launch: JAVA_HOME's bin first,
    else beside the `java` on PATH with its links followed (`/usr/bin/java` is usually a link
    into the JDK, whose other tools are not all on PATH). None if there is no such file."""
    home = os.environ.get("JAVA_HOME")
    if home:
        path = os.path.join(home, "bin", name)
    else:
        java = shutil.which("java")
        if not java:
            return None
        path = os.path.join(os.path.dirname(os.path.realpath(java)), name)
    return path if os.path.exists(path) else None


def java_major_version(java: str | None = None) -> int | None:
    """Major version of the `java` Spark would launch (JAVA_HOME first), or None if absent."""
    if java is None:
        java = jdk_tool("java")
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


def jar_cache_dir(package: str) -> Path:
    """Where the jars of one Maven coordinate are cached ($STREAMING_OBS_CACHE, else ~/.cache)."""
    root = os.environ.get("STREAMING_OBS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "streaming_obs")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", package)
    return Path(root) / "jars" / f"{safe}-{hashlib.sha256(package.encode()).hexdigest()[:8]}"


def _cached(cache: Path) -> list[str] | None:
    manifest = cache / "jars.txt"
    if not manifest.is_file():
        return None
    jars = [line.strip() for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    return jars if jars and all(os.path.isfile(j) for j in jars) else None


def offline_hint(package: str) -> str:
    """The one line said when Maven Central cannot be reached."""
    return (f"cannot fetch the Delta Lake jars ({package}): Maven Central is not reachable from here. "
            f"Offline route: copy the jars from a machine that can reach it (they are in "
            f"{jar_cache_dir(package)}/jars after a run there) and set {JARS_ENV}=/path/a.jar,/path/b.jar "
            "(docs/deployment.md#offline-delta-jars)")


def delta_jars(settings: Settings, *, timeout_s: float = 900) -> list[str]:
    """Local paths of the Delta jars and their dependencies, fetched on first use only.

    Order: `STREAMING_OBS_DELTA_JARS`, then `spark.jars` in the settings, then the cache; on a
    cache miss Spark's resolver runs once in a subprocess (its report goes to the log file).

    Raises:
        DeltaJarsError: the jars could not be fetched (one line, with the offline route).
    """
    named = os.environ.get(JARS_ENV, "").strip()
    if named:
        jars = [j.strip() for j in named.split(",") if j.strip()]
        missing = [j for j in jars if not os.path.isfile(j)]
        if missing:
            raise DeltaJarsError(f"{JARS_ENV} names a jar that does not exist: {missing[0]}")
        return jars
    if settings.spark.jars:
        return list(settings.spark.jars)
    package = settings.spark.delta_package
    cache = jar_cache_dir(package)
    jars = _cached(cache)
    if jars:
        return jars
    cache.mkdir(parents=True, exist_ok=True)
    with _lock(cache / ".lock"):
        jars = _cached(cache)  # another process may have fetched them while this one waited
        if jars:
            return jars
        logs.notice("fetching Delta Lake jars, first run only, ~90 MB (cached in %s)" % cache)
        return _resolve(settings, package, cache, timeout_s)


@contextlib.contextmanager
def _lock(path: Path):
    with open(path, "w") as fh:
        try:
            import fcntl

            fcntl.flock(fh, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows: no concurrent first runs there
            pass
        yield


def _resolve(settings: Settings, package: str, cache: Path, timeout_s: float) -> list[str]:
    from pyspark.find_spark_home import _find_spark_home

    submit = os.path.join(_find_spark_home(), "bin", "spark-submit")
    work = Path(tempfile.mkdtemp(prefix="ivy-", dir=cache))
    noop = work / "noop.py"
    noop.write_text("", encoding="utf-8")
    cmd = [submit, "--packages", package, "--conf", f"spark.jars.ivy={work}"]
    for key in _RESOLVER_CONFS:
        if key in settings.spark.conf:
            cmd += ["--conf", f"{key}={settings.spark.conf[key]}"]
    cmd.append(str(noop))
    env = dict(os.environ, PYSPARK_PYTHON=os.environ.get("PYSPARK_PYTHON", sys.executable))
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env,
                             start_new_session=True)
        text, ok = out.stdout + out.stderr, out.returncode == 0
    except subprocess.TimeoutExpired as exc:
        text, ok = f"timed out after {timeout_s:.0f}s: {exc}", False
    logs.get_logger(__name__).info("delta jar resolution", package=package, ok=ok, output=text[-20000:])
    fetched = sorted(str(p) for p in (work / "jars").glob("*.jar")) if ok else []
    if not fetched:
        shutil.rmtree(work, ignore_errors=True)
        if any(m in text for m in _OFFLINE_MARKERS):
            raise DeltaJarsError(offline_hint(package))
        last = [line for line in text.strip().splitlines() if line.strip()][-1:] or ["no output"]
        raise DeltaJarsError(f"could not fetch the Delta Lake jars ({package}): {last[0].strip()[:300]}")
    final = cache / "jars"
    shutil.rmtree(final, ignore_errors=True)
    (work / "jars").rename(final)
    shutil.rmtree(work, ignore_errors=True)  # Ivy's own cache: a second copy of every jar
    jars = sorted(str(p) for p in final.glob("*.jar"))
    (cache / "jars.txt").write_text("\n".join(jars) + "\n", encoding="utf-8")
    return jars


def _shipped_file(name: str) -> str:
    """A real file path for a file shipped in the package.

    The JVM opens these paths itself, so a file inside a zip (a wheel handed to spark-submit
    with --py-files and imported from there) is copied out first, once per content, into a
    directory named by its hash.
    """
    res = resources.files("streaming_obs") / name
    if isinstance(res, Path) and res.is_file():
        return str(res)
    data = res.read_bytes()
    out = Path(tempfile.gettempdir()) / f"streaming_obs-{hashlib.sha256(data).hexdigest()[:16]}" / name
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(out)  # atomic: two drivers starting at once never read half a file
    return str(out)


def log4j_config() -> str:
    """Path of the log4j2 properties file shipped in the wheel."""
    return _shipped_file("log4j2.properties")


def scheduler_pools() -> str:
    """Path of the FAIR scheduler pools shipped in the wheel (cost, sources, gold)."""
    return _shipped_file("fairscheduler.xml")


def _java_options(settings: Settings) -> str:
    """Driver JVM options: UTC, and the shipped log4j2 config with this run's file and level."""
    opts = ["-Duser.timezone=UTC", f"-Dlog4j.configurationFile={log4j_config()}",
            f"-Dstreaming_obs.console.level={'INFO' if logs.is_verbose() else 'ERROR'}"]
    log_file = logs.current_log_file()
    if log_file:
        opts.append(f"-Dstreaming_obs.log.file={log_file}")
    return " ".join(opts)


def local_conf(settings: Settings, jars: list[str] | None = None) -> dict[str, str]:
    """The Spark confs of a session `get_spark` builds (Delta, UI and bind address, logging,
    `spark.conf` of the settings); the spark-submit driver sets them on its own session."""
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
        # How long a query's `stop()` waits for its thread once the stop's own deadline
        # (resilience.stop_timeout_seconds) cut a batch: the cut batch ends as a stop whenever it
        # surfaces (`batch_ended_by_stop`), so waiting longer only delays the exit.
        "spark.sql.streaming.stopTimeout": "15000",
        # ~20 queries each plan several distinct stages per batch: Spark's default cache of 100
        # generated classes thrashed, recompiling every batch (a continuous run on 2 cores spent
        # ~30 % longer per batch with it).
        "spark.sql.codegen.cache.maxEntries": "1000",
        # Every SQL execution renders its plan for the UI; "formatted" (the default) details
        # every node and showed up as ~9 % of the driver's busy time in a continuous run.
        "spark.sql.ui.explainMode": "simple",
        "spark.sql.adaptive.enabled": "true",
        # ~11 queries share the cores: the usage query's jobs (cost_daily, the freshness promise)
        # go first through its own pool rather than queueing behind the other sources' (FIFO).
        "spark.scheduler.mode": "FAIR",
        "spark.scheduler.allocation.file": scheduler_pools(),
        "spark.driver.extraJavaOptions": _java_options(settings),
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
    if jars:
        conf["spark.jars"] = ",".join(jars)
    user = dict(s.conf)
    if "spark.driver.extraJavaOptions" in user:  # theirs win, ours (UTC, logging) stay underneath
        user["spark.driver.extraJavaOptions"] = conf["spark.driver.extraJavaOptions"] + " " + user[
            "spark.driver.extraJavaOptions"]
    conf.update(user)
    return conf


def _launch_gateway(conf: dict[str, str]) -> None:
    """Start the JVM in a session of its own (pyspark's launcher, one extra Popen argument).

    pyspark already makes the JVM ignore SIGINT; a new session also keeps SIGTERM/SIGHUP sent to
    the terminal's process group away from it, so a signal never kills the JVM under running
    queries: Python stops them between batches, then stops Spark. The JVM still exits when
    Python does (it watches its stdin pipe).
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None:  # a JVM from an earlier session in this process
        return
    spark_conf = SparkConf(loadDefaults=False)
    for key, value in conf.items():
        spark_conf.set(key, value)
    gateway = launch_gateway(spark_conf, popen_kwargs={"start_new_session": True, "stderr": subprocess.PIPE})
    threading.Thread(target=_forward_jvm_stderr, args=(gateway.proc.stderr,), name="jvm-stderr", daemon=True).start()
    SparkContext._ensure_initialized(gateway=gateway, conf=spark_conf)


#: JVM start-up lines that say nothing to a user (Spark 4 turns on the incubating vector API)
_JVM_NOISE = ("WARNING: Using incubator modules",)


def _forward_jvm_stderr(stream) -> None:  # noqa: ANN001
    """Pass the JVM's stderr on: to the terminal, or to the log file while a live console owns it.

    Spark's log reaches stderr at ERROR only (the shipped log4j2 config); what else the JVM
    prints there (a crash, `Exception in thread ...`) must not tear the live console apart.
    """
    import logging

    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        if any(line.startswith(n) for n in _JVM_NOISE):
            logs.to_file(logging.INFO, "spark.jvm", line)
        elif logs.jvm_goes_to_file():
            logs.to_file(logging.ERROR, "spark.jvm", line)
        else:
            logs.to_file(logging.ERROR, "spark.jvm", line)
            sys.stderr.write(line + "\n")
            sys.stderr.flush()


def get_spark(settings: Settings) -> SparkSession:
    """Return the active SparkSession if one exists, else build a local one with Delta.

    Raises:
        JavaNotFoundError: Java is missing or older than 17.
        DeltaJarsError: the Delta jars could not be fetched (Maven Central unreachable).
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    check_java()
    conf = local_conf(settings, delta_jars(settings))
    builder = SparkSession.builder.master(settings.spark.master).appName(settings.spark.app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        _launch_gateway({"spark.master": settings.spark.master, "spark.app.name": settings.spark.app_name, **conf})
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM died before talking to Python: say why in one line
        if "JAVA_GATEWAY_EXITED" in str(exc):
            raise DeltaJarsError(
                f"could not start Spark with the Delta jars ({settings.spark.delta_package}); "
                f"see {logs.current_log_file() or 'the output above'}") from exc
        raise
    _BUILT.add(id(spark))
    return spark


def stop_spark(spark: SparkSession | None) -> None:
    """Stop a session `get_spark` built (a reused Databricks/spark-submit session is left alone)."""
    if spark is None or id(spark) not in _BUILT:
        return
    _BUILT.discard(id(spark))
    try:
        spark.stop()
    except Exception as exc:  # the JVM is already gone: nothing left to stop
        logs.get_logger(__name__).info("spark.stop failed", error=str(exc)[:300])
