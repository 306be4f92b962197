"""Exactly-once writes from `foreachBatch`.

Delta records `(txnAppId, txnVersion)` per table in the commit. A batch replayed after a crash
carries the same batch id, so its writes are recognised and skipped. The app id belongs to the
checkpoint (a UUID stored beside it), so resetting a checkpoint — which restarts batch ids at
zero — also starts a new app id instead of silently skipping every write.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from streaming_obs.errors import CheckpointError
from streaming_obs.resilience.paths import PRIVATE_FILE_MODE, local_path, make_private_dirs

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["checkpoint_app_id", "commit_tag", "idempotent_write", "tagged_write"]

_APP_ID_FILE = "_streaming_obs_app_id"
_TXN_APP = "spark.databricks.delta.write.txnAppId"
_TXN_VERSION = "spark.databricks.delta.write.txnVersion"
#: recorded in each commit's commitInfo (history's `userMetadata`): which batch and step made it
_USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"


def commit_tag(app_id: str, version: int) -> str:
    """The `userMetadata` of the commits `idempotent_write(app_id, version)` makes."""
    return f"{app_id}@{int(version)}"


def checkpoint_app_id(checkpoint: str, query_name: str) -> str:
    """The stable writer id of a checkpoint, created on first use.

    Raises:
        CheckpointError: the checkpoint directory cannot be created or written.
    """
    path = local_path(checkpoint)
    if path is None:
        # Object stores: the query name is the id; resetting such a checkpoint must also rename
        # the query (documented in docs/troubleshooting.md).
        return f"streaming_obs:{query_name}"
    marker = os.path.join(path, _APP_ID_FILE)
    try:
        make_private_dirs(path)
        if not os.path.exists(marker):
            tmp = f"{marker}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(f"{query_name}:{uuid.uuid4()}")
            os.replace(tmp, marker)
        with open(marker, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path} of query {query_name} is not writable: {exc.strerror}") from exc


@contextmanager
def idempotent_write(session: SparkSession, app_id: str, version: int) -> Iterator[None]:
    """Set Delta's txnAppId/txnVersion on `session` for the writes inside the block.

    Use the batch DataFrame's own session (each streaming query has a cloned one), and a
    distinct `app_id` per logical write: two writes to one table with the same pair would make
    Delta skip the second.
    """
    session.conf.set(_TXN_APP, app_id)
    session.conf.set(_TXN_VERSION, str(version))
    session.conf.set(_USER_METADATA, commit_tag(app_id, version))
    try:
        yield
    finally:
        session.conf.unset(_TXN_APP)
        session.conf.unset(_TXN_VERSION)
        session.conf.unset(_USER_METADATA)


@contextmanager
def tagged_write(session: SparkSession, app_id: str, version: int) -> Iterator[None]:
    """Tag the commits inside the block as `idempotent_write` does, without txnAppId/txnVersion:
    for writes made exactly-once by other means (a watermark in the same commit, gold/follow.py),
    which must not be skipped when a replayed batch has more to write."""
    session.conf.set(_USER_METADATA, commit_tag(app_id, version))
    try:
        yield
    finally:
        session.conf.unset(_USER_METADATA)
