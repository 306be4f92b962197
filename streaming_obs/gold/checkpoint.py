"""A gold checkpoint whose inputs changed is rebuilt, not fatal.

A streaming checkpoint records one offset per source, in the order of the query's union. When a
release adds an input to the gold query (0.2 adds job_task_run_timeline for job_run_cost), or
contract prices are turned on or off, the old checkpoint no longer fits: Spark refuses to start
("There are [9] sources in the checkpoint offsets and now there are [10] sources requested by
the query"), or, with the same count in another order, Delta refuses an offset of another table.

Gold is a recompute of silver, so nothing in its checkpoint is worth keeping. Before the gold
query starts, the table ids in its latest offsets are compared with the ids of the tables it
will read, in order; when they differ the checkpoint is moved aside
(`<checkpoint>.inputs-<time>`, kept for forensics) and the query starts a new one: it reads
every input's change feed from version 0, so its first batch touches everything and recomputes
gold from silver. The new checkpoint has a new writer id (`resilience/idempotency.py`), so none
of its writes is taken for a replay of the old one's.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from streaming_obs.delta_log import table_id
from streaming_obs.errors import CheckpointError
from streaming_obs.logs import get_logger
from streaming_obs.resilience.paths import local_path

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.tables import TableRef

__all__ = ["checkpoint_table_ids", "replace_if_inputs_changed"]

log = get_logger(__name__)


def checkpoint_table_ids(checkpoint: str) -> list[str | None] | None:
    """The Delta table id (`reservoirId`) of each source in the latest offsets of a local
    checkpoint, in source order (None for a source with no offset yet); None when the
    checkpoint has no offsets (never started) or is not on a local path."""
    path = local_path(checkpoint)
    if path is None:
        return None
    offsets = os.path.join(path, "offsets")
    if not os.path.isdir(offsets):
        return None
    batches = [int(n) for n in os.listdir(offsets) if n.isdigit()]
    if not batches:
        return None
    with open(os.path.join(offsets, str(max(batches))), encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    # line 0: log version ("v1"), line 1: batch metadata, then one line per source ("-": none)
    out: list[str | None] = []
    for line in lines[2:]:
        line = line.strip()
        out.append(None if line in ("", "-") else json.loads(line).get("reservoirId"))
    return out


def replace_if_inputs_changed(spark: SparkSession, checkpoint: str, inputs: list[TableRef],
                              query_name: str) -> str | None:
    """Move `checkpoint` aside when its sources are not `inputs` (in order); returns where it went.

    Returns None when nothing had to move: no checkpoint yet, the same inputs, or a checkpoint
    on an object store (not checked here; docs/troubleshooting.md#gold-inputs-changed).

    Raises:
        CheckpointError: the checkpoint cannot be moved.
    """
    recorded = checkpoint_table_ids(checkpoint)
    if recorded is None:
        return None
    wanted = [table_id(spark, ref) for ref in inputs]
    if len(recorded) == len(wanted) and all(r is None or r == w for r, w in zip(recorded, wanted)):
        return None
    path = local_path(checkpoint)
    old = f"{path}.inputs-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}"
    try:
        os.replace(path, old)
    except OSError as exc:
        raise CheckpointError(f"cannot move checkpoint {path} of query {query_name} aside: {exc.strerror}") from exc
    log.warning("gold inputs changed: checkpoint moved aside, gold is recomputed from silver",
                query=query_name, sources_before=len(recorded), sources_now=len(wanted), old_checkpoint=old)
    return old
