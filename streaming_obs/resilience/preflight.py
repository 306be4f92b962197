"""Checks made before anything is written: a run that cannot finish must not start half-way.

Without them a checkpoint root that cannot be written is found only after bootstrap created the
tables and the first query started, and a warehouse that cannot be created fails one Delta write
deep inside a batch. Object-store roots (`s3://`, `abfss://` …) are left to Spark: only it holds
their credentials.
"""

from __future__ import annotations

import os
import shutil
import uuid
from typing import TYPE_CHECKING

from streaming_obs.errors import CheckpointError, StorageError
from streaming_obs.resilience.paths import local_path, make_private_dirs

if TYPE_CHECKING:
    from streaming_obs.config.models import Settings

__all__ = ["check_storage", "check_writable_dir"]


def _missing_top(path: str) -> str | None:
    """The outermost directory of `path` that does not exist yet (what makedirs would create)."""
    top = None
    cur = path
    while cur and not os.path.exists(cur):
        top, parent = cur, os.path.dirname(cur)
        if parent == cur:
            break
        cur = parent
    return top


def check_writable_dir(path: str) -> str | None:
    """Create `path` if needed and write a probe file there; the OS's reason if that fails."""
    try:
        make_private_dirs(path)
        probe = os.path.join(path, f".streaming_obs_probe_{uuid.uuid4().hex}")
        with open(probe, "w", encoding="utf-8") as fh:
            fh.write("ok")
        os.remove(probe)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def check_storage(settings: Settings) -> None:
    """Raise before any write if the warehouse or checkpoint root is unusable.

    When one root fails, directories this check created for the other are removed again, so a
    failed start leaves the file system as it found it.

    Raises:
        StorageError: `storage.warehouse` cannot be created or written.
        CheckpointError: `storage.checkpoints` cannot be created or written.
    """
    storage = settings.storage
    checks = [("storage.checkpoints", storage.checkpoints, CheckpointError)]
    if not storage.use_metastore:
        checks.insert(0, ("storage.warehouse", storage.warehouse, StorageError))
    created: list[str] = []
    for key, root, error in checks:
        path = local_path(root)
        if path is None:
            continue
        top = _missing_top(path)
        reason = check_writable_dir(path)
        if reason is None:
            if top is not None:
                created.append(top)
            continue
        for made in created:
            shutil.rmtree(made, ignore_errors=True)
        raise error(f"{key} = {path} cannot be created or written ({reason}); "
                    f"point {key} at a writable directory (docs/troubleshooting.md#storage-not-writable)")
