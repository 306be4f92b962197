"""Options every command shares: `--env` (four choices, or $STREAMING_OBS_ENV) and `--config-dir`."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

__all__ = ["DEFAULT_ENV", "ConfDirOpt", "EnvName", "EnvOpt"]

#: The environments the CLI accepts; conf/<env>.yaml exists for each.
EnvName = Literal["local", "dev", "staging", "prod"]
#: One default for every command: local never touches a workspace.
DEFAULT_ENV: EnvName = "local"

EnvOpt = Annotated[
    EnvName,
    typer.Option("--env", "-e", envvar="STREAMING_OBS_ENV", help="Environment (conf/<env>.yaml)."),
]
ConfDirOpt = Annotated[
    str | None,
    typer.Option("--config-dir", help="Directory with base.yaml and <env>.yaml (default: shipped)."),
]
