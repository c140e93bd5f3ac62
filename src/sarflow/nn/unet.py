"""Plain U-Net on the stacked pair (early fusion), a comparison network.

The reference and secondary amplitudes (and ``extra``) enter as input channels of one U-Net
(Ronneberger et al. 2015, doi:10.1007/978-3-319-24574-4_28); matching must be learned by the
convolutions from the first layer on. This is the "U-Net" baseline of the CC-ResSiamNet study
(Kim, Jung & Lu 2025, doi:10.1016/j.rse.2024.114577).

Size (defaults ``base_channels=20, depth=4``): widths 20, 40, 80, 120, 160; 1.38 M parameters,
61 k multiply-accumulates per pixel.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sarflow.nn.base import FlowNet, FlowOutput, ReceptiveField
from sarflow.nn.blocks import level_widths
from sarflow.nn.unet_parts import UNetDecoder, UNetEncoder

__all__ = ["UNet"]


class UNet(FlowNet):
    """Early-fusion U-Net: ``[reference, secondary, extra]`` -> offsets.

    Parameters
    ----------
    base_channels : int
        Width of the full-resolution level; level ``l`` has ``base_channels * (1, 2, 4, 6, 8)[l]``.
    depth : int
        Number of x2 downsamplings.
    extra_channels : int
        Channels of ``extra``, stacked with the two images at the input.
    uncertainty : bool
        Predict ``log_var`` as well.
    norm : {"batch", "group", "none"}
        Normalisation layers.
    """

    name = "unet"

    def __init__(self, *, base_channels: int = 20, depth: int = 4, extra_channels: int = 0, uncertainty: bool = True,
                 norm: str = "batch"):
        super().__init__(dict(base_channels=base_channels, depth=depth, extra_channels=extra_channels,
                              uncertainty=uncertainty, norm=norm))
        widths = level_widths(base_channels, depth)
        self.encoder = UNetEncoder(2 + extra_channels, widths, norm=norm)
        self.decoder = UNetDecoder(widths[-1], widths[:-1], widths[:-1], norm=norm, uncertainty=uncertainty)

    def _forward(self, reference: Tensor, secondary: Tensor, extra: Tensor | None) -> FlowOutput:
        x = torch.cat([reference, secondary] + ([extra] if extra is not None else []), dim=1)
        features = self.encoder(x)
        offsets, log_var = self.decoder(features[-1], features[:-1], None)
        return FlowOutput(offsets, log_var)

    def _receptive_field(self) -> int:
        return UNetDecoder.trace(UNetEncoder.trace(ReceptiveField(), self.depth), self.depth).size
