"""`streaming-obs`: every command takes `--env` (local, dev, staging, prod).

Errors that streaming_obs raises on purpose print as one line and exit 2; anything else is a
bug and keeps its traceback. The commands live in one module per group (`config`, `pipeline`,
`ops`, `quarantine`, `deploy`, `finance`), which share `cli/common.py`; this module only
assembles them.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from streaming_obs import __version__
from streaming_obs.cli import config, deploy, finance, ops, pipeline, quarantine

__all__ = ["app", "main"]

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Databricks cost and reliability, streamed from the system tables.")


@app.callback(invoke_without_command=True)
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit(0)


# The order of the commands in --help: what a first run needs first.
for _group in (config, pipeline, ops, finance, quarantine, deploy):
    _group.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    app(args=argv if argv is not None else sys.argv[1:], prog_name="streaming-obs")


if __name__ == "__main__":  # pragma: no cover
    main()
