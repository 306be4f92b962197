"""Gold: the contract tables of docs/data-dictionary.md, recomputed for the keys each batch touched."""

from streaming_obs.gold.compute import GoldScope, recompute_all
from streaming_obs.gold.flow import gold_flow

__all__ = ["GoldScope", "gold_flow", "recompute_all"]
