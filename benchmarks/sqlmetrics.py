"""Rows read, from Spark's own SQL metrics (the UI's REST API).

Every file scan (`Scan parquet`, `Scan json`: data files and Delta log replays alike) reports
"number of output rows", "number of files read" and "size of files read". Summing them over the
SQL executions of a window gives the work done, measured the same way for the stream and the
baseline. Executions are told apart by their description (`spark.job.description`), which the
harness sets around its own work (`bench:*`).
"""

from __future__ import annotations

import json
import re
import urllib.request

__all__ = ["SqlMetrics", "parse_metric", "scan_totals"]

_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "TiB": 1024 ** 4}
_SKIP = ("LocalTableScan", "Scan ExistingRDD", "Scan OneRowRelation", "Scan RDD")


def parse_metric(value: str) -> float:
    """A metric string of the SQL UI as a number: '1,234', '12.5 MiB', or the first line after
    'total (min, med, max ...)'."""
    text = value.strip()
    if text.startswith("total"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
    m = re.match(r"\s*([\d,]+(?:\.\d+)?)\s*([KMGT]?i?B)?", text)
    if not m:
        return 0.0
    number = float(m.group(1).replace(",", ""))
    return number * _UNITS.get(m.group(2) or "", 1)


def scan_totals(executions: list[dict], top_n: int = 5) -> dict:
    """Rows, files and bytes read by the file scans of `executions` (REST `sql` entries), their
    summed duration, and the `top_n` longest (where the time goes)."""
    rows = files = size = 0.0
    per_exec = []
    for ex in executions:
        ex_rows = 0.0
        for node in ex.get("nodes", []):
            name = node.get("nodeName", "")
            if not name.startswith("Scan") or name.startswith(_SKIP):
                continue
            for metric in node.get("metrics", []):
                if metric["name"] == "number of output rows":
                    ex_rows += parse_metric(metric["value"])
                elif metric["name"] == "number of files read":
                    files += parse_metric(metric["value"])
                elif metric["name"] == "size of files read":
                    size += parse_metric(metric["value"])
        rows += ex_rows
        per_exec.append((ex_rows, ex))
    top = sorted(executions, key=lambda e: -int(e.get("duration") or 0))[:top_n]
    # which executions read the most: the first place to look when rows read grow with data
    most = sorted(per_exec, key=lambda p: -p[0])[:top_n]
    return {"rows_read": int(rows), "files_read": int(files), "bytes_read": int(size), "executions": len(executions),
            "exec_ms": sum(int(e.get("duration") or 0) for e in executions),
            "top": [{"ms": int(e.get("duration") or 0), "description": (e.get("description") or "")[:120],
                     "nodes": [n.get("nodeName", "") for n in e.get("nodes", [])][:6]} for e in top],
            "most_rows": [{"rows": int(r), "ms": int(e.get("duration") or 0),
                           "description": (e.get("description") or "")[:120],
                           "scans": [n.get("nodeName", "") for n in e.get("nodes", []) if n.get("nodeName", "").startswith("Scan")]}
                          for r, e in most if r > 0]}


class SqlMetrics:
    """Client of `/api/v1/applications/<app>/sql` of the running session."""

    def __init__(self, spark) -> None:
        sc = spark.sparkContext
        self.url = sc.uiWebUrl
        self.app = sc.applicationId
        self.seen = 0  # executions listed so far (the list only grows: retention is raised)
        self.last = -1

    def _get(self, offset: int, length: int) -> list[dict]:
        url = (f"{self.url}/api/v1/applications/{self.app}/sql?details=true&planDescription=false"
               f"&offset={offset}&length={length}")
        with urllib.request.urlopen(url, timeout=120) as resp:  # noqa: S310 (local UI)
            return json.load(resp)

    def mark(self) -> int:
        """The highest execution id so far (a window starts after it)."""
        if not self.url:
            return -1
        while True:
            page = self._get(self.seen, 500)
            if not page:
                return self.last
            self.seen += len(page)
            self.last = max(self.last, max(int(e["id"]) for e in page))

    def window(self, after: int, upto: int, *, include: str | None = None, exclude: str = "bench:") -> dict:
        """Scan totals of executions with id in (after, upto]: those whose description starts
        with `include`, or (include None) all but those starting with `exclude`."""
        if not self.url:
            return {"rows_read": None, "files_read": None, "bytes_read": None, "executions": 0}
        # Ids are consecutive from 0 and listed in order, so id i sits at index i; start a little
        # early in case the listener has not recorded an execution yet.
        start = max(0, after + 1 - 100)
        picked = []
        offset = start
        while True:
            page = self._get(offset, 500)
            if not page:
                break
            offset += len(page)
            for e in page:
                i = int(e["id"])
                if after < i <= upto:
                    desc = e.get("description") or ""
                    if (desc.startswith(include) if include is not None else not desc.startswith(exclude)):
                        picked.append(e)
            if int(page[-1]["id"]) > upto:
                break
        return scan_totals(picked)
