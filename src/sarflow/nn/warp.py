"""Backward warping of a feature map by a dense offset field (bilinear resampling)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sarflow.errors import InputError

__all__ = ["warp"]


def warp(features: Tensor, offsets: Tensor) -> Tensor:
    """Resample ``features`` at ``(row + dy, col + dx)`` for every pixel.

    With ``offsets`` the reference-to-secondary displacement and ``features`` from the secondary
    image, the result is aligned with the reference grid: its pixel ``(r, c)`` shows what lies at
    ``(r + dy, c + dx)`` in the secondary. Bilinear, border values repeated outside the map.

    Parameters
    ----------
    features : Tensor
        ``(B, C, H, W)``.
    offsets : Tensor
        ``(B, 2, H, W)`` in pixels of this grid: channel 0 = ``dx`` (columns), 1 = ``dy`` (rows).

    Returns
    -------
    Tensor
        ``(B, C, H, W)``, in ``features``' dtype. The sampling itself runs in float32 at least
        (sub-pixel positions need more than bfloat16's 8-bit mantissa); channels-last is kept.
    """
    if features.ndim != 4 or offsets.ndim != 4 or offsets.shape[1] != 2 or \
            features.shape[0] != offsets.shape[0] or features.shape[2:] != offsets.shape[2:]:
        raise InputError(
            f"warp needs features (B, C, H, W) and offsets (B, 2, H, W), got {tuple(features.shape)} "
            f"and {tuple(offsets.shape)}"
        )
    _, _, height, width = features.shape
    dtype = torch.promote_types(torch.promote_types(features.dtype, offsets.dtype), torch.float32)
    offsets = offsets.to(dtype)
    rows = torch.arange(height, device=offsets.device, dtype=dtype).view(1, height, 1)
    cols = torch.arange(width, device=offsets.device, dtype=dtype).view(1, 1, width)
    # align_corners=True: -1 and +1 are the centres of the first and last pixels.
    x = (cols + offsets[:, 0]) * (2.0 / max(width - 1, 1)) - 1.0
    y = (rows + offsets[:, 1]) * (2.0 / max(height - 1, 1)) - 1.0
    grid = torch.stack([x, y], dim=-1)
    channels_last = features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous()
    with torch.autocast(device_type=features.device.type, enabled=False):
        out = F.grid_sample(features.to(dtype), grid, mode="bilinear", padding_mode="border", align_corners=True)
    out = out.to(features.dtype)
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out
