"""Correlation network (FlowNetC / PWC-Net style), a comparison network.

A shared convolutional feature pyramid runs on both images; at the coarsest level an explicit
cost volume `sarflow.nn.correlation.local_correlation` over displacements up to ``+-radius``
cells (``radius * 2**depth`` pixels) is concatenated with a 1x1 projection of the reference
features (FlowNetC's "redirect", Dosovitskiy et al. 2015, doi:10.1109/ICCV.2015.316), and a U-Net
decoder with skips ``[f_ref, f_sec]`` brings the estimate back to full resolution. There is no
warping or iterative refinement: one matching step at one scale, the classic baseline for
"explicit matching vs learned fusion".

Size (defaults ``base_channels=24, depth=3, radius=4``): widths 24, 48, 96, 144; a cost volume of
81 channels at 1/8 resolution (+-32 px); 1.33 M parameters, 124 k multiply-accumulates per pixel
(the two full-resolution branches of width 24 dominate).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sarflow.nn.base import FlowNet, FlowOutput, ReceptiveField
from sarflow.nn.blocks import ConvNormAct, DoubleConv, cat_channels, level_widths
from sarflow.nn.correlation import LocalCorrelation
from sarflow.nn.unet_parts import UNetDecoder

__all__ = ["CorrNet", "FeaturePyramid"]


class FeaturePyramid(nn.Module):
    """Two 3x3 ``ConvNormAct`` at full resolution, then ``stride-2 + stride-1`` pairs per level.

    ``forward(x (N, 1, H, W)) -> list`` of ``(N, widths[l], H / 2**l, W / 2**l)``, ``l = 0..depth``.
    """

    def __init__(self, widths: list[int], norm: str = "batch"):
        super().__init__()
        self.levels = nn.ModuleList(
            nn.Sequential(
                ConvNormAct(1 if level == 0 else widths[level - 1], w, 3, stride=1 if level == 0 else 2, norm=norm),
                ConvNormAct(w, w, 3, norm=norm),
            )
            for level, w in enumerate(widths)
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        for block in self.levels:
            x = block(x)
            features.append(x)
        return features

    @staticmethod
    def trace(rf: ReceptiveField, depth: int) -> ReceptiveField:
        rf.conv(3, repeat=2)
        for _ in range(depth):
            rf.conv(3, stride=2).conv(3)
        return rf


class CorrNet(FlowNet):
    """Shared feature pyramid, one coarse cost volume, U-Net decoder.

    Parameters
    ----------
    base_channels : int
        Width of the full-resolution level; level ``l`` has ``base_channels * (1, 2, 4, 6, 8)[l]``.
    depth : int
        Number of x2 downsamplings; the cost volume is built at ``1 / 2**depth``.
    extra_channels : int
        Channels of ``extra``, concatenated at the cost volume and every decoder level.
    uncertainty : bool
        Predict ``log_var`` as well.
    norm : {"batch", "group", "none"}
        Normalisation layers.
    radius : int
        Cost-volume radius in cells of the coarsest level.
    """

    name = "corrnet"

    def __init__(self, *, base_channels: int = 24, depth: int = 3, extra_channels: int = 0, uncertainty: bool = True,
                 norm: str = "batch", radius: int = 4):
        super().__init__(dict(base_channels=base_channels, depth=depth, extra_channels=extra_channels,
                              uncertainty=uncertainty, norm=norm, radius=radius))
        widths = level_widths(base_channels, depth)
        self.pyramid = FeaturePyramid(widths, norm=norm)
        self.correlation = LocalCorrelation(radius)
        self.redirect = ConvNormAct(widths[-1], widths[-1] // 2, 1, norm=norm)
        self.fuse = DoubleConv(self.correlation.out_channels + widths[-1] // 2 + extra_channels, widths[-1], norm=norm)
        self.decoder = UNetDecoder(widths[-1], [2 * w for w in widths[:-1]], widths[:-1],
                                   extra_channels=extra_channels, norm=norm, uncertainty=uncertainty)

    def _forward(self, reference: Tensor, secondary: Tensor, extra: Tensor | None) -> FlowOutput:
        features = [f.chunk(2, dim=0) for f in self.pyramid(torch.cat([reference, secondary], dim=0))]
        ref, sec = features[-1]
        bottom = [self.correlation(ref, sec), self.redirect(ref)]
        if extra is not None:
            bottom.append(F.avg_pool2d(extra, self.divisor).to(ref.dtype))
        skips = [cat_channels(pair) for pair in features[:-1]]
        offsets, log_var = self.decoder(self.fuse(cat_channels(bottom)), skips, extra)
        return FlowOutput(offsets, log_var)

    def _receptive_field(self) -> int:
        rf = FeaturePyramid.trace(ReceptiveField(), self.depth).window(self.config["radius"]).conv(3, repeat=2)
        return UNetDecoder.trace(rf, self.depth).size
