"""Plain U-Net encoder and decoder, shared by the comparison networks.

Ronneberger, Fischer & Brox (2015), doi:10.1007/978-3-319-24574-4_28: a `DoubleConv` per level,
max-pooling down, bilinear x2 + 1x1 convolution up, skips concatenated.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from sarflow.nn.base import ReceptiveField
from sarflow.nn.blocks import DoubleConv, Upsample, cat_channels

__all__ = ["UNetEncoder", "UNetDecoder"]


class UNetEncoder(nn.Module):
    """``DoubleConv`` at full resolution, then ``maxpool 2 + DoubleConv`` per level.

    ``forward(x (N, in_channels, H, W)) -> list`` of ``(N, widths[l], H / 2**l, W / 2**l)``, ``l = 0..depth``.
    """

    def __init__(self, in_channels: int, widths: list[int], norm: str = "batch"):
        super().__init__()
        self.levels = nn.ModuleList(
            DoubleConv(in_channels if level == 0 else widths[level - 1], w, norm=norm) for level, w in enumerate(widths)
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        for level, block in enumerate(self.levels):
            if level:
                x = F.max_pool2d(x, 2)
            x = block(x)
            features.append(x)
        return features

    @staticmethod
    def trace(rf: ReceptiveField, depth: int) -> ReceptiveField:
        rf.conv(3, repeat=2)
        for _ in range(depth):
            rf.conv(2, stride=2).conv(3, repeat=2)
        return rf


class UNetDecoder(nn.Module):
    """Decoder from a bottleneck to full-resolution offsets (and log-variances).

    Parameters
    ----------
    bottom_channels : int
        Channels of the coarsest (level ``depth``) input.
    skip_channels : list of int
        Channels of the skip input at levels ``0..depth-1``.
    widths : list of int
        Output channels of the decoder block at levels ``0..depth-1``.
    extra_channels : int
        Channels of ``extra`` (average-pooled to each level and concatenated with the skip).
    norm, uncertainty
        Normalisation kind; log-variance head on/off.

    ``forward(bottom (B, bottom_channels, H / 2**depth, W / 2**depth), skips, extra (B, E, H, W) | None)
    -> (offsets (B, 2, H, W) float32, log_var (B, 2, H, W) float32 or None)``.
    """

    def __init__(self, bottom_channels: int, skip_channels: list[int], widths: list[int], *, extra_channels: int = 0,
                 norm: str = "batch", uncertainty: bool = True):
        super().__init__()
        depth = len(skip_channels)
        self.ups = nn.ModuleList(
            Upsample(bottom_channels if level == depth - 1 else widths[level + 1], widths[level], norm=norm)
            for level in range(depth)
        )
        self.blocks = nn.ModuleList(
            DoubleConv(widths[level] + skip_channels[level] + extra_channels, widths[level], norm=norm)
            for level in range(depth)
        )
        self.offset_head = nn.Conv2d(widths[0], 2, 3, padding=1)
        self.log_var_head = nn.Conv2d(widths[0], 2, 3, padding=1) if uncertainty else None
        heads = [self.offset_head] + ([self.log_var_head] if uncertainty else [])
        for head in heads:
            nn.init.normal_(head.weight, std=1e-3)
            nn.init.zeros_(head.bias)

    def forward(self, bottom: Tensor, skips: list[Tensor], extra: Tensor | None) -> tuple[Tensor, Tensor | None]:
        depth = len(skips)
        extras = [extra]
        for _ in range(depth - 1):
            extras.append(F.avg_pool2d(extras[-1], 2) if extra is not None else None)
        x = bottom
        for level in range(depth - 1, -1, -1):
            parts = [self.ups[level](x), skips[level]]
            if extra is not None:
                parts.append(extras[level].to(x.dtype))
            x = self.blocks[level](cat_channels(parts))
        log_var = self.log_var_head(x).float() if self.log_var_head is not None else None
        return self.offset_head(x).float(), log_var

    @staticmethod
    def trace(rf: ReceptiveField, depth: int) -> ReceptiveField:
        for _ in range(depth):
            rf.up().conv(3, repeat=2)
        return rf.conv(3)
