"""Coarse-to-fine offset decoder of CC-ResSiamNet: U-Net skips, warping, local correlation, CBAM.

Level by level from the coarsest (``1 / 2**depth``) to full resolution:

- coarsest level: ``[f_ref, f_sec, corr(f_ref, f_sec, coarse_radius), extra]`` -> block -> offsets;
- finer level ``l``: the coarser offsets are upsampled (x2 in size and value) to ``u``; the
  secondary features are warped by ``u`` onto the reference grid; a small correlation
  ``corr(f_ref, warp(f_sec, u), refine_radius)`` measures what is left;
  ``[up(d_{l+1}), f_ref, warp(f_sec, u), corr, u, extra]`` -> block -> residual offsets added to
  ``u``. The full-resolution level uses ``final_radius`` (default 1: by then the residual is
  mostly sub-pixel, and the correlation is the most expensive there).

A block is a 3x3 ConvNormAct fusing the inputs, a residual block and a CBAM attention gate; each
level has a 3x3 offset head. The offsets themselves are accumulated in float32 whatever the
autocast dtype (bfloat16 keeps 8 bits of mantissa, i.e. steps of 1/64 px at 2-4 px offsets).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from sarflow.nn.attention import CBAM
from sarflow.nn.base import ReceptiveField
from sarflow.nn.blocks import ConvNormAct, ResidualBlock, Upsample, cat_channels, upsample2x
from sarflow.nn.correlation import LocalCorrelation
from sarflow.nn.warp import warp

__all__ = ["DecoderBlock", "CoarseToFineDecoder"]


def offset_head(channels: int) -> nn.Conv2d:
    """3x3 convolution to 2 channels, started near zero (a fresh decoder predicts no motion)."""
    head = nn.Conv2d(channels, 2, 3, padding=1)
    nn.init.normal_(head.weight, std=1e-3)
    nn.init.zeros_(head.bias)
    return head


class DecoderBlock(nn.Sequential):
    """Fuse (3x3 ConvNormAct), refine (residual block), gate (CBAM): ``(B, Cin, h, w) -> (B, C, h, w)``."""

    def __init__(self, in_channels: int, channels: int, norm: str = "batch", attention: bool = True):
        super().__init__(
            ConvNormAct(in_channels, channels, 3, norm=norm),
            ResidualBlock(channels, channels, norm=norm),
            CBAM(channels) if attention else nn.Identity(),
        )

    @staticmethod
    def trace(rf: ReceptiveField, attention: bool) -> ReceptiveField:
        rf.conv(3, repeat=3)
        # CBAM: the channel gate's 7x7 pooling window, then the spatial gate's 7x7 convolution.
        return rf.conv(7).conv(7) if attention else rf


class CoarseToFineDecoder(nn.Module):
    """Decoder from Siamese feature pyramids to full-resolution offsets and log-variances.

    Parameters
    ----------
    widths : list of int
        Channels of encoder levels ``0..depth`` (the decoder uses the same widths).
    extra_channels : int
        Channels of ``extra``, average-pooled to each level and concatenated into every block.
    coarse_radius, refine_radius, final_radius : int
        Correlation radius (cells of that level) at the coarsest level / at the intermediate
        levels / at full resolution.
    norm, attention, uncertainty
        Normalisation kind, CBAM gates on/off, log-variance head on/off.

    ``forward(features, extra)``: ``features[l]`` is ``(2B, widths[l], H / 2**l, W / 2**l)`` (reference
    over secondary), ``extra`` ``(B, E, H, W)`` or None. Returns ``(offsets (B, 2, H, W), log_var
    (B, 2, H, W) or None, pyramid)``, ``pyramid[k]`` being level ``k + 1``'s offsets in full-resolution
    pixels.
    """

    def __init__(self, widths: list[int], *, extra_channels: int = 0, coarse_radius: int = 3, refine_radius: int = 2,
                 final_radius: int = 1, norm: str = "batch", attention: bool = True, uncertainty: bool = True):
        super().__init__()
        depth = len(widths) - 1
        self.coarse_corr = LocalCorrelation(coarse_radius)
        self.refine_corr = LocalCorrelation(refine_radius)
        self.final_corr = LocalCorrelation(final_radius)
        blocks, heads, ups = [], [], []
        for level in range(depth + 1):
            w = widths[level]
            if level == depth:
                in_channels = 2 * w + self.coarse_corr.out_channels + extra_channels
            else:
                corr = self.final_corr if level == 0 else self.refine_corr
                in_channels = 3 * w + corr.out_channels + 2 + extra_channels
                ups.append(Upsample(widths[level + 1], w, norm=norm))
            blocks.append(DecoderBlock(in_channels, w, norm=norm, attention=attention))
            heads.append(offset_head(w))
        self.blocks = nn.ModuleList(blocks)
        self.heads = nn.ModuleList(heads)
        self.ups = nn.ModuleList(ups)
        self.log_var_head = nn.Conv2d(widths[0], 2, 3, padding=1) if uncertainty else None
        if self.log_var_head is not None:
            nn.init.normal_(self.log_var_head.weight, std=1e-3)
            nn.init.zeros_(self.log_var_head.bias)

    def forward(self, features: list[Tensor], extra: Tensor | None) -> tuple[Tensor, Tensor | None, tuple[Tensor, ...]]:
        depth = len(features) - 1
        extras = [extra]
        for _ in range(depth):
            extras.append(F.avg_pool2d(extras[-1], 2) if extra is not None else None)
        coarse: list[Tensor] = []
        d = offsets = None
        for level in range(depth, -1, -1):
            ref, sec = features[level].chunk(2, dim=0)
            ex = [extras[level].to(ref.dtype)] if extra is not None else []
            if level == depth:
                d = self.blocks[level](cat_channels([ref, sec, self.coarse_corr(ref, sec), *ex]))
                offsets = self.heads[level](d).float()
            else:
                offsets_up = 2.0 * upsample2x(offsets)
                sec_warped = warp(sec, offsets_up)
                corr = (self.final_corr if level == 0 else self.refine_corr)(ref, sec_warped)
                x = cat_channels([self.ups[level](d), ref, sec_warped, corr, offsets_up.to(ref.dtype), *ex])
                d = self.blocks[level](x)
                offsets = offsets_up + self.heads[level](d).float()
            if level:
                coarse.append(offsets * 2.0**level)
        log_var = self.log_var_head(d).float() if self.log_var_head is not None else None
        return offsets, log_var, tuple(reversed(coarse))

    @staticmethod
    def trace(rf: ReceptiveField, depth: int, coarse_radius: int, refine_radius: int, final_radius: int,
              attention: bool) -> ReceptiveField:
        """Add the decoder's deepest path (through the offsets, warp and correlation) to ``rf``."""
        rf.window(coarse_radius)
        DecoderBlock.trace(rf, attention)
        for level in range(depth - 1, -1, -1):
            rf.conv(3).up().window(1).window(final_radius if level == 0 else refine_radius)
            DecoderBlock.trace(rf, attention)
        return rf.conv(3)
