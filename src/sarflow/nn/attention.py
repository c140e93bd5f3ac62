"""Channel and spatial attention (CBAM), Woo et al. (2018), doi:10.1007/978-3-030-01234-2_1.

The channel gate pools each channel over the whole input (mean and max), so it is the one place
(with GroupNorm) where an output pixel depends on the whole tile: run tiled inference with tiles
about the size of the training patches. The spatial gate is local (a 7x7 convolution).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ChannelAttention", "SpatialAttention", "CBAM"]


class ChannelAttention(nn.Module):
    """Per-channel gate from globally pooled statistics: ``(B, C, H, W) -> (B, C, H, W)``.

    A shared two-layer MLP (1x1 convolutions, bottleneck ``C / reduction``) is applied to the
    spatial mean and the spatial max of each channel; the sum goes through a sigmoid and scales the
    input.
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        avg = x.mean(dim=(2, 3), keepdim=True)
        peak = F.adaptive_max_pool2d(x, 1)
        return x * torch.sigmoid(self.mlp(avg) + self.mlp(peak))


class SpatialAttention(nn.Module):
    """Per-pixel gate from the channel mean and max: ``(B, C, H, W) -> (B, C, H, W)``.

    A ``kernel x kernel`` convolution maps the two ``(B, 1, H, W)`` summaries to one gate map.
    """

    def __init__(self, kernel: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def forward(self, x: Tensor) -> Tensor:
        summary = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(summary))


class CBAM(nn.Module):
    """Channel gate, then spatial gate: ``(B, C, H, W) -> (B, C, H, W)``."""

    def __init__(self, channels: int, reduction: int = 4, kernel: int = 7):
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel)
        self.kernel = kernel

    def forward(self, x: Tensor) -> Tensor:
        return self.spatial(self.channel(x))
