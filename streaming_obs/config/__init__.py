"""Configuration: typed models and the layered YAML + environment loader."""

from streaming_obs.config.loader import ENVIRONMENTS, config_hash, conf_dir, load_settings
from streaming_obs.config.models import SOURCE_NAMES, Settings, SourceConfig

__all__ = [
    "ENVIRONMENTS",
    "SOURCE_NAMES",
    "Settings",
    "SourceConfig",
    "conf_dir",
    "config_hash",
    "load_settings",
]
