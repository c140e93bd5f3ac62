"""Siamese U-Net without cross-connections, a comparison network.

One U-Net encoder with shared weights runs on each image separately; the branches meet only in
the decoder: the bottleneck and every skip carry the concatenation ``[f_ref, f_sec]``. This is
the "Siamese U-Net" of the CC-ResSiamNet study (Kim, Jung & Lu 2025,
doi:10.1016/j.rse.2024.114577), isolating what the cross-connections and residual blocks add.

Size (defaults ``base_channels=16, depth=4``): widths 16, 32, 64, 96, 128; 1.46 M parameters,
62 k multiply-accumulates per pixel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sarflow.nn.base import FlowNet, FlowOutput, ReceptiveField
from sarflow.nn.blocks import DoubleConv, cat_channels, level_widths
from sarflow.nn.unet_parts import UNetDecoder, UNetEncoder

__all__ = ["SiameseUNet"]


class SiameseUNet(FlowNet):
    """Shared U-Net encoder per image, fusion by concatenation in the decoder only.

    Parameters
    ----------
    base_channels : int
        Width of the full-resolution level; level ``l`` has ``base_channels * (1, 2, 4, 6, 8)[l]``.
    depth : int
        Number of x2 downsamplings.
    extra_channels : int
        Channels of ``extra``, concatenated at the bottleneck and every decoder level.
    uncertainty : bool
        Predict ``log_var`` as well.
    norm : {"batch", "group", "none"}
        Normalisation layers.
    """

    name = "siamese-unet"

    def __init__(self, *, base_channels: int = 16, depth: int = 4, extra_channels: int = 0, uncertainty: bool = True,
                 norm: str = "batch"):
        super().__init__(dict(base_channels=base_channels, depth=depth, extra_channels=extra_channels,
                              uncertainty=uncertainty, norm=norm))
        widths = level_widths(base_channels, depth)
        self.encoder = UNetEncoder(1, widths, norm=norm)
        self.fuse = DoubleConv(2 * widths[-1] + extra_channels, widths[-1], norm=norm)
        self.decoder = UNetDecoder(widths[-1], [2 * w for w in widths[:-1]], widths[:-1],
                                   extra_channels=extra_channels, norm=norm, uncertainty=uncertainty)

    def _forward(self, reference: Tensor, secondary: Tensor, extra: Tensor | None) -> FlowOutput:
        features = [f.chunk(2, dim=0) for f in self.encoder(torch.cat([reference, secondary], dim=0))]
        bottom = [*features[-1]]
        if extra is not None:
            bottom.append(F.avg_pool2d(extra, self.divisor).to(bottom[0].dtype))
        skips = [cat_channels(pair) for pair in features[:-1]]
        offsets, log_var = self.decoder(self.fuse(cat_channels(bottom)), skips, extra)
        return FlowOutput(offsets, log_var)

    def _receptive_field(self) -> int:
        rf = UNetEncoder.trace(ReceptiveField(), self.depth).conv(3, repeat=2)
        return UNetDecoder.trace(rf, self.depth).size

