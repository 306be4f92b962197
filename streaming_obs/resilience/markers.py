"""The marker a checkpoint reset leaves beside the new checkpoint (see resilience/reset.py)."""

from __future__ import annotations

import os

from streaming_obs.resilience.paths import local_path

__all__ = ["RESET_MARKER", "reset_marker"]

RESET_MARKER = "_streaming_obs_reset_version"


def reset_marker(checkpoint: str) -> int | None:
    """The snapshot version a reset left in `checkpoint`, while the new stream has not started
    past it (after the first committed batch Spark ignores the starting version anyway)."""
    path = local_path(checkpoint)
    if path is None:
        return None
    marker = os.path.join(path, RESET_MARKER)
    if not os.path.exists(marker):
        return None
    with open(marker, encoding="utf-8") as fh:
        return int(fh.read().strip())
