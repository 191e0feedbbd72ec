"""Keras 3 layers of the workbook's papers; each uses keras.ops only and round-trips through .keras files."""
from .aggregation import elan_block, elan_tiny_block, elan_w_block, mp_downsample, osa_module
from .attention import (AttentionContext, SplitHeads, WindowAttentionLogits, WindowPartition, WindowReverse,
                        conv_block, gnconv_block, skip_block, window_attention_block)
from .gradient import StopGradient
from .norm import ScaleNorm
from .quadratic import LayerScale, QuadraticDense, QuadraticDepthwiseConv2D, quadra_block, quadratic_params
from .partial import AsymmetricResidual, ChannelSlice, MaskedResidual, csp_stage
from .shuffle import ChannelShuffle, ChannelSplit

__all__ = ["ChannelShuffle", "ChannelSplit", "ScaleNorm"]
# Functional helpers (blocks of plain Keras layers), not layer classes:
__all__ += ["elan_block", "elan_w_block", "elan_tiny_block", "mp_downsample", "osa_module"]
__all__ += ["AsymmetricResidual", "ChannelSlice", "MaskedResidual", "StopGradient", "csp_stage"]
__all__ += ["LayerScale", "QuadraticDense", "QuadraticDepthwiseConv2D", "quadra_block", "quadratic_params"]
__all__ += ["AttentionContext", "SplitHeads", "WindowAttentionLogits", "WindowPartition", "WindowReverse",
            "conv_block", "gnconv_block", "skip_block", "window_attention_block"]
