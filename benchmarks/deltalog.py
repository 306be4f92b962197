"""Read Delta logs and streaming checkpoints straight from the file system.

The harness needs commit times, table ids and checkpoint offsets while the pipeline runs; reading
the files costs no Spark job, so measuring does not add load to the thing measured.
"""

from __future__ import annotations

import json
import os
import re

__all__ = ["latest_version", "commit_times", "table_id", "txn_commits", "checkpoint_batches",
           "covered_version", "in_flight"]

_JSON = re.compile(r"^(\d{20})\.json$")


def _log_dir(path: str) -> str:
    return os.path.join(path, "_delta_log")


def _versions(path: str) -> list[int]:
    try:
        names = os.listdir(_log_dir(path))
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for n in names if (m := _JSON.match(n)))


def latest_version(path: str) -> int:
    """Latest committed version of the Delta table at `path` (-1 if there is none)."""
    vs = _versions(path)
    return vs[-1] if vs else -1


def commit_times(path: str, since: int = 0) -> dict[int, float]:
    """{version: commit time (epoch s)} from the commit files' mtime, which is what Delta's history
    and the change feed's `_commit_timestamp` use."""
    out = {}
    for v in _versions(path):
        if v >= since:
            try:
                out[v] = os.path.getmtime(os.path.join(_log_dir(path), f"{v:020d}.json"))
            except FileNotFoundError:
                continue
    return out


def _actions(path: str, version: int) -> list[dict]:
    with open(os.path.join(_log_dir(path), f"{version:020d}.json"), encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def table_id(path: str) -> str | None:
    """The table id (`metaData.id`, which streaming offsets call `reservoirId`)."""
    for v in _versions(path):
        for action in _actions(path, v):
            if "metaData" in action:
                return action["metaData"]["id"]
    return None


def txn_commits(path: str, since: int = 0) -> list[tuple[int, str, int, float]]:
    """(version, txn appId, txn version, commit time) of every commit carrying a `txn` action."""
    times = commit_times(path, since)
    out = []
    for v, t in times.items():
        for action in _actions(path, v):
            if "txn" in action:
                out.append((v, action["txn"]["appId"], int(action["txn"]["version"]), t))
    return out


def checkpoint_batches(checkpoint: str) -> list[dict]:
    """Committed batches of a streaming checkpoint: batch id, source end offsets, commit time."""
    out = []
    commits = os.path.join(checkpoint, "commits")
    try:
        names = [n for n in os.listdir(commits) if n.isdigit()]
    except FileNotFoundError:
        return out
    for name in sorted(names, key=int):
        try:
            with open(os.path.join(checkpoint, "offsets", name), encoding="utf-8") as fh:
                lines = fh.read().splitlines()
            committed = os.path.getmtime(os.path.join(commits, name))
        except FileNotFoundError:
            continue
        offsets = [None if ln.strip() in ("", "-") else json.loads(ln) for ln in lines[2:]]
        out.append({"batch": int(name), "offsets": offsets, "committed_at": committed})
    return out


def covered_version(offset: dict | None) -> int:
    """Highest version of a Delta source an end offset has fully consumed (-1 if none).

    `(v, -1)` means "before the first file of v"; any other index at v means v was read (a batch
    only stops inside a version under maxFilesPerTrigger, which the benchmark does not set).
    """
    if not offset:
        return -1
    v, idx = int(offset["reservoirVersion"]), int(offset.get("index", -1))
    return v if idx >= 0 else v - 1


def in_flight(checkpoint: str) -> bool:
    """True while a batch has written its offsets but not yet its commit."""
    def top(sub: str) -> int:
        try:
            return max((int(n) for n in os.listdir(os.path.join(checkpoint, sub)) if n.isdigit()), default=-1)
        except FileNotFoundError:
            return -1

    return top("offsets") > top("commits")
