"""Bronze: source rows appended as they came, with ingest metadata; change data feed on."""

from streaming_obs.bronze.write import BRONZE_META, append_bronze, prepare_bronze

__all__ = ["BRONZE_META", "append_bronze", "prepare_bronze"]
