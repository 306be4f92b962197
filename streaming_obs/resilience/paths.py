"""Where a storage URI lives on this machine's file system, if it does, and how we create it there.

Local data (warehouse, checkpoints, quarantine, simulator root) is private to the user who runs
the pipeline: directories we create are 0700 and files 0600. Spark's own writes get the same modes
from the Hadoop umask that `session.get_spark` sets for a local master
(``spark.hadoop.fs.permissions.umask-mode=077``).
"""

from __future__ import annotations

import os

__all__ = ["local_path", "make_private_dirs", "PRIVATE_DIR_MODE", "PRIVATE_FILE_MODE"]

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def local_path(uri: str) -> str | None:
    """The absolute local path of `uri` (a plain path or `file:`), or None for an object store
    (`s3://`, `abfss://`, `dbfs:/` …), where our checkpoint markers and pre-flight checks do not apply."""
    if "://" in uri and not uri.startswith("file:"):
        return None
    return os.path.abspath(uri.removeprefix("file://").removeprefix("file:"))


def make_private_dirs(path: str) -> None:
    """`os.makedirs(path, exist_ok=True)`, every directory it creates (not only the last) 0700.

    Directories that already exist keep their mode: they are the user's choice.

    Raises:
        OSError: a directory cannot be created.
    """
    missing = []
    cur = os.path.abspath(path)
    while not os.path.exists(cur):
        missing.append(cur)
        parent = os.path.dirname(cur)
        if parent == cur:
            break
        cur = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, PRIVATE_DIR_MODE)
        except FileExistsError:  # another process made it meanwhile
            continue
        os.chmod(directory, PRIVATE_DIR_MODE)  # mkdir's mode is masked by the umask; be exact
