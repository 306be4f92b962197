"""Resilience: idempotent writes, retries of expected Delta conflicts, the supervisor."""

from streaming_obs.resilience.idempotency import checkpoint_app_id, idempotent_write
from streaming_obs.resilience.retry import retry_delta_conflicts

__all__ = ["checkpoint_app_id", "idempotent_write", "retry_delta_conflicts"]
