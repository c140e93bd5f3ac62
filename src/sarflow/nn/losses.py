"""Losses and metrics for dense offsets.

Shapes: predictions and targets ``(B, 2, H, W)`` in pixels (``dx``, ``dy``); masks ``(B, 1, H, W)``
(bool or float, nonzero = valid), broadcast over both components. A pixel counts only where the
mask is set and both target components are finite, so NaN-filled truth (no displacement defined,
e.g. nodata or layover) can be passed as is.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from sarflow.errors import InputError

__all__ = ["masked_huber_loss", "gaussian_nll_loss", "multiscale_huber_loss", "flow_metrics", "valid_mask"]


def valid_mask(target: Tensor, mask: Tensor | None = None) -> Tensor:
    """``(B, 1, H, W)`` bool: ``mask`` set and both target components finite."""
    if target.ndim != 4 or target.shape[1] != 2:
        raise InputError(f"target must have shape (B, 2, H, W), got {tuple(target.shape)}")
    valid = torch.isfinite(target).all(dim=1, keepdim=True)
    if mask is not None:
        expected = (target.shape[0], 1, *target.shape[2:])
        if tuple(mask.shape) != expected:
            raise InputError(f"mask must have shape (B, 1, H, W) = {expected}, got {tuple(mask.shape)}")
        valid = valid & (mask != 0)
    return valid


def _check_pair(pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 2:
        raise InputError(
            f"pred and target must both be (B, 2, H, W), got {tuple(pred.shape)} and {tuple(target.shape)}"
        )


def _masked_mean(values: Tensor, valid: Tensor) -> Tensor:
    """Mean of ``values (B, 2, H, W)`` over valid pixels and both components; 0 (with a graph) if none."""
    weights = valid.to(values.dtype).expand_as(values)
    count = weights.sum()
    return (values * weights).sum() / count.clamp_min(1.0)


def masked_huber_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None, delta: float = 0.1) -> Tensor:
    """Huber loss over valid pixels, averaged over pixels and both components.

    ``0.5 e**2`` for ``|e| <= delta``, ``delta (|e| - delta / 2)`` beyond (``e`` in pixels), i.e.
    quadratic in the sub-pixel regime and robust to gross errors. Invalid targets are replaced by
    the prediction before the loss, so NaNs never reach the gradient.

    Parameters
    ----------
    pred, target : Tensor
        ``(B, 2, H, W)`` offsets in pixels.
    mask : Tensor, optional
        ``(B, 1, H, W)``, nonzero = valid.
    delta : float
        Transition from quadratic to linear, pixels.

    Returns
    -------
    Tensor
        Scalar; 0 when no pixel is valid.
    """
    _check_pair(pred, target)
    valid = valid_mask(target, mask)
    target = torch.where(valid, target, pred.detach())
    loss = F.huber_loss(pred.float(), target.float(), reduction="none", delta=delta)
    return _masked_mean(loss, valid)


def gaussian_nll_loss(pred: Tensor, log_var: Tensor, target: Tensor, mask: Tensor | None = None,
                      log_var_min: float = -10.0, log_var_max: float = 10.0) -> Tensor:
    """Heteroscedastic Gaussian negative log-likelihood per component, over valid pixels.

    ``0.5 * (s + (pred - target)**2 * exp(-s)) + 0.5 log(2 pi)`` with ``s = clamp(log_var,
    log_var_min, log_var_max)`` (natural log of the variance in px**2; the default range is a
    standard deviation of 0.007 to 150 px), averaged over valid pixels and both components
    (Kendall & Gal 2017, "What uncertainties do we need in Bayesian deep learning for computer
    vision?", NeurIPS).

    Parameters
    ----------
    pred, log_var, target : Tensor
        ``(B, 2, H, W)``.
    mask : Tensor, optional
        ``(B, 1, H, W)``, nonzero = valid.

    Returns
    -------
    Tensor
        Scalar; 0 when no pixel is valid.
    """
    _check_pair(pred, target)
    if log_var.shape != pred.shape:
        raise InputError(f"log_var must have the shape of pred {tuple(pred.shape)}, got {tuple(log_var.shape)}")
    valid = valid_mask(target, mask)
    target = torch.where(valid, target, pred.detach())
    s = log_var.float().clamp(log_var_min, log_var_max)
    nll = 0.5 * (s + (pred.float() - target.float()) ** 2 * torch.exp(-s)) + 0.5 * math.log(2 * math.pi)
    return _masked_mean(nll, valid)


def multiscale_huber_loss(pyramid: tuple[Tensor, ...] | list[Tensor], target: Tensor, mask: Tensor | None = None,
                          delta: float = 0.1, weights: tuple[float, ...] | None = None) -> Tensor:
    """Deep supervision of ``FlowOutput.pyramid``: Huber loss of each level against a pooled target.

    Level ``k`` (``(B, 2, ceil(H / 2**(k+1)), ceil(W / 2**(k+1)))``, full-resolution pixels) is
    compared with the mask-weighted average of the target over each ``2**(k+1)`` block; a block is
    valid where any of its pixels is. ``delta`` grows with the level (``delta * 2**(k+1)``, the
    resolution of that level). ``weights`` defaults to ``0.5**(k+1)``. Returns 0 for an empty pyramid.
    """
    valid = valid_mask(target, mask).to(target.dtype)
    clean = torch.where(valid.bool(), target, torch.zeros_like(target))
    total = target.new_zeros(())
    for k, level in enumerate(pyramid):
        factor = 2 ** (k + 1)
        pad = (0, -target.shape[3] % factor, 0, -target.shape[2] % factor)
        sums = F.avg_pool2d(F.pad(clean * valid, pad), factor)
        counts = F.avg_pool2d(F.pad(valid, pad), factor)
        pooled = torch.where(counts > 0, sums / counts.clamp_min(1e-12), torch.full_like(sums, float("nan")))
        weight = weights[k] if weights is not None else 0.5 ** (k + 1)
        total = total + weight * masked_huber_loss(level, pooled, None, delta * factor)
    return total


@torch.no_grad()
def flow_metrics(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> dict[str, float]:
    """End-point-error statistics over valid pixels.

    Returns
    -------
    dict
        ``epe`` mean end-point error (px), ``rmse`` root-mean-square of the vector error (px),
        ``under_0.1``, ``under_0.5``, ``under_1`` shares of valid pixels with EPE below 0.1 / 0.5 /
        1 px, ``count`` number of valid pixels (float). NaN statistics when no pixel is valid.
    """
    _check_pair(pred, target)
    valid = valid_mask(target, mask)[:, 0]
    error = (pred.double() - target.double()).square().sum(dim=1).sqrt()[valid]
    count = error.numel()
    if count == 0:
        nan = float("nan")
        return {"epe": nan, "rmse": nan, "under_0.1": nan, "under_0.5": nan, "under_1": nan, "count": 0.0}
    return {
        "epe": float(error.mean()),
        "rmse": float(error.square().mean().sqrt()),
        "under_0.1": float((error < 0.1).double().mean()),
        "under_0.5": float((error < 0.5).double().mean()),
        "under_1": float((error < 1.0).double().mean()),
        "count": float(count),
    }
