"""Loads SQL and table definitions shipped in `sql/` and renders identifiers into them.

Only identifiers are rendered, and each one is validated first; values are bound as named
parameters (`:name`) through `spark.sql(text, args=...)`, never formatted into the text.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from importlib.resources import files
from typing import Any

import yaml

from streaming_obs.config.models import OPTIONAL_SOURCE_NAMES, SOURCE_NAMES
from streaming_obs.errors import SqlTemplateError

__all__ = ["load_sql", "render_sql", "system_ddl", "table_specs"]

# Used with fullmatch (a `$` anchor would let a trailing newline through).
_PLACEHOLDER_OK = re.compile(r"delta\.`[A-Za-z0-9_./:@+=~-]+`|[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}|[A-Za-z0-9_ ,()<>:`]*")


@lru_cache(maxsize=None)
def load_sql(name: str) -> str:
    """Text of `sql/<name>` from the installed package (e.g. ``gold/cost_daily.sql``).

    Raises:
        SqlTemplateError: no such file.
    """
    node = files("streaming_obs.sql")
    for part in name.split("/"):
        node = node / part
    if not node.is_file():
        raise SqlTemplateError(f"SQL file sql/{name} not found in the package")
    return node.read_text(encoding="utf-8")


def render_sql(name: str, **identifiers: str) -> str:
    """Render the `{placeholders}` of `sql/<name>` with already-validated identifiers.

    Every value must look like an identifier, a quoted Delta path or a column list; anything
    else (quotes, `;`, comments) is refused so that config can never inject SQL.

    Raises:
        SqlTemplateError: a placeholder is missing, or a value is not identifier-shaped.
    """
    text = load_sql(name)
    for key, value in identifiers.items():
        if not _PLACEHOLDER_OK.fullmatch(str(value)):
            raise SqlTemplateError(f"sql/{name}: value for {{{key}}} is not a safe identifier: {value!r}")
    try:
        return string.Formatter().vformat(text, (), identifiers)
    except KeyError as exc:
        raise SqlTemplateError(f"sql/{name}: no value for placeholder {exc}") from None


@lru_cache(maxsize=None)
def table_specs() -> dict[str, Any]:
    """The table definitions of `sql/ddl/tables.yaml`."""
    return yaml.safe_load(load_sql("ddl/tables.yaml"))


@lru_cache(maxsize=None)
def system_ddl(source: str) -> str:
    """The column list of a source's system table (`sql/ddl/system/<source>.ddl`) as one line
    of DDL, comments stripped: usable in `CREATE TABLE t (<ddl>)`, `spark.read.schema(<ddl>)` or
    `streaming_obs.sources.schemas.parse_ddl`.

    Raises:
        KeyError: not one of `SOURCE_NAMES` or `OPTIONAL_SOURCE_NAMES`.
    """
    if source not in SOURCE_NAMES and source not in OPTIONAL_SOURCE_NAMES:
        raise KeyError(f"unknown source {source!r}; known: {', '.join(SOURCE_NAMES)}")
    lines = [re.sub(r"--.*$", "", line).strip() for line in load_sql(f"ddl/system/{source}.ddl").splitlines()]
    return re.sub(r"\s+", " ", " ".join(x for x in lines if x)).replace("< ", "<").replace(" >", ">")
