"""Where a JVM's time goes, from a Java Flight Recorder recording: the share of execution samples
whose stack passes through each kind of work (Delta's log state, Catalyst's phases, task
serialization, running tasks...). The categories overlap (a MERGE's analysis is both "delta merge"
and "analyzer"), so the shares do not add up to 100 %.

Record any run (a test, `streaming-obs run`, the benchmark) with JDK 17's built-in recorder, then
break it down:

    JDK_JAVA_OPTIONS="-XX:FlightRecorderOptions=stackdepth=1024 \\
      -XX:StartFlightRecording=filename=run.jfr,settings=profile,dumponexit=true" \\
      .venv/bin/python -m pytest tests/gold/test_job_run_cost.py
    .venv/bin/python -m benchmarks.jvmprofile run.jfr

The deep stack depth matters: with JFR's default of 64 frames a Catalyst stack loses its outer
frames and the categories below it are undercounted. JFR samples Java code only: the JIT
compiler's own threads and GC do not appear (the JVM's CPU split is `jcmd <pid> Thread.print` or
`top -H` territory).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from streaming_obs.session import jdk_tool

__all__ = ["CATEGORIES", "Sample", "thread_kind", "breakdown", "load_samples", "render", "main"]

#: category -> substrings of "class.method" frames; a sample counts for every category it touches
CATEGORIES: dict[str, tuple[str, ...]] = {
    "delta log state (snapshots)": ("delta/SnapshotManagement", "delta/Snapshot.", "delta/Snapshot$",
                                    "delta/DeltaLog.update"),
    "delta scan planning (files for scan)": ("DataSkippingReaderBase.filesForScan",),
    "delta merge": ("MergeIntoCommand",),
    "delta commit": ("OptimisticTransactionImpl.commit",),
    "delta checksum (.crc)": ("RecordChecksum", "ChecksumHook", "writeChecksumFile"),
    "delta create table": ("CreateDeltaTableCommand",),
    "analysis": ("catalyst/analysis/Analyzer.executeAndCheck",),
    "optimization": ("QueryExecution.optimizedPlan", "QueryExecution.$anonfun$optimizedPlan"),
    "physical planning": ("QueryExecution.sparkPlan", "QueryExecution.executedPlan",
                          "QueryExecution.$anonfun$executedPlan", "QueryExecution.$anonfun$sparkPlan"),
    "SQL parsing": ("antlr",),
    "task (de)serialization": ("java/io/ObjectOutputStream", "java/io/ObjectInputStream"),
    "closure cleaning": ("ClosureCleaner",),
    "running tasks": ("Executor$TaskRunner.run",),
    "DAG scheduler": ("DAGScheduler",),
    "code generation": ("janino", "CodeGenerator"),
    "class loading": ("ClassLoader.loadClass", "java/util/zip/ZipFile"),
    "listeners (UI/status)": ("LiveListenerBus", "AsyncEventQueue", "AppStatusListener"),
}


class Sample(NamedTuple):
    """One execution sample: the sampled thread's name and its frames as "class.method"."""

    thread: str
    frames: list[str]


def thread_kind(name: str) -> str:
    """Threads grouped by role: Python's calls into the driver (a test's, or a `foreachBatch`
    function's) run on py4j's `Thread-N` threads; each streaming query plans its micro-batches
    on a thread of its own."""
    if name.startswith("Executor task launch"):
        return "tasks"
    if name.startswith("Thread-") or name == "main":
        return "driver (py4j)"
    if name.startswith("stream execution thread"):
        return "query threads"
    if name.startswith("dag-scheduler"):
        return "DAG scheduler"
    return "other"


def breakdown(samples: Iterable[Sample],
              categories: dict[str, tuple[str, ...]] = CATEGORIES) -> tuple[int, Counter, Counter]:
    """(number of samples, samples per category, samples per thread kind)."""
    n, per_cat, per_thread = 0, Counter(), Counter()
    for s in samples:
        n += 1
        per_thread[thread_kind(s.thread)] += 1
        stack = "\n".join(s.frames)
        for name, needles in categories.items():
            if any(needle in stack for needle in needles):
                per_cat[name] += 1
    return n, per_cat, per_thread


def load_samples(path: str) -> list[Sample]:
    """The execution samples of a recording, read with the `jfr` tool of the JDK Spark runs on."""
    jfr = jdk_tool("jfr")
    if jfr is None:
        raise FileNotFoundError("the JDK's jfr tool was not found (JAVA_HOME/bin, or beside java): a JRE alone has none")
    out = subprocess.run([jfr, "print", "--json", "--stack-depth", "1024", "--events", "jdk.ExecutionSample", path],
                         capture_output=True, text=True)
    if out.returncode:  # jfr's own one-line reason (no such file, not a recording...)
        raise ValueError(f"{path}: {(out.stderr or out.stdout).strip()}")
    samples = []
    for event in json.loads(out.stdout)["recording"]["events"]:
        values = event["values"]
        trace = values.get("stackTrace") or {"frames": []}
        frames = [f["method"]["type"]["name"] + "." + f["method"]["name"] for f in trace["frames"]]
        samples.append(Sample((values.get("sampledThread") or {}).get("javaName") or "?", frames))
    return samples


def render(n: int, per_cat: Counter, per_thread: Counter) -> str:
    """The breakdown as text, largest share first."""
    lines = [f"{n} execution samples"]
    lines += [f"  {c / n:6.1%}  {k}" for k, c in per_thread.most_common()] if n else []
    lines.append("by kind of work (overlapping):")
    lines += [f"  {c / n:6.1%}  {k}" for k, c in per_cat.most_common()] if n else []
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recording", help="a .jfr file")
    args = parser.parse_args(argv)
    print(render(*breakdown(load_samples(args.recording))))


if __name__ == "__main__":
    main()
