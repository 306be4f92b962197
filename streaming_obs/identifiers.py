"""Checks that a name from config is safe to place in SQL before any SQL runs."""

from __future__ import annotations

import re

from streaming_obs.errors import InvalidIdentifierError

__all__ = ["validate_identifier", "validate_path", "quote_path"]

# Both are used with fullmatch: with `re.match` and `$`, "name\n" would pass, since `$` also
# matches before a trailing newline.
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# Paths may hold what file systems and object stores use, never quotes, backticks or `;`.
_PATH = re.compile(r"[A-Za-z0-9_./:@+=~-]+")


def validate_identifier(name: str, *, dotted: bool = False) -> str:
    """Return `name` if it is a plain SQL identifier (or dotted chain of them).

    Args:
        name: the identifier, e.g. ``plt_gold`` or with ``dotted`` ``system.billing.usage``.
        dotted: allow up to three parts separated by dots.

    Raises:
        InvalidIdentifierError: the name has anything but letters, digits and underscores.
    """
    parts = name.split(".") if dotted else [name]
    if not name or len(parts) > 3 or not all(_IDENT.fullmatch(p) for p in parts):
        raise InvalidIdentifierError(
            f"{name!r} is not a valid identifier: use letters, digits and '_'"
            + (" (up to three parts separated by '.')" if dotted else "")
        )
    return name


def validate_path(path: str) -> str:
    """Return `path` if it can be embedded as a Delta path identifier.

    Raises:
        InvalidIdentifierError: the path contains quotes, backticks, `;`, spaces or is empty.
    """
    if not path or not _PATH.fullmatch(path):
        raise InvalidIdentifierError(
            f"{path!r} is not a valid path: quotes, backticks, ';' and spaces are not allowed"
        )
    return path


def quote_path(path: str) -> str:
    """SQL identifier of a path-based Delta table: delta.`<path>` (path validated first)."""
    return f"delta.`{validate_path(path)}`"
