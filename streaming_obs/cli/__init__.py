"""The `streaming-obs` command line."""

from streaming_obs.cli.main import app, main

__all__ = ["app", "main"]
