"""PII masking in silver: identity emails and statement text hashed with a salt, the same locally
and on Databricks.

Only Spark built-ins are used (`sha2`, `concat`, `Column.withField`), so no Python runs on the
executors and the function works in any `foreachBatch`. A hash is
``sha2(salt || 0x1F || value, 256)`` as 64 hex characters; emails are trimmed and lower-cased
first so that one person has one pseudonym however a source spells the address. NULL stays NULL,
and a NULL struct stays NULL.

The salt comes from the environment variable named by `governance.pii_salt_env` and is never
stored in config. Spark plans carry it as a literal, so whoever can read the Spark UI or event
logs of the pipeline can read the salt: keep those to the pipeline's operators.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from streaming_obs.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType

    from streaming_obs.config.models import Settings

__all__ = ["mask_pii", "pii_salt", "masked_columns", "MIN_SALT_LENGTH"]

#: Shorter salts make a dictionary of hashed addresses cheap to build.
MIN_SALT_LENGTH = 16
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SEPARATOR = "\x1f"  # cannot occur in an address: the salt and value cannot run together


def pii_salt(settings: Settings, environ: dict[str, str] | None = None) -> str:
    """The salt from ``$<governance.pii_salt_env>``.

    Raises:
        ConfigError: the variable name is not a valid name, the variable is unset, or the salt
            is shorter than `MIN_SALT_LENGTH` characters.
    """
    env = os.environ if environ is None else environ
    name = settings.governance.pii_salt_env
    key = "governance.pii_salt_env"
    if not _ENV_NAME.match(name):
        raise ConfigError("config", key, f"{name!r} is not an environment variable name")
    salt = env.get(name)
    if not salt:
        raise ConfigError(f"${name}", key, "governance.mask_pii is on but the salt variable is not set")
    if len(salt) < MIN_SALT_LENGTH:
        raise ConfigError(f"${name}", key, f"the salt must have at least {MIN_SALT_LENGTH} characters")
    return salt


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

    if kind == "email":
        value = F.lower(F.trim(value))
    return F.sha2(F.concat(F.lit(salt + _SEPARATOR), value), 256)


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

    targets = masked_columns(df.schema, settings)
    by_top: dict[str, list[tuple[list[str], str]]] = {}
    for path, kind in targets.items():
        parts = path.split(".")
        by_top.setdefault(parts[0], []).append((parts[1:], kind))
    replacements = {}
    for top, leaves in by_top.items():
        column = F.col(_quoted(top))
        for rest, kind in leaves:
            if not rest:
                column = _hash(column, salt, kind)
            else:
                inner = F.col(_quoted(top) + "." + ".".join(_quoted(p) for p in rest))
                column = column.withField(".".join(_quoted(p) for p in rest), _hash(inner, salt, kind))
        replacements[top] = column
    return df.withColumns(replacements) if replacements else df
