"""CC-ResSiamNet-Fast: the cross-connection Siamese ResNet laid out for CPU throughput.

The same parts as `sarflow.nn.CCResSiamNet` (Kim, Jung & Lu 2025, doi:10.1016/j.rse.2024.114577):
two weight-shared ResNet branches cross-connected at every level (`CrossConnection`), a U-Net
decoder with skips from both branches, CBAM attention, a dense two-channel offset head and a
log-variance head. What changes is where the work is done:

- **No thin full-resolution level.** The pair enters through a lossless space-to-depth step
  (``pixel_unshuffle`` by ``stem_factor``, 4 by default): every ``4 x 4`` block of pixels
  becomes 16 channels of one cell, so the first convolution still sees every single pixel's
  intensity (nothing is averaged away, which is what sub-pixel measurement needs), but all
  feature maps are 16 times smaller and ``base_channels``-wide or wider. The heads predict
  ``16`` values per cell and per output, put back in place by ``pixel_shuffle``: full-resolution
  offsets whose detail is not limited to the cell (each pixel has its own output channel).
- **Convolutions, little else.** The decoder is the plain U-Net one (upsample, concatenate,
  two 3x3 convolutions), without the coarse-to-fine correlation and warping of `CCResSiamNet`
  (elementwise work on many thin maps), and attention gates only where the maps are coarse
  (``attention_levels``). On these CPUs (`benchmarks/bench_predict_speed.py`) almost all the time goes
  into large convolutions, which run near the machine's bfloat16 matrix-multiply rate.

Meant for the residual route (`sarflow.tracking.prior`): the tracker prior takes out the large
motion, so the receptive field needs to cover the residual and the texture, not the whole offset.

Size (defaults ``base_channels=16, depth=3``): widths 32, 48, 64, 96 at 1/4 to 1/32 resolution,
1.07 M parameters and 14 k multiply-accumulates per pixel (`conv_flops_per_pixel`), a fifth of
`CCResSiamNet`'s.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sarflow.errors import InputError
from sarflow.nn.attention import CBAM
from sarflow.nn.base import FlowNet, FlowOutput, ReceptiveField
from sarflow.nn.blocks import ConvNormAct, ResidualBlock, cat_channels, level_widths
from sarflow.nn.cross import CrossConnection

__all__ = ["CCResSiamNetFast", "ShuffleHead"]

#: Channel growth per level of `CCResSiamNetFast` (times ``base_channels``; the last repeats).
GROWTH = (2, 3, 4, 6, 8)


class ShuffleHead(nn.Module):
    """3x3 convolution to ``outputs * factor**2`` channels, ``pixel_shuffle`` back to full resolution.

    ``(B, C, h, w) -> (B, outputs, factor h, factor w)``. The bias is one value per output channel
    (``bias``, shape ``(outputs,)``), added after the shuffle, so that a constant output is one
    parameter per output as in every other head. Weights start near zero (a fresh head predicts
    no motion) when ``zero_init``.
    """

    def __init__(self, channels: int, outputs: int, factor: int, zero_init: bool = True):
        super().__init__()
        self.factor = factor
        self.conv = nn.Conv2d(channels, outputs * factor * factor, 3, padding=1, bias=False)
        self.bias = nn.Parameter(torch.zeros(outputs))
        if zero_init:
            nn.init.normal_(self.conv.weight, std=1e-3)

    def forward(self, x: Tensor) -> Tensor:
        # The shuffle and the bias in float32: offsets keep their fractions under bfloat16 autocast.
        y = F.pixel_shuffle(self.conv(x).float(), self.factor)
        return y + self.bias.float().view(1, -1, 1, 1)


class _Decoder(nn.Module):
    """U-Net decoder over both branches' pyramids: ``list of (2B, C_l, h_l, w_l)`` -> ``(B, C_0, h_0, w_0)``."""

    def __init__(self, widths: list[int], extra_cells: int, norm: str, attention_levels: int, uncertainty: bool,
                 factor: int):
        super().__init__()
        depth = len(widths) - 1
        self.bottom = ConvNormAct(2 * widths[depth], widths[depth], 3, norm=norm)
        self.blocks = nn.ModuleList()
        for level in range(depth - 1, -1, -1):
            extra = extra_cells if level == 0 else 0
            layers = [ConvNormAct(widths[level + 1] + 2 * widths[level] + extra, widths[level], 3, norm=norm),
                      ConvNormAct(widths[level], widths[level], 3, norm=norm)]
            if level >= depth - attention_levels + 1 and attention_levels > 0:
                layers.append(CBAM(widths[level]))
            self.blocks.append(nn.Sequential(*layers))
        self.offset_head = ShuffleHead(widths[0], 2, factor)
        self.log_var_head = ShuffleHead(widths[0], 2, factor) if uncertainty else None

    def forward(self, features: list[Tensor], extra: Tensor | None) -> tuple[Tensor, Tensor | None]:
        batch = features[0].shape[0] // 2
        top = features[-1]
        y = self.bottom(cat_channels([top[:batch], top[batch:]]))
        for k, block in enumerate(self.blocks):
            skip = features[len(features) - 2 - k]
            y = F.interpolate(y, scale_factor=2.0, mode="nearest")
            parts = [y, skip[:batch], skip[batch:]]
            if extra is not None and k == len(self.blocks) - 1:
                parts.append(extra.to(y.dtype))
            y = block(cat_channels(parts))
        offsets = self.offset_head(y)
        log_var = self.log_var_head(y) if self.log_var_head is not None else None
        return offsets, log_var


