"""Multi-kernel fusion of offset estimates made with several chip sizes.

After Chae et al. (2019), "Multi-kernel based offset tracking", IEEE Access 7,
doi:10.1109/ACCESS.2019.2938831: every grid point is matched with every chip
size, and the estimates are combined from their own statistics, so that small
chips keep the resolution where the signal is strong and large chips rescue
weak, decorrelated areas.

Rule used here, per grid point:

1. A chip-size estimate is *valid* when it exists and passes the thresholds of
   :class:`~sarflow.tracking.config.TrackConfig` (``min_ncc``,
   ``min_peak_ratio``, ``max_sigma_px``, ``max_invalid_fraction``).
2. The *selected* chip is the smallest valid chip whose error estimate
   ``sigma`` is at most ``sigma_target_px``; when no valid chip reaches the
   target, the valid chip with the smallest ``sigma``.
3. Two chips *agree* when their estimates differ by at most
   ``max(agree_px, 3 * sqrt(sigma_a**2 + sigma_b**2))`` on both axes.
4. ``fusion="select"`` returns the selected estimate; ``"weighted"`` returns
   the inverse-variance weighted mean of the selected estimate and every
   valid chip that agrees with it.
5. The reported ``sigma_px`` is the selected (or combined) error estimate,
   enlarged in quadrature by the weighted RMS spread, around the result, of
   the agreeing estimates (including the result itself), so disagreement
   between kernels raises the error estimate instead of being hidden.

Near an offset discontinuity large chips straddle two motions: their
correlation peak widens and drops, their ``sigma`` grows, and the smaller chip
is kept; in decorrelated areas the small chips' ``sigma`` exceeds the target
and a larger chip is chosen.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fuse"]


def fuse(dy: np.ndarray, dx: np.ndarray, sigma: np.ndarray, valid: np.ndarray, *,
         sigma_target: float, agree_px: float, weighted: bool):
    """Fuse per-chip estimates.

    Parameters
    ----------
    dy, dx : ndarray, shape (K, N)
        Offsets per chip size (ascending sizes) and point, pixels.
    sigma : ndarray, shape (K, N)
        Error estimate of each, pixels.
    valid : ndarray of bool, shape (K, N)
    sigma_target, agree_px : float
        Pixels; see the module docstring.
    weighted : bool
        ``True`` for ``fusion="weighted"``.

    Returns
    -------
    fdy, fdx, fsigma : ndarray, shape (N,)
        Fused offsets and error estimate (NaN where no chip is valid).
    chosen : ndarray of int, shape (N,)
        Index of the selected chip size (``-1`` where none).
    n_agree : ndarray of int, shape (N,)
        Number of valid chip sizes agreeing with the selected one (itself
        included).
    """
    k, n = dy.shape
    big = np.inf
    sig = np.where(valid, sigma, big)
    good = valid & (sigma <= sigma_target)
    first_good = np.where(good.any(axis=0), np.argmax(good, axis=0), -1)
    best = np.argmin(sig, axis=0)
    anyv = valid.any(axis=0)
    chosen = np.where(first_good >= 0, first_good, best)
    chosen = np.where(anyv, chosen, -1)
    idx = np.arange(n)
    c = np.maximum(chosen, 0)
    sy, sx, ss = dy[c, idx], dx[c, idx], sigma[c, idx]
    tol = np.maximum(agree_px, 3.0 * np.sqrt(np.where(valid, sigma, 0.0) ** 2 + ss[None, :] ** 2))
    agree = valid & (np.abs(dy - sy[None]) <= tol) & (np.abs(dx - sx[None]) <= tol)
    agree[c, idx] &= anyv
    w = np.where(agree, 1.0 / np.maximum(np.where(valid, sigma, 1.0), 1e-6) ** 2, 0.0)
    wsum = w.sum(axis=0)
    wsafe = np.where(wsum > 0, wsum, 1.0)
    dyv = np.where(agree, dy, 0.0)
    dxv = np.where(agree, dx, 0.0)
    if weighted:
        fdy = (w * dyv).sum(axis=0) / wsafe
        fdx = (w * dxv).sum(axis=0) / wsafe
        base = 1.0 / np.sqrt(wsafe)
    else:
        fdy, fdx, base = sy, sx, ss
    spread2 = (w * ((dyv - fdy) ** 2 + (dxv - fdx) ** 2) / 2.0).sum(axis=0) / wsafe
    spread2 = np.where(agree.sum(axis=0) > 1, spread2, 0.0)
    fsig = np.sqrt(base ** 2 + spread2)
    nan = ~anyv
    fdy = np.where(nan, np.nan, fdy)
    fdx = np.where(nan, np.nan, fdx)
    fsig = np.where(nan, np.nan, fsig)
    return fdy, fdx, fsig, chosen, agree.sum(axis=0)
