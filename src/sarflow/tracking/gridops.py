"""Small operations on gridded fields (numpy and OpenCV only).

They stand in for the few ``scipy.ndimage`` calls the tracker needs, so that
importing :mod:`sarflow.tracking` stays cheap (SciPy's image module alone
takes about 0.3 s to import, a large share of a command-line run).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["fill_nearest", "window_sum", "neighbourhood_min_max", "interp_grid"]


def fill_nearest(f: np.ndarray) -> np.ndarray:
    """Replace NaN entries by the value of the nearest finite entry.

    Parameters
    ----------
    f : ndarray, shape (h, w)

    Returns
    -------
    ndarray, shape (h, w)
        ``f`` itself when it is all finite or all NaN, else a filled copy
        (nearest in the Euclidean sense up to OpenCV's 5 x 5 distance mask).
    """
    fin = np.isfinite(f)
    if fin.all() or not fin.any():
        return f
    _, labels = cv2.distanceTransformWithLabels((~fin).astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    # labels number the finite entries 1, 2, ... in row-major order
    src = np.flatnonzero(fin)
    return f.ravel()[src[labels.ravel() - 1]].reshape(f.shape)


def window_sum(a: np.ndarray, window: int) -> np.ndarray:
    """Sum over the ``window x window`` neighbourhood of every entry, zeros outside.

    Parameters
    ----------
    a : ndarray, shape (h, w)
    window : int
        Odd window side.

    Returns
    -------
    ndarray, shape (h, w), float64
    """
    r = window // 2
    h, w = a.shape
    p = np.pad(a.astype(np.float64), r)
    out = np.zeros((h, w))
    for i in range(window):
        for j in range(window):
            out += p[i:i + h, j:j + w]
    return out


def neighbourhood_min_max(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and maximum over the 3 x 3 neighbourhood, edges replicated.

    Parameters
    ----------
    f : ndarray, shape (h, w), finite

    Returns
    -------
    lo, hi : ndarray, shape (h, w)
    """
    h, w = f.shape
    p = np.pad(f, 1, mode="edge")
    stack = np.stack([p[i:i + h, j:j + w] for i in range(3) for j in range(3)])
    return stack.min(axis=0), stack.max(axis=0)


def _axis_weights(dst, src):
    """Index of the left neighbour and linear weight of the right one, clamped to the ends."""
    n = len(src)
    if n < 2:
        z = np.zeros(len(dst), np.intp)
        return z, z, np.zeros(len(dst))
    pos = np.interp(dst, src, np.arange(n, dtype=np.float64))
    i0 = np.clip(np.floor(pos).astype(np.intp), 0, n - 2)
    return i0, i0 + 1, pos - i0


def interp_grid(f: np.ndarray, src_rows, src_cols, dst_rows, dst_cols) -> np.ndarray:
    """Bilinear interpolation of a gridded field onto another grid.

    Parameters
    ----------
    f : ndarray, shape (len(src_rows), len(src_cols))
        Field at the increasing coordinates ``src_rows x src_cols``.
    src_rows, src_cols, dst_rows, dst_cols : array_like
        Coordinates (any common unit); destinations outside the source grid
        take the value at its edge.

    Returns
    -------
    ndarray, shape (len(dst_rows), len(dst_cols)), float64
    """
    f = np.asarray(f, dtype=np.float64)
    r0, r1, tr = _axis_weights(np.asarray(dst_rows, float), np.asarray(src_rows, float))
    c0, c1, tc = _axis_weights(np.asarray(dst_cols, float), np.asarray(src_cols, float))
    rows = f[r0] * (1 - tr)[:, None] + f[r1] * tr[:, None]
    return rows[:, c0] * (1 - tc)[None, :] + rows[:, c1] * tc[None, :]
