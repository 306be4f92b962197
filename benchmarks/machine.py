"""Facts about the machine and the driver's memory, recorded next to every result."""

from __future__ import annotations

import os
import platform
import resource
import sys
import time

__all__ = ["machine_facts", "cores_used", "DriverMemory"]


def _meminfo_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 ** 2, 1)
    except OSError:
        return None
    return None


def machine_facts(spark=None) -> dict:
    """nproc, memory, load average, Python/Spark/Delta/Java versions."""
    facts = {
        "nproc": os.cpu_count(),
        "mem_total_gib": _meminfo_gib(),
        "loadavg": list(os.getloadavg()),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        import pyspark

        facts["pyspark"] = pyspark.__version__
    except ImportError:
        pass
    try:
        from importlib.metadata import version

        facts["delta_spark"] = version("delta-spark")
    except Exception:
        pass
    if spark is not None:
        facts["spark"] = spark.version
        facts["java"] = spark._jvm.java.lang.System.getProperty("java.version")
        facts["spark_master"] = spark.sparkContext.master
        facts["shuffle_partitions"] = spark.conf.get("spark.sql.shuffle.partitions")
    facts["executable"] = sys.executable
    try:  # share of time some task waited for a CPU (Linux PSI): how contended the machine was
        with open("/proc/pressure/cpu", encoding="utf-8") as fh:
            some = fh.readline().split()
        facts["cpu_pressure_some"] = {kv.split("=")[0]: float(kv.split("=")[1]) for kv in some[1:4]}
    except (OSError, IndexError, ValueError):
        pass
    if spark is not None:
        facts["driver_cpu_s"] = _cpu_seconds(int(spark._jvm.java.lang.ProcessHandle.current().pid()))
    facts["time"] = time.time()
    return facts


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds the process has used (from /proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def cores_used(start: dict, end: dict) -> float | None:
    """Average cores the driver JVM got between two `machine_facts` (CPU seconds / wall seconds)."""
    a, b = start.get("driver_cpu_s"), end.get("driver_cpu_s")
    if a is None or b is None or end["time"] <= start["time"]:
        return None
    return (b - a) / (end["time"] - start["time"])


def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


class DriverMemory:
    """Peak memory of the driver: the JVM's peak RSS (VmHWM) and peak heap, plus Python's.

    `reset()` starts a new peak (clear_refs 5 resets VmHWM; the JVM's pools reset their peaks),
    so each phase gets its own number.
    """

    def __init__(self, spark) -> None:
        self.jvm = spark._jvm
        self.pid = int(self.jvm.java.lang.ProcessHandle.current().pid())

    def reset(self) -> None:
        """Start a new peak."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w", encoding="utf-8") as fh:
                fh.write("5")
        except OSError:
            pass
        for pool in self.jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans():
            pool.resetPeakUsage()

    def peak(self) -> dict:
        """Peaks since the last reset (bytes)."""
        heap = 0
        for pool in self.jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans():
            if str(pool.getType().name()) == "HEAP":  # toString() says "Heap memory"
                heap += int(pool.getPeakUsage().getUsed())
        st = _status(self.pid)
        return {"jvm_peak_rss_bytes": st.get("VmHWM"), "jvm_rss_bytes": st.get("VmRSS"),
                "jvm_peak_heap_bytes": heap,
                "python_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
