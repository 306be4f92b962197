"""PII masking in silver and in quarantined raw rows: identity emails and statement text hashed
with a salt, the same locally, on Databricks and in the Unity Catalog column masks.

Only Spark built-ins are used (`sha2`, `concat`, `Column.withField`), so no Python runs on the
executors and the function works in any `foreachBatch`. A hash is
``sha2(salt || 0x1F || value, 256)`` as 64 hex characters; emails are trimmed and lower-cased
first so that one person has one pseudonym however a source spells the address. NULL stays NULL,
and a NULL struct stays NULL. A value that already is a hash (64 lower-case hex characters, which
no address or statement is) is kept, so masking twice changes nothing: a quarantined row, masked
when quarantined and replayed later, gets the same pseudonym in silver as a row never quarantined.

`mask_record` does the same in pure Python for one row (a dict or a `Row`), and `mask_raw_rows`
for the JSON ``raw_row`` column of quarantine rows.

The salt comes from the environment variable named by `governance.pii_salt_env` and is never
stored in config (`streaming_obs.config.salt`). Spark plans carry it as a literal, so whoever can
read the Spark UI or event logs of the pipeline can read the salt: keep those to the pipeline's
operators.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from streaming_obs.config.salt import pii_salt

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType

    from streaming_obs.config.models import Settings

__all__ = [
    "mask_pii",
    "mask_record",
    "mask_raw_rows",
    "mask_value",
    "masked_columns",
]

_SEPARATOR = "\x1f"  # cannot occur in an address: the salt and value cannot run together
_HASHED = re.compile(r"^[0-9a-f]{64}$")
_HASHED_SQL = "^[0-9a-f]{64}$"


def mask_value(value: str | None, salt: str, kind: str) -> str | None:
    """One value masked as `mask_pii` masks it in Spark (``email``: trimmed and lower-cased first)."""
    if value is None or _HASHED.match(value):
        return value
    text = value.strip().lower() if kind == "email" else value
    return hashlib.sha256((salt + _SEPARATOR + text).encode("utf-8")).hexdigest()


def mask_record(
    record: Mapping[str, Any], settings: Settings, *, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A copy of one row (a dict, or a pyspark `Row`) with its configured PII columns masked.

    Names match case-insensitively, dotted names reach into nested dicts, non-string values and
    absent names are left alone; a no-op copy when ``governance.mask_pii`` is off.

    Raises:
        ConfigError: masking is on and the salt is missing or too short.
    """
    as_dict = getattr(record, "asDict", None)
    out = json.loads(json.dumps(as_dict(recursive=True) if as_dict else dict(record), default=str))
    if not settings.governance.mask_pii:
        return out
    salt = pii_salt(settings, environ)
    gov = settings.governance
    for kind, names in (("email", gov.email_columns), ("text", gov.text_columns)):
        for name in names:
            *parents, leaf = name.split(".")
            cursor: Any = out
            for part in parents:
                cursor = _get_ci(cursor, part)
            if isinstance(cursor, dict):
                key = next((k for k in cursor if k.lower() == leaf.lower()), None)
                if key is not None and isinstance(cursor[key], str):
                    cursor[key] = mask_value(cursor[key], salt, kind)
    return out


def _get_ci(obj: Any, name: str) -> Any:
    if not isinstance(obj, dict):
        return None
    key = next((k for k in obj if k.lower() == name.lower()), None)
    return obj[key] if key is not None else None


