"""Warping with forward truth.

The truth ``(dx, dy)`` says where each *reference* pixel went: a feature at (r, c) in the reference
lies at (r + dy, c + dx) in the secondary. To build the secondary we need the opposite question,
"which reference point arrived at secondary pixel (y, x)?", i.e. the inverse map ``g`` solving
``g + u(g) = y``. Sampling the reference at ``y - u(y)`` instead is only right for uniform motion;
with strain it misplaces features by about ``u * grad(u)``.
"""

from __future__ import annotations

import cv2
import numpy as np

from sarflow.errors import InputError

__all__ = ["inverse_map", "invert_motion", "remap", "remap_complex"]

_INTERP = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}


def remap(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, *, interpolation: str = "cubic") -> np.ndarray:
    """Sample ``image`` at fractional (rows, cols); NaN outside the image.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C), float32
    rows, cols : ndarray, shape (h, w)
        Sample positions in pixel-index units (0 = centre of the first pixel).
    interpolation : {"linear", "cubic", "lanczos"}

    Returns
    -------
    ndarray, shape (h, w) or (h, w, C), float32
    """
    if interpolation not in _INTERP:
        raise InputError(f"interpolation must be one of {sorted(_INTERP)}, got {interpolation!r}")
    src = np.ascontiguousarray(image, dtype=np.float32)
    out = cv2.remap(
        src,
        np.ascontiguousarray(cols, dtype=np.float32),
        np.ascontiguousarray(rows, dtype=np.float32),
        _INTERP[interpolation],
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=float("nan"),
    )
    return out


def remap_complex(field: np.ndarray, rows: np.ndarray, cols: np.ndarray, *, interpolation: str = "lanczos") -> np.ndarray:
    """`remap` for a complex field (real and imaginary parts as two channels)."""
    pair = np.empty((*field.shape, 2), dtype=np.float32)
    pair[..., 0] = field.real
    pair[..., 1] = field.imag
    out = remap(pair, rows, cols, interpolation=interpolation)
    res = np.empty(out.shape[:2], dtype=np.complex64)
    res.real = out[..., 0]
    res.imag = out[..., 1]
    return res


def inverse_map(dx: np.ndarray, dy: np.ndarray, *, iterations: int = 25, tolerance: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Reference positions that arrive at each grid pixel: solve ``g + u(g) = y`` per pixel.

    Fixed-point iteration ``g <- y - u(g)`` with bilinear interpolation of ``u``; it converges where
    the motion does not fold the ground (``|grad u| < 1``). Where it has not converged (folds,
    ruptures that open gaps) the last iterate is kept: those secondary pixels see the nearest
    reference ground.

    Parameters
    ----------
    dx, dy : ndarray, shape (H, W)
        Forward offsets on the grid, in pixels of that grid.

    Returns
    -------
    rows, cols : ndarray, shape (H, W), float32
        Positions in the reference for every secondary pixel.
    """
    if dx.shape != dy.shape or dx.ndim != 2:
        raise InputError(f"dx and dy must be 2-D arrays of one shape, got {dx.shape} and {dy.shape}")
    h, w = dx.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    field = np.ascontiguousarray(np.stack([dx, dy], axis=-1), dtype=np.float32)
    gx, gy = xx - field[..., 0], yy - field[..., 1]
    unconverged_allowance = int(1e-3 * h * w)
    for _ in range(iterations):
        # Outside the grid use the nearest edge value of u (motion continues smoothly past the edge).
        u = cv2.remap(field, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        nx, ny = xx - u[..., 0], yy - u[..., 1]
        moving = np.count_nonzero((np.abs(nx - gx) > tolerance) | (np.abs(ny - gy) > tolerance))
        gx, gy = nx, ny
        # Stop once all but a few pixels (at folds or gaps, where no fixed point exists) have converged.
        if moving <= unconverged_allowance:
            break
    return gy, gx


def invert_motion(offsets, rows: np.ndarray, cols: np.ndarray, *, iterations: int = 25,
                  tolerance: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Reference positions ``g`` that arrive at positions (rows, cols): solve ``g + u(g) = y``.

    Parameters
    ----------
    offsets : callable
        ``offsets(rows, cols) -> (dx, dy)``: the forward motion at any fractional position.
    rows, cols : ndarray, shape (h, w)
        Target positions (broadcastable to one shape).

    Returns
    -------
    g_rows, g_cols : ndarray, shape (h, w), float64

    Notes
    -----
    Fixed-point iteration ``g <- y - u(g)``; converges where the motion does not fold the ground
    (``|grad u| < 1``). At folds and at ruptures that open a gap no exact solution exists; the last
    iterate is kept there (those pixels see ground from next to the rupture).
    """
    rows, cols = (np.asarray(a, dtype=np.float64) for a in np.broadcast_arrays(rows, cols))
    dx, dy = (np.asarray(v, dtype=np.float64) for v in offsets(rows, cols))
    g_r, g_c = rows - dy, cols - dx
    allowance = int(1e-3 * rows.size)
    for _ in range(iterations):
        dx, dy = (np.asarray(v, dtype=np.float64) for v in offsets(g_r, g_c))
        n_r, n_c = rows - dy, cols - dx
        moving = np.count_nonzero((np.abs(n_r - g_r) > tolerance) | (np.abs(n_c - g_c) > tolerance))
        g_r, g_c = n_r, n_c
        if moving <= allowance:
            break
    return g_r, g_c
