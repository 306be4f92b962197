"""Ops tables: batch runs, lineage and audit records of the pipeline itself."""

from streaming_obs.ops.recorder import OpsRecorder, commit_info
from streaming_obs.ops.audit import write_audit

__all__ = ["OpsRecorder", "commit_info", "write_audit"]
