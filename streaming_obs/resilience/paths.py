"""Where a storage URI lives on this machine's file system, if it does."""

from __future__ import annotations

import os

__all__ = ["local_path"]


def local_path(uri: str) -> str | None:
    """The absolute local path of `uri` (a plain path or `file:`), or None for an object store
    (`s3://`, `abfss://`, `dbfs:/` …), where our checkpoint markers and pre-flight checks do not apply."""
    if "://" in uri and not uri.startswith("file:"):
        return None
    return os.path.abspath(uri.removeprefix("file://").removeprefix("file:"))
