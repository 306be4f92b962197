"""Empty tables for a test, from a template made once per test process.

Bootstrapping a warehouse is ~50 `CREATE TABLE`s (a pipeline's tables plus a second gold schema
for the from-scratch reference): ~20 s on 2 cores, paid by every property example and every
known-answer test. The tables those statements create are the same each time but for where they
live, and a new Delta table is only its `_delta_log/` (no data file, no absolute path inside).
So the first call with a given set of statements runs them under a template directory, side
by side (bootstrap's `create_side_by_side`), and every call copies the template's table
directories to the test's warehouse.
`tests/test_bootstrap.py` tests bootstrap itself; this is only how tests get its result quickly.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from streaming_obs.bootstrap import create_side_by_side

_PLACEHOLDER = "\x00warehouse\x00"
_templates: dict[tuple[str, ...], str] = {}


def create_tables(spark, statements: list[str], warehouse: str) -> None:
    """Apply `statements` (CREATE TABLE of path tables under `warehouse`) to `warehouse`.

    A statement that names no path under `warehouse` is run as it is, after the copy.
    """
    root = os.path.abspath(warehouse).rstrip("/")
    mine = [s for s in statements if f"`{root}/" in s]
    key = tuple(s.replace(f"`{root}/", f"`{_PLACEHOLDER}/") for s in mine)
    template = _templates.get(key)
    if template is None:
        template = tempfile.mkdtemp(prefix="streaming-obs-tables-")
        atexit.register(shutil.rmtree, template, ignore_errors=True)  # the process's templates go with it
        rendered = [s.replace(_PLACEHOLDER, template) for s in key]
        create_side_by_side(spark, rendered)
        _templates[key] = template
    for table in _table_dirs(template):
        target = os.path.join(root, table)
        if os.path.exists(os.path.join(target, "_delta_log")):
            continue  # IF NOT EXISTS: a table already there is left as it is
        # shutil.copy, not copy2: the copies' commit files get this moment's time, as a CREATE now would
        shutil.copytree(os.path.join(template, table), target, copy_function=shutil.copy)
    for stmt in statements:
        if stmt not in mine:
            spark.sql(stmt)


def _table_dirs(template: str) -> list[str]:
    """The tables under `template`, as paths relative to it (the directories holding a `_delta_log`)."""
    found = []
    for here, dirs, _ in os.walk(template):
        if "_delta_log" in dirs:
            found.append(os.path.relpath(here, template))
            dirs.clear()
    return found
