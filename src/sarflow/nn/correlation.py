"""Local correlation (cost volume) between two feature maps.

As in FlowNetC (Dosovitskiy et al., 2015, doi:10.1109/ICCV.2015.316) and PWC-Net (Sun et al., 2018,
doi:10.1109/CVPR.2018.00931): for every pixel of the reference features and every integer
displacement ``(dx, dy)`` with ``|dx|, |dy| <= radius``, the channel-mean of the product of the
reference feature vector and the secondary feature vector displaced by ``(dx, dy)``.

It is written with shifted products (one elementwise product and one channel sum per
displacement, on the overlapping part of the two grids) rather than ``unfold``: the memory stays
at one ``(B, C, H, W)`` temporary instead of ``(2r+1)**2`` copies, the autograd graph is plain
torch (checked with ``gradcheck``), and the products stay in bfloat16 under autocast.
"""

from __future__ import annotations

from torch import Tensor, nn

from sarflow.errors import InputError

__all__ = ["local_correlation", "LocalCorrelation", "displacements"]


def displacements(radius: int) -> list[tuple[int, int]]:
    """The ``(dx, dy)`` of each output channel, in order: ``dy`` outer, ``dx`` inner, each from ``-radius``."""
    return [(dx, dy) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]


def local_correlation(reference: Tensor, secondary: Tensor, radius: int) -> Tensor:
    """Cost volume of two feature maps over displacements up to ``+-radius`` pixels.

    Parameters
    ----------
    reference, secondary : Tensor
        ``(B, C, H, W)`` feature maps on the same grid.
    radius : int
        Largest displacement, in pixels of this grid, along each axis (>= 0).

    Returns
    -------
    Tensor
        ``(B, (2 * radius + 1)**2, H, W)``: channel ``k`` with ``(dx, dy) = displacements(radius)[k]``
        holds ``mean_c reference[b, c, i, j] * secondary[b, c, i + dy, j + dx]``; positions outside
        the secondary map count as zero features. Plain ``(B, K, H, W)`` layout, the inputs' dtype.
    """
    if reference.ndim != 4 or reference.shape != secondary.shape:
        raise InputError(
            f"correlation needs two (B, C, H, W) tensors of one shape, got {tuple(reference.shape)} "
            f"and {tuple(secondary.shape)}"
        )
    if radius < 0:
        raise InputError(f"correlation radius must be >= 0, got {radius}")
    batch, channels, height, width = reference.shape
    # Plain (N, C, H, W) layout: the channel sum then runs across whole planes (vectorised over
    # pixels); in channels-last it would reduce a short innermost axis per pixel, 2-4x slower.
    reference = reference.contiguous()
    secondary = secondary.contiguous()
    out = reference.new_zeros(batch, (2 * radius + 1) ** 2, height, width)
    for k, (dx, dy) in enumerate(displacements(radius)):
        # Overlap of the reference grid with the secondary grid shifted by (dx, dy); the rest stays 0.
        r0, r1 = max(0, -dy), min(height, height - dy)
        c0, c1 = max(0, -dx), min(width, width - dx)
        if r0 >= r1 or c0 >= c1:
            continue
        product = reference[:, :, r0:r1, c0:c1] * secondary[:, :, r0 + dy: r1 + dy, c0 + dx: c1 + dx]
        out[:, k, r0:r1, c0:c1] = product.sum(dim=1)
    return out / channels

class LocalCorrelation(nn.Module):
    """Module form of `local_correlation` (so forward hooks can count its multiply-accumulates).

    ``forward(reference (B, C, H, W), secondary (B, C, H, W)) -> (B, (2r+1)**2, H, W)``.
    """

    def __init__(self, radius: int):
        super().__init__()
        if radius < 0:
            raise InputError(f"correlation radius must be >= 0, got {radius}")
        self.radius = radius

    @property
    def out_channels(self) -> int:
        return (2 * self.radius + 1) ** 2

    def forward(self, reference: Tensor, secondary: Tensor) -> Tensor:
        return local_correlation(reference, secondary, self.radius)

    def extra_repr(self) -> str:
        return f"radius={self.radius}"
