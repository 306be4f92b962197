"""The PII salt: read from the environment variable the settings name, never stored in config.

`silver.masking` hashes PII with it and `deploy.governance` stores it for the Unity Catalog
column masks; the CLI checks it (`check_pii_salt`) before Spark starts, so a missing secret is
one line at start, not a failure in the first silver batch.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from streaming_obs.errors import ConfigError

if TYPE_CHECKING:
    from streaming_obs.config.models import Settings

__all__ = ["MIN_SALT_LENGTH", "check_pii_salt", "pii_salt"]

#: Shorter salts make a dictionary of hashed addresses cheap to build.
MIN_SALT_LENGTH = 16
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def pii_salt(settings: Settings, environ: Mapping[str, str] | None = None, *, needed_by: str = "governance.mask_pii is on") -> str:
    """The salt from ``$<governance.pii_salt_env>``.

    Args:
        settings: the environment's settings.
        environ: where to read the variable (default ``os.environ``).
        needed_by: why the salt is needed, for the error message.

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
        raise ConfigError(f"${name}", key, f"{needed_by} but the salt variable is not set")
    if len(salt) < MIN_SALT_LENGTH:
        raise ConfigError(f"${name}", key, f"the salt must have at least {MIN_SALT_LENGTH} characters")
    return salt


def check_pii_salt(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Refuse to go on when masking is on and the salt is unusable; a no-op when masking is off.

    Called by `validate-config` and by `run` before Spark starts, so a missing secret is one
    line at start, not a failure in the first silver batch.

    Raises:
        ConfigError: `governance.mask_pii` is on and the salt is missing or too short.
    """
    if settings.governance.mask_pii:
        pii_salt(settings, environ)
