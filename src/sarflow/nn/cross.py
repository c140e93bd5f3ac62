"""Cross-connections between the two branches of a Siamese encoder.

At every level of CC-ResSiamNet the reference and secondary features exchange information
(Kim, Jung & Lu, 2025, doi:10.1016/j.rse.2024.114577). Here each branch receives a residual update
computed from the concatenation ``[own, other]`` by one weight-shared 1x1 convolution:

``ref' = ref + g([ref, sec])``, ``sec' = sec + g([sec, ref])``

The update is symmetric: swapping the inputs swaps the outputs, so the two branches stay one
shared encoder, while the order inside ``g``'s input keeps "own" and "other" distinct (a
difference-only or sum-only exchange would lose the direction of the displacement).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sarflow.nn.blocks import activation, make_norm

__all__ = ["CrossConnection"]


class CrossConnection(nn.Module):
    """Symmetric residual exchange between two stacked branches.

    ``forward(stacked (2B, C, H, W)) -> (2B, C, H, W)`` where ``stacked[:B]`` is the reference
    branch and ``stacked[B:]`` the secondary branch.
    """

    def __init__(self, channels: int, norm: str = "batch"):
        super().__init__()
        # One 1x1 convolution producing both halves of W [own, other]: W_own x and W_other x.
        self.conv = nn.Conv2d(channels, 2 * channels, 1, bias=norm == "none")
        self.norm = make_norm(norm, channels)
        self.act = activation()
        self.channels = channels

    def forward(self, stacked: Tensor) -> Tensor:
        own, other = self.conv(stacked).split(self.channels, dim=1)
        # W [own, other] applied to [x, swap(x)] equals W_own x + swap(W_other x) for a 1x1
        # convolution; this avoids concatenating the features (a full copy per level).
        first, second = other.chunk(2, dim=0)
        return stacked + self.act(self.norm(own + torch.cat([second, first], dim=0)))
