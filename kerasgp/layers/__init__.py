"""Keras 3 layers of the workbook's papers; each uses keras.ops only and round-trips through .keras files."""
from .norm import ScaleNorm
from .shuffle import ChannelShuffle, ChannelSplit

__all__ = ["ChannelShuffle", "ChannelSplit", "ScaleNorm"]
