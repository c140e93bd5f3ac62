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

__all__ = ["SamplePositions", "inverse_map", "invert_gridded_motion", "invert_motion", "remap", "remap_complex"]

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


def _as_channels(field: np.ndarray) -> np.ndarray:
    """A complex64 view of ``field`` as float32 (H, W, 2): real and imaginary parts are interleaved."""
    field = np.ascontiguousarray(field, dtype=np.complex64)
    return field.view(np.float32).reshape(*field.shape, 2)


def remap_complex(field: np.ndarray, rows: np.ndarray, cols: np.ndarray, *, interpolation: str = "lanczos") -> np.ndarray:
    """`remap` for a complex field (real and imaginary parts as two channels)."""
    out = remap(_as_channels(field), rows, cols, interpolation=interpolation)
    return out.view(np.complex64).reshape(out.shape[:2])


class SamplePositions:
    """Positions to sample several complex fields at, converted once to OpenCV's fixed-point maps.

    For a complex field (two channels) with linear or Lanczos interpolation, `remap` rounds float
    positions to 1/32 pixel on every call: converting them once gives identical samples and saves
    that work when many fields are sampled at the same positions. (OpenCV samples float positions
    exactly in some other cases, cubic interpolation or one channel, which is why this class only
    offers `remap_complex`.)

    Parameters
    ----------
    rows, cols : ndarray, shape (h, w)
        Sample positions in pixel-index units (0 = centre of the first pixel).
    """

    _ALLOWED = ("linear", "lanczos")

    def __init__(self, rows: np.ndarray, cols: np.ndarray):
        self.shape = np.shape(rows)
        self._maps = cv2.convertMaps(np.ascontiguousarray(cols, dtype=np.float32),
                                     np.ascontiguousarray(rows, dtype=np.float32), cv2.CV_16SC2)

    def remap_complex(self, field: np.ndarray, *, interpolation: str = "lanczos") -> np.ndarray:
        """`remap_complex` of ``field`` (H, W) at these positions: complex64 (h, w), NaN outside."""
        if interpolation not in self._ALLOWED:
            raise InputError(f"interpolation must be one of {list(self._ALLOWED)} here (use remap_complex for "
                             f"cubic), got {interpolation!r}")
        out = cv2.remap(_as_channels(field), *self._maps, _INTERP[interpolation],
                        borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))
        return out.view(np.complex64).reshape(out.shape[:2])


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


def invert_gridded_motion(dx: np.ndarray, dy: np.ndarray, rows: np.ndarray, cols: np.ndarray, *,
                          iterations: int = 25, tolerance: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """`invert_motion` for a motion known on a pixel grid and interpolated bilinearly between its nodes.

    The same fixed-point iteration ``g <- y - u(g)`` as `invert_motion` with ``u`` sampled from the
    grid (nearest edge value outside it), kept in float32 throughout: OpenCV samples at float32
    positions anyway, and ``y - u`` of float32 values rounds as the float64 result cast to float32.
    OpenCV also quantises sample positions to 1/32 pixel, so where the motion is strained the
    iteration can end in a cycle between neighbouring positions ``|grad u| / 32`` pixels apart
    instead of converging to ``tolerance``: it stops once the number of pixels still moving has not
    fallen for two iterations (the remaining error is that of the sampled motion itself).

    Parameters
    ----------
    dx, dy : ndarray, shape (H, W)
        Forward offsets on the grid, in pixels of that grid.
    rows, cols : ndarray, shape (h, w)
        Target positions in the grid's pixel coordinates (broadcastable to one shape).

    Returns
    -------
    g_rows, g_cols : ndarray, shape (h, w), float32
    """
    if dx.shape != dy.shape or dx.ndim != 2:
        raise InputError(f"dx and dy must be 2-D arrays of one shape, got {dx.shape} and {dy.shape}")
    field = np.empty((*dx.shape, 2), dtype=np.float32)
    field[..., 0] = dx
    field[..., 1] = dy
    rows, cols = (np.ascontiguousarray(a, dtype=np.float32) for a in np.broadcast_arrays(rows, cols))

    def motion(r, c):
        u = cv2.remap(field, c, r, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return u[..., 0], u[..., 1]

    u_c, u_r = motion(rows, cols)
    g_r, g_c = rows - u_r, cols - u_c
    allowance = int(1e-3 * rows.size)
    fewest, stalled = rows.size + 1, 0
    for _ in range(iterations):
        u_c, u_r = motion(g_r, g_c)
        n_r, n_c = rows - u_r, cols - u_c
        moving = np.count_nonzero((np.abs(n_r - g_r) > tolerance) | (np.abs(n_c - g_c) > tolerance))
        g_r, g_c = n_r, n_c
        if moving <= allowance:
            break
        stalled = stalled + 1 if moving >= fewest else 0
        fewest = min(fewest, moving)
        if stalled >= 2:
            break
    return g_r, g_c