def mask_raw_rows(
    quarantine: DataFrame,
    source_schema: StructType,
    settings: Settings,
    *,
    column: str = "raw_row",
    environ: Mapping[str, str] | None = None,
) -> DataFrame:
    """Mask the PII inside the JSON `column` of quarantine rows, as `mask_pii` masks silver.

    The JSON (``to_json`` of a row of `source_schema`) is decoded with that schema, masked, and
    encoded again; other columns are untouched. A no-op when ``governance.mask_pii`` is off. Use it
    where quarantine rows are built (or to mask rows quarantined before masking was turned on).

    Raises:
        ConfigError: masking is on and the salt is missing or too short.
    """
    if not settings.governance.mask_pii or not masked_columns(source_schema, settings):
        return quarantine
    from pyspark.sql import functions as F

    salt = pii_salt(settings, environ)
    decoded = F.from_json(F.col(_quoted(column)), source_schema)
    replacements = _replacements(source_schema, settings, salt, decoded.getField)
    fields = [replacements.get(f.name, decoded.getField(f.name)).alias(f.name) for f in source_schema.fields]
    rebuilt = F.when(decoded.isNull(), F.lit(None).cast("string")).otherwise(F.to_json(F.struct(*fields)))
    return quarantine.withColumn(column, rebuilt)


def _find(schema: StructType, path: list[str]) -> list[str] | None:
    """The path with the schema's own spelling of each name, or None if it is not a string leaf."""
    from pyspark.sql.types import StringType, StructType

    spelled = []
    current: object = schema
    for part in path:
        if not isinstance(current, StructType):
            return None
        field = next((f for f in current.fields if f.name.lower() == part.lower()), None)
        if field is None:
            return None
        spelled.append(field.name)
        current = field.dataType
    return spelled if isinstance(current, StringType) else None


def masked_columns(schema: StructType, settings: Settings) -> dict[str, str]:
    """Which configured PII columns a schema has: dotted path → ``email`` or ``text``."""
    gov = settings.governance
    found: dict[str, str] = {}
    for kind, names in (("email", gov.email_columns), ("text", gov.text_columns)):
        for name in names:
            spelled = _find(schema, name.split("."))
            if spelled is not None:
                found[".".join(spelled)] = kind
    return found


def _hash(value: Column, salt: str, kind: str) -> Column:
    from pyspark.sql import functions as F

    text = F.lower(F.trim(value)) if kind == "email" else value
    hashed = F.sha2(F.concat(F.lit(salt + _SEPARATOR), text), 256)
    # Already a hash (masked before, e.g. a replayed quarantine row): keep it, one pseudonym.
    return F.when(value.rlike(_HASHED_SQL), value).otherwise(hashed)


def _replacements(schema: StructType, settings: Settings, salt: str, top_column: Callable[[str], Column]) -> dict[str, Column]:
    """Top-level column name -> its masked expression, for the PII columns `schema` has."""
    by_top: dict[str, list[tuple[list[str], str]]] = {}
    for path, kind in masked_columns(schema, settings).items():
        parts = path.split(".")
        by_top.setdefault(parts[0], []).append((parts[1:], kind))
    replacements = {}
    for top, leaves in by_top.items():
        column = top_column(top)
        for rest, kind in leaves:
            if not rest:
                column = _hash(column, salt, kind)
            else:
                inner = top_column(top)
                for part in rest:
                    inner = inner.getField(part)
                column = column.withField(".".join(_quoted(p) for p in rest), _hash(inner, salt, kind))
        replacements[top] = column
    return replacements


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def mask_pii(df: DataFrame, settings: Settings, *, environ: dict[str, str] | None = None) -> DataFrame:
    """Hash the identity and free-text columns of `df` that `settings.governance` names.

    A no-op when ``governance.mask_pii`` is off. Columns the DataFrame does not have are
    skipped, so the same call serves every source. Struct fields are replaced in place
    (`withField`), keeping the struct's other fields and its position.

    Args:
        df: a batch of any source's rows.
        settings: the environment's settings (``governance`` section).
        environ: where to read the salt variable (default ``os.environ``).

    Returns:
        `df` with the same schema, PII columns replaced by 64-character hex hashes.

    Raises:
        ConfigError: masking is on and the salt is missing or too short.
    """
    if not settings.governance.mask_pii:
        return df
    salt = pii_salt(settings, environ)
    from pyspark.sql import functions as F

    replacements = _replacements(df.schema, settings, salt, lambda name: F.col(_quoted(name)))
    return df.withColumns(replacements) if replacements else df