class CCResSiamNetFast(FlowNet):
    """Cross-connection Siamese ResNet on space-to-depth cells, for CPU throughput.

    Parameters
    ----------
    base_channels : int
        Level ``l`` (at ``1 / (stem_factor * 2**l)`` resolution) has ``base_channels * (2, 3, 4, 6, 8)[l]``
        channels.
    depth : int
        Number of x2 downsamplings after the stem (inputs are padded to a multiple of
        ``stem_factor * 2**depth``).
    stem_factor : int
        Side of the pixel blocks turned into channels (``pixel_unshuffle``); 1 keeps full resolution.
    extra_channels : int
        Channels of the optional ``extra`` input, fed (space-to-depth) to the finest decoder level.
    uncertainty : bool
        Predict ``log_var`` as well.
    norm : {"batch", "group", "none"}
    attention_levels : int
        CBAM gates in this many of the coarsest decoder levels (0: none).
    cross_connections : bool
        Cross-connect the encoder branches (False: the ablation without them).

    ``forward(reference (B, 1, H, W), secondary (B, 1, H, W), extra (B, E, H, W) | None)`` ->
    `FlowOutput` with ``offsets (B, 2, H, W)`` in pixels, ``log_var``, and no pyramid.
    """

    name = "ccressiamnet-fast"

    def __init__(self, *, base_channels: int = 16, depth: int = 3, stem_factor: int = 4, extra_channels: int = 0,
                 uncertainty: bool = True, norm: str = "batch", attention_levels: int = 2,
                 cross_connections: bool = True):
        super().__init__(dict(base_channels=base_channels, depth=depth, stem_factor=stem_factor,
                              extra_channels=extra_channels, uncertainty=uncertainty, norm=norm,
                              attention_levels=attention_levels, cross_connections=cross_connections))
        if stem_factor < 1:
            raise InputError(f"stem_factor must be >= 1, got {stem_factor}")
        if not 0 <= attention_levels <= depth:
            raise InputError(f"attention_levels must be between 0 and depth ({depth}), got {attention_levels}")
        self.stem_factor = int(stem_factor)
        widths = level_widths(base_channels, depth, GROWTH)
        cells = stem_factor * stem_factor
        self.stem = nn.Sequential(ConvNormAct(cells, widths[0], 3, norm=norm),
                                  ResidualBlock(widths[0], widths[0], norm=norm))
        self.stages = nn.ModuleList(
            nn.Sequential(ResidualBlock(widths[level - 1], widths[level], stride=2, norm=norm),
                          ResidualBlock(widths[level], widths[level], norm=norm))
            for level in range(1, depth + 1)
        )
        self.cross = nn.ModuleList(CrossConnection(w, norm) for w in widths) if cross_connections else None
        self.decoder = _Decoder(widths, extra_channels * cells, norm, attention_levels, uncertainty, stem_factor)

    @property
    def divisor(self) -> int:
        return self.stem_factor * 2**self.depth

    def _forward(self, reference: Tensor, secondary: Tensor, extra: Tensor | None) -> FlowOutput:
        f = self.stem_factor
        x = F.pixel_unshuffle(torch.cat([reference, secondary], dim=0), f)
        if reference.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        features = []
        x = self.stem(x)
        for level in range(self.depth + 1):
            if level:
                x = self.stages[level - 1](x)
            if self.cross is not None:
                x = self.cross[level](x)
            features.append(x)
        if extra is not None:
            extra = F.pixel_unshuffle(extra, f)
        offsets, log_var = self.decoder(features, extra)
        return FlowOutput(offsets, log_var, ())

    def _receptive_field(self) -> int:
        rf = ReceptiveField().conv(self.stem_factor, stride=self.stem_factor)  # one cell
        rf.conv(3, repeat=3)  # stem
        for _ in range(self.depth):
            rf.conv(3, stride=2).conv(3, repeat=3)
        rf.conv(3)  # bottom
        attention_levels = self._config["attention_levels"]
        for level in range(self.depth - 1, -1, -1):
            rf.up().conv(3, repeat=2)
            if level >= self.depth - attention_levels + 1 and attention_levels > 0:
                rf.conv(7).conv(7)  # CBAM: 7 x 7 pooling window, 7 x 7 spatial gate
        return rf.conv(3).size  # head (the shuffle stays inside the cell)
