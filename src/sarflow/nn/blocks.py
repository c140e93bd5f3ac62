"""Convolutional building blocks shared by every network.

Normalisation
-------------
``make_norm`` offers ``"batch"`` (default of every network), ``"group"`` and ``"none"``.
BatchNorm is the default for three reasons:

- the batch statistics are taken over ``B * H * W`` values per channel; with training patches of
  256 x 256 even a batch of 4 pools about 260 000 values, so the usual small-batch weakness of
  BatchNorm (few values per statistic) does not arise for dense prediction at batch 4-16;
- in evaluation mode it is an affine map per channel, i.e. purely local: a tile's output does not
  depend on what else is in the tile, which keeps tiled inference seamless and makes the receptive
  field meaningful. GroupNorm normalises with per-sample statistics over the whole input, so every
  output pixel depends on the whole tile;
- it is the cheapest on CPU (it can be folded into the preceding convolution), and it keeps both
  bfloat16 and the channels-last memory format under ``torch.autocast``.

``"group"`` (8 groups or fewer) is there for very small batches or fine-tuning on one scene.

Tensor shapes are ``(B, C, H, W)`` throughout.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sarflow.errors import InputError

__all__ = [
    "NORMS",
    "make_norm",
    "activation",
    "ConvNormAct",
    "ResidualBlock",
    "DoubleConv",
    "Upsample",
    "cat_channels",
    "upsample2x",
    "level_widths",
]

NORMS = ("batch", "group", "none")


def make_norm(kind: str, channels: int) -> nn.Module:
    """Normalisation layer for ``channels`` feature maps.

    Parameters
    ----------
    kind : {"batch", "group", "none"}
        BatchNorm2d, GroupNorm with ``gcd(8, channels)`` groups, or identity.
    channels : int
        Number of channels.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    if kind == "none":
        return nn.Identity()
    raise InputError(f"norm must be one of {NORMS}, got {kind!r}")


def activation() -> nn.Module:
    """The nonlinearity of every block: LeakyReLU with slope 0.1 (keeps signed responses alive)."""
    return nn.LeakyReLU(0.1, inplace=True)


class ConvNormAct(nn.Sequential):
    """``kernel x kernel`` convolution, normalisation, LeakyReLU; ``(B, Cin, H, W) -> (B, Cout, H/s, W/s)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1, norm: str = "batch"):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=norm == "none"),
            make_norm(norm, out_channels),
            activation(),
        )


class ResidualBlock(nn.Module):
    """Basic residual block (two 3x3 convolutions), He et al. (2016), doi:10.1109/CVPR.2016.90.

    ``(B, Cin, H, W) -> (B, Cout, H/stride, W/stride)``; an average pool and a 1x1 projection carry
    the shortcut when the shape changes. The last normalisation of the residual branch starts at zero scale (BatchNorm
    / GroupNorm weight 0), so a freshly built block is the identity on its shortcut.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, norm: str = "batch"):
        super().__init__()
        bias = norm == "none"
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias)
        self.norm1 = make_norm(norm, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=bias)
        self.norm2 = make_norm(norm, out_channels)
        self.act = activation()
        if stride != 1 or in_channels != out_channels:
            # Average-pool, then 1x1 ("ResNet-D", He et al. 2019, doi:10.1109/CVPR.2019.00065): a strided
            # 1x1 would drop 3 of 4 pixels, and its channels-last backward crashes in torch 2.13 on CPU.
            pool = [nn.AvgPool2d(stride)] if stride != 1 else []
            self.shortcut: nn.Module = nn.Sequential(
                *pool, nn.Conv2d(in_channels, out_channels, 1, bias=bias), make_norm(norm, out_channels)
            )
        else:
            self.shortcut = nn.Identity()
        if isinstance(self.norm2, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.zeros_(self.norm2.weight)

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return self.act(y + self.shortcut(x))


class DoubleConv(nn.Sequential):
    """The plain U-Net block: two ``ConvNormAct`` 3x3, Ronneberger et al. (2015), doi:10.1007/978-3-319-24574-4_28."""

    def __init__(self, in_channels: int, out_channels: int, norm: str = "batch"):
        super().__init__(
            ConvNormAct(in_channels, out_channels, 3, norm=norm), ConvNormAct(out_channels, out_channels, 3, norm=norm)
        )


def upsample2x(x: Tensor) -> Tensor:
    """Bilinear x2 upsampling (half-pixel centres, ``align_corners=False``); ``(B, C, h, w) -> (B, C, 2h, 2w)``."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class Upsample(nn.Module):
    """Bilinear x2 upsampling followed by a 1x1 convolution: ``(B, Cin, h, w) -> (B, Cout, 2h, 2w)``.

    Bilinear + 1x1 instead of a transposed convolution: no checkerboard pattern in smooth offset
    fields, and fewer parameters.
    """

    def __init__(self, in_channels: int, out_channels: int, norm: str = "batch"):
        super().__init__()
        self.proj = ConvNormAct(in_channels, out_channels, 1, norm=norm)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(upsample2x(x))


def cat_channels(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate ``(B, Ci, H, W)`` tensors along channels, keeping channels-last memory format.

    ``torch.cat`` falls back to the contiguous layout when its inputs mix layouts (a 2-channel
    offset map next to channels-last features), which would make every following convolution
    reorder its input; this converts the odd ones first when any input is channels-last.
    """
    channels_last = any(t.shape[1] > 1 and t.is_contiguous(memory_format=torch.channels_last)
                        and not t.is_contiguous() for t in tensors)
    if channels_last:
        tensors = [t.contiguous(memory_format=torch.channels_last) for t in tensors]
    return torch.cat(list(tensors), dim=1)


def level_widths(base_channels: int, depth: int, growth: Sequence[int] = (1, 2, 4, 6, 8)) -> list[int]:
    """Channel widths of levels ``0..depth`` (level ``l`` at ``1 / 2**l`` resolution).

    ``base_channels * growth[l]``, the last factor repeating beyond ``len(growth)`` levels.
    """
    return [base_channels * growth[min(level, len(growth) - 1)] for level in range(depth + 1)]
