"""CC-ResSiamNet: cross-connection Siamese ResNet for dense SAR offsets.

After Kim, Jung & Lu, "Ground surface displacement measurement from SAR imagery using deep
learning", Remote Sensing of Environment 318, 114577 (2025), doi:10.1016/j.rse.2024.114577:
two weight-shared ResNet encoder branches (reference, secondary) with cross-connections at every
level, a U-Net decoder with skips from both branches and attention blocks, full-resolution output.

Design, and what it changes for sub-pixel displacements
--------------------------------------------------------
The published model is weakest on small (sub-pixel) displacements. A sub-pixel shift is visible
only as a change of each speckle/texture element's intensity profile at the scale of one pixel;
whatever is averaged away by early downsampling cannot be recovered by the decoder. Hence:

1. **A full-resolution level.** The encoder's level 0 (stem + residual block) and the decoder's
   last level run at full resolution, so the finest features and the final offsets see single
   pixels (`SiameseResEncoder`). Downsampling starts only at level 1.
2. **Correlation at every level.** A cost volume of reference and secondary features (plain
   shifted products, `sarflow.nn.correlation`) is the explicit matching signal that a U-Net would
   otherwise have to learn from concatenated features: a wide one (``coarse_radius`` cells,
   i.e. ``coarse_radius * 2**depth`` pixels) at the coarsest level for the large motions, a small
   one (``refine_radius``) at each finer level after warping, whose shape around the zero
   displacement encodes the sub-pixel residual (a parabola-fit-like cue the head can learn).
3. **Coarse-to-fine refinement with warping** (`CoarseToFineDecoder`, in the manner of PWC-Net,
   Sun et al. 2018, doi:10.1109/CVPR.2018.00931): each finer level upsamples the coarser offsets,
   warps the secondary features by them (bilinear, float32) and predicts a *residual*. The
   residual at full resolution is small, so the final head works near zero displacement, where
   the correlation cue is sharpest; offsets are accumulated in float32 even under bfloat16
   autocast. Every level's estimate is returned (``FlowOutput.pyramid``) for deep supervision.
4. **Cross-connections** (`CrossConnection`): at every encoder level both branches receive a
   residual update from ``[own, other]`` through one shared 1x1 convolution, symmetric under
   swapping the inputs; the skips pass reference and (warped) secondary features separately, so
   the sign of the displacement is learnable (no ``|f_ref - f_sec|`` bottleneck).
5. **Attention** (`CBAM`, channel + spatial) closes every decoder block: the spatial gate can
   suppress decorrelated or layover areas, the channel gate reweights texture scales per tile.
6. **Uncertainty**: a log-variance head (per pixel and component) for a heteroscedastic Gaussian
   NLL (`sarflow.nn.losses.gaussian_nll_loss`), beyond the paper.

Normalisation is BatchNorm by default (see `sarflow.nn.blocks` for why it suits batch 4-16 here);
``norm="group"`` is available.

Size (defaults ``base_channels=12, depth=4``): widths 12, 24, 48, 72, 96; 1.43 M parameters
(5.7 MB in float32, 2.9 MB in float16), 64 k multiply-accumulates per pixel (`conv_flops_per_pixel`);
the correlations reach ``coarse_radius * 16 + refine_radius * (8 + 4 + 2) + final_radius`` = 77 px.
"""

from __future__ import annotations

from torch import Tensor

from sarflow.nn.base import FlowNet, FlowOutput, ReceptiveField
from sarflow.nn.blocks import level_widths
from sarflow.nn.refine_decoder import CoarseToFineDecoder
from sarflow.nn.resencoder import SiameseResEncoder

__all__ = ["CCResSiamNet"]


class CCResSiamNet(FlowNet):
    """Cross-connection Siamese ResNet with a coarse-to-fine correlation decoder.

    Parameters
    ----------
    base_channels : int
        Width of the full-resolution level; level ``l`` has ``base_channels * (1, 2, 4, 6, 8)[l]``.
    depth : int
        Number of x2 downsamplings (inputs are padded to a multiple of ``2**depth``).
    extra_channels : int
        Channels of the optional ``extra`` input (e.g. tracker offsets and quality), fed to every
        decoder level.
    uncertainty : bool
        Predict ``log_var`` as well.
    norm : {"batch", "group", "none"}
        Normalisation layers.
    attention : bool
        CBAM gates in the decoder.
    cross_connections : bool
        Cross-connect the encoder branches (False gives the ablation without them).
    coarse_radius, refine_radius, final_radius : int
        Correlation radii (cells of that level) at the coarsest level, the intermediate levels and
        full resolution.

    ``forward(reference (B, 1, H, W), secondary (B, 1, H, W), extra (B, E, H, W) | None)`` ->
    `FlowOutput` with ``offsets (B, 2, H, W)`` in pixels, ``log_var``, and ``pyramid``.
    """

    name = "ccressiamnet"

    def __init__(self, *, base_channels: int = 12, depth: int = 4, extra_channels: int = 0, uncertainty: bool = True,
                 norm: str = "batch", attention: bool = True, cross_connections: bool = True,
                 coarse_radius: int = 3, refine_radius: int = 2, final_radius: int = 1):
        super().__init__(dict(base_channels=base_channels, depth=depth, extra_channels=extra_channels,
                              uncertainty=uncertainty, norm=norm, attention=attention,
                              cross_connections=cross_connections, coarse_radius=coarse_radius,
                              refine_radius=refine_radius, final_radius=final_radius))
        widths = level_widths(base_channels, depth)
        self.encoder = SiameseResEncoder(widths, norm=norm, cross=cross_connections)
        self.decoder = CoarseToFineDecoder(widths, extra_channels=extra_channels, coarse_radius=coarse_radius,
                                           refine_radius=refine_radius, final_radius=final_radius, norm=norm,
                                           attention=attention, uncertainty=uncertainty)

    def _forward(self, reference: Tensor, secondary: Tensor, extra: Tensor | None) -> FlowOutput:
        offsets, log_var, pyramid = self.decoder(self.encoder(reference, secondary), extra)
        return FlowOutput(offsets, log_var, pyramid)

    def _receptive_field(self) -> int:
        c = self._config
        rf = SiameseResEncoder.trace(ReceptiveField(), self.depth)
        return CoarseToFineDecoder.trace(rf, self.depth, c["coarse_radius"], c["refine_radius"], c["final_radius"],
                                        c["attention"]).size
