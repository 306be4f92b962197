"""Deterministic randomness: the same seed and keys always give the same values.

Python side: `sub_rng(seed, *keys)` is a `random.Random` seeded from a stable hash of the keys
(never Python's salted `hash()`), so an entity or a day draws the same numbers whatever else
was generated before it. Spark side: `u01(seed, salt, *cols)` is a uniform [0, 1) column from
`xxhash64`, which does not depend on partitioning (unlike `rand(seed)`).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from datetime import datetime, timezone

from pyspark.sql import Column
from pyspark.sql import functions as F

__all__ = [
    "UTC",
    "sub_rng",
    "stable_int",
    "py_uuid",
    "u01",
    "pick",
    "uuid_col",
    "floor_hour",
    "day_start",
]

UTC = timezone.utc
_SCALE = 1_000_000_007


def stable_int(*keys: object) -> int:
    """A 64-bit integer from the keys, stable across processes and Python versions."""
    digest = hashlib.blake2b(repr(keys).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def sub_rng(seed: int, *keys: object) -> random.Random:
    """An independent `random.Random` for (seed, *keys)."""
    return random.Random(stable_int(seed, *keys))


def py_uuid(rng: random.Random) -> str:
    """A version-4 UUID string drawn from `rng`."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def u01(seed: int, salt: str, *cols: Column) -> Column:
    """Uniform [0, 1) double column determined by (seed, salt, cols)."""
    h = F.xxhash64(F.lit(int(seed)), F.lit(salt), *cols)
    return F.pmod(h, F.lit(_SCALE)).cast("double") / F.lit(float(_SCALE))


def pick(values: list[str], u: Column) -> Column:
    """The element of `values` chosen by a uniform [0, 1) column."""
    arr = F.array(*[F.lit(v) for v in values])
    idx = F.least(F.floor(u * F.lit(len(values))).cast("int"), F.lit(len(values) - 1)) + F.lit(1)
    return F.element_at(arr, idx)


def uuid_col(seed: int, salt: str, *cols: Column) -> Column:
    """A UUID-formatted string column, unique per (seed, salt, cols)."""
    h = F.md5(F.concat_ws(":", F.lit(str(seed)), F.lit(salt), *[c.cast("string") for c in cols]))
    return F.concat_ws(
        "-",
        F.substring(h, 1, 8),
        F.substring(h, 9, 4),
        F.concat(F.lit("4"), F.substring(h, 14, 3)),
        F.concat(F.lit("a"), F.substring(h, 18, 3)),
        F.substring(h, 21, 12),
    )


def floor_hour(t: datetime) -> datetime:
    """`t` truncated to the hour (UTC-aware in, UTC-aware out)."""
    return t.replace(minute=0, second=0, microsecond=0)


def day_start(t: datetime) -> datetime:
    """Midnight UTC of the day of `t`."""
    return t.replace(hour=0, minute=0, second=0, microsecond=0)
