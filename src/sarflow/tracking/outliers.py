"""Outlier detection and optional gap filling on gridded offset fields."""

from __future__ import annotations

import numpy as np

from sarflow.tracking.gridops import window_sum

__all__ = ["normalized_median_test", "fill_gaps"]


def _neighbour_median(f: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Median of the valid neighbours (centre excluded) and residual median."""
    h, w = f.shape
    r = window // 2
    pad = np.pad(f, r, mode="constant", constant_values=np.nan)
    stack = []
    for a in range(window):
        for b in range(window):
            if a == r and b == r:
                continue
            stack.append(pad[a:a + h, b:b + w])
    nb = np.stack(stack)
    fin = np.isfinite(nb)
    cnt = fin.sum(axis=0)
    srt = np.sort(np.where(fin, nb, np.inf), axis=0)
    med = _median_sorted(srt, cnt)
    res = np.abs(nb - med[None])
    srt_r = np.sort(np.where(fin, res, np.inf), axis=0)
    rmed = _median_sorted(srt_r, cnt)
    return med, rmed


def _median_sorted(srt: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    """Median along axis 0 of arrays sorted with +inf padding; NaN where cnt == 0."""
    lo = np.clip((cnt - 1) // 2, 0, srt.shape[0] - 1)
    hi = np.clip(cnt // 2, 0, srt.shape[0] - 1)
    a = np.take_along_axis(srt, lo[None], 0)[0]
    b = np.take_along_axis(srt, hi[None], 0)[0]
    out = np.full(cnt.shape, np.nan)
    ok = cnt > 0
    out[ok] = 0.5 * (a[ok] + b[ok])
    return out


def normalized_median_test(dy: np.ndarray, dx: np.ndarray, *, threshold: float = 2.5,
                           eps: float = 0.1, window: int = 3, min_neighbours: int = 3) -> np.ndarray:
    """Normalized median test (Westerweel & Scarano 2005, Exp. Fluids 39:1096).

    For each component, ``r = |u - med| / (rmed + eps)`` where ``med`` is the
    median of the valid neighbours in a ``window x window`` neighbourhood
    (centre excluded) and ``rmed`` the median of their absolute residuals
    from ``med``. A point is an outlier when ``r > threshold`` for either
    component.

    Parameters
    ----------
    dy, dx : ndarray, shape (h, w)
        Offsets, pixels (NaN = no estimate).
    threshold : float
        Typically 2 to 3.
    eps : float
        Noise level, pixels (avoids flagging noise in uniform flow).
    window : {3, 5}
    min_neighbours : int
        Points with fewer valid neighbours are not tested.

    Returns
    -------
    ndarray of bool, shape (h, w)
        ``True`` at outliers.
    """
    out = np.zeros(dy.shape, bool)
    for f in (dy, dx):
        f = f.astype(np.float64)
        med, rmed = _neighbour_median(f, window)
        fin = np.isfinite(f) & np.isfinite(med)
        cnt = window_sum(np.isfinite(f), window) - np.isfinite(f)
        r = np.zeros_like(f)
        np.divide(np.abs(f - np.where(fin, med, 0.0)), np.where(fin, rmed, 1.0) + eps, out=r, where=fin)
        out |= fin & (cnt >= min_neighbours) & (r > threshold)
    return out


def fill_gaps(fields: list[np.ndarray], fillable: np.ndarray, max_distance: int) -> np.ndarray:
    """Fill NaN points by iterated averaging of their valid 3 x 3 neighbours.

    Each pass fills the gap points that have at least one valid neighbour
    with the mean of those neighbours; ``max_distance`` passes bound the gap
    radius bridged. Fields are modified in place.

    Parameters
    ----------
    fields : list of ndarray, shape (h, w)
        Fields sharing one validity pattern (e.g. ``[dy, dx]``).
    fillable : ndarray of bool, shape (h, w)
        Points that may be filled (gaps, not nodata).
    max_distance : int
        Passes, i.e. the largest distance in grid points from valid data.

    Returns
    -------
    ndarray of bool, shape (h, w)
        ``True`` where a value was filled.
    """
    filled = np.zeros(fillable.shape, bool)
    for _ in range(max_distance):
        valid = np.isfinite(fields[0])
        todo = fillable & ~valid
        if not todo.any():
            break
        cnt = window_sum(valid, 3)
        new = todo & (cnt > 0)
        if not new.any():
            break
        for f in fields:
            s = window_sum(np.where(valid, f, 0.0), 3)
            f[new] = (s[new] / cnt[new]).astype(f.dtype)
        filled |= new
    return filled
