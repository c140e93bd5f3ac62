"""Input normalisation of an amplitude pair for the offset networks.

``log(amplitude + eps)``, then one mean and one standard deviation per sample, taken over the
valid pixels of *both* images together. A gain applied to both images (calibration, a
different product scaling) cancels exactly: ``eps`` is relative to the pair's mean amplitude, so
``log(g a + eps g) = log g + log(a + eps)`` and the shift ``log g`` is removed by the joint
mean. A gain *between* the dates survives as a difference between the two normalised images,
which the network can see and ignore. Invalid pixels (non-finite, ``<= 0``, which is the usual
SAR nodata value, or outside ``mask``) are set to 0, the normalised mean.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sarflow.errors import InputError, NoValidDataError

__all__ = ["normalize_pair", "normalize_pair_numpy"]


def normalize_pair(reference: Tensor, secondary: Tensor, mask: Tensor | None = None,
                   eps: float = 1e-3) -> tuple[Tensor, Tensor]:
    """Log-amplitude, jointly standardised per sample.

    Parameters
    ----------
    reference, secondary : Tensor
        ``(B, 1, H, W)`` amplitudes (linear, not dB).
    mask : Tensor, optional
        ``(B, 1, H, W)``, nonzero = valid in both images.
    eps : float
        Added to the amplitude before the log, as a fraction of the pair's mean valid amplitude.

    Returns
    -------
    tuple of Tensor
        Two ``(B, 1, H, W)`` float32 tensors with zero joint mean and unit joint standard deviation
        over valid pixels; invalid pixels 0. A sample without valid pixels comes back all zeros; a
        constant one (zero spread) is only centred.
    """
    for label, t in (("reference", reference), ("secondary", secondary)):
        if not isinstance(t, Tensor) or t.ndim != 4 or t.shape[1] != 1:
            shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise InputError(f"{label} must be a (B, 1, H, W) tensor, got {shape}")
    if reference.shape != secondary.shape:
        raise InputError(f"reference and secondary shapes differ: {tuple(reference.shape)} vs {tuple(secondary.shape)}")
    if mask is not None and tuple(mask.shape) != tuple(reference.shape):
        raise InputError(f"mask must have shape {tuple(reference.shape)}, got {tuple(mask.shape)}")
    pair = torch.cat([reference, secondary], dim=1).float()  # (B, 2, H, W)
    valid = torch.isfinite(pair) & (pair > 0)
    if mask is not None:
        valid = valid & (mask != 0)
    weights = valid.float()
    count = weights.sum(dim=(1, 2, 3), keepdim=True).clamp_min(1.0)
    amplitude = torch.where(valid, pair, torch.zeros_like(pair))
    scale = amplitude.sum(dim=(1, 2, 3), keepdim=True) / count
    logs = torch.where(valid, torch.log(amplitude + eps * scale + (scale == 0)), torch.zeros_like(pair))
    mean = logs.sum(dim=(1, 2, 3), keepdim=True) / count
    centred = torch.where(valid, logs - mean, torch.zeros_like(pair))
    std = (centred.square().sum(dim=(1, 2, 3), keepdim=True) / count).sqrt()
    out = centred / torch.where(std > 0, std, torch.ones_like(std))
    return out[:, :1], out[:, 1:]


def normalize_pair_numpy(reference: np.ndarray, secondary: np.ndarray, mask: np.ndarray | None = None,
                         eps: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """`normalize_pair` for one ``(H, W)`` pair of numpy amplitudes; returns two float32 ``(H, W)`` arrays.

    Raises `NoValidDataError` when no pixel is valid in either image.
    """
    reference = np.asarray(reference)
    secondary = np.asarray(secondary)
    if reference.ndim != 2 or reference.shape != secondary.shape:
        raise InputError(f"need two (H, W) arrays of one shape, got {reference.shape} and {secondary.shape}")
    if mask is not None and np.shape(mask) != reference.shape:
        raise InputError(f"mask must have shape {reference.shape}, got {np.shape(mask)}")
    pair = np.stack([reference, secondary]).astype(np.float64)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(pair) & (pair > 0)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)[None]
    if not valid.any():
        raise NoValidDataError("no valid (finite, positive, unmasked) amplitude in the pair")
    scale = pair[valid].mean()
    logs = np.log(pair[valid] + eps * scale)
    centred = logs - logs.mean()
    std = centred.std()
    out = np.zeros(pair.shape, dtype=np.float32)
    out[valid] = centred / (std if std > 0 else 1.0)
    return out[0], out[1]
