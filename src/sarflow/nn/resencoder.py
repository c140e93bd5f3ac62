"""Weight-shared residual encoder of CC-ResSiamNet, with cross-connections at every level."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sarflow.nn.base import ReceptiveField
from sarflow.nn.blocks import ConvNormAct, ResidualBlock
from sarflow.nn.cross import CrossConnection

__all__ = ["SiameseResEncoder"]


class SiameseResEncoder(nn.Module):
    """ResNet feature pyramid run on both images at once (one weight set), branches cross-connected.

    Level 0 stays at full resolution (a 3x3 stem and one residual block) so the finest features
    still see single-pixel texture; level ``l >= 1`` is a stride-2 residual block and a residual
    block at ``1 / 2**l`` resolution with ``widths[l]`` channels. After every level a
    `CrossConnection` mixes the two branches (if ``cross``).

    ``forward(reference (B, 1, H, W), secondary (B, 1, H, W)) -> list`` of ``depth + 1`` tensors,
    level ``l`` being ``(2B, widths[l], H / 2**l, W / 2**l)``: the reference branch stacked over the
    secondary branch along the batch axis.
    """

    def __init__(self, widths: list[int], norm: str = "batch", cross: bool = True):
        super().__init__()
        self.stem = nn.Sequential(
            ConvNormAct(1, widths[0], 3, norm=norm), ResidualBlock(widths[0], widths[0], norm=norm)
        )
        self.stages = nn.ModuleList(
            nn.Sequential(
                ResidualBlock(widths[level - 1], widths[level], stride=2, norm=norm),
                ResidualBlock(widths[level], widths[level], norm=norm),
            )
            for level in range(1, len(widths))
        )
        self.cross = nn.ModuleList(CrossConnection(w, norm) for w in widths) if cross else None

    def forward(self, reference: Tensor, secondary: Tensor) -> list[Tensor]:
        x = self.stem(torch.cat([reference, secondary], dim=0))
        features = []
        for level in range(len(self.stages) + 1):
            if level:
                x = self.stages[level - 1](x)
            if self.cross is not None:
                x = self.cross[level](x)
            features.append(x)
        return features

    @staticmethod
    def trace(rf: ReceptiveField, depth: int) -> ReceptiveField:
        """Add this encoder's layers (deepest path) to ``rf``."""
        rf.conv(3).conv(3, repeat=2)
        for _ in range(depth):
            rf.conv(3, stride=2).conv(3, repeat=3)
        return rf
