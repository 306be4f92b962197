"""Structured logging. Library code only asks for loggers; `configure_logging` is for entry points."""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["get_logger", "configure_logging"]


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger bound to the standard-library logger `name` (no global setup)."""
    return structlog.get_logger(name)


def configure_logging(level: str = "INFO", json_format: bool = False) -> None:
    """Configure structlog and the root logger. Call once, from the CLI entry point only."""
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = structlog.processors.JSONRenderer() if json_format else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # py4j chatters at INFO for every call into the JVM.
    logging.getLogger("py4j").setLevel(logging.WARNING)
