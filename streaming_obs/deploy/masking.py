"""Moved: the PII transforms to `streaming_obs.silver.masking`, the salt to
`streaming_obs.config.salt`. This module stays only while `batch.py` imports `mask_raw_rows`
from here; delete it once that import names `streaming_obs.silver.masking`.
"""

from streaming_obs.silver.masking import mask_raw_rows

__all__ = ["mask_raw_rows"]
