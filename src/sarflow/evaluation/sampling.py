"""Bringing one grid's values to another grid's points through their transforms.

A grid is an array plus an affine transform from cell (pixel-corner) coordinates ``(col, row)`` to
map coordinates (or to the reference image's pixel coordinates when there is no CRS), as in the
offsets products: the value of cell (i, j) belongs to the point at the centre of that cell. An
estimate on a step-8 grid is compared with a per-pixel truth by sampling the truth at the estimate's
points; both transforms place the points, so grids of any step and origin line up.
"""

from __future__ import annotations

import numpy as np
from affine import Affine

from sarflow.errors import GridMismatchError, InputError

__all__ = ["cell_centres", "sample_onto", "check_same_crs", "grid_bounds"]

#: Fractional cell positions closer than this to a cell centre are read from that cell alone.
_SNAP = 1e-6


def cell_centres(transform: Affine, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of the centres of every cell of a grid.

    Parameters
    ----------
    transform : Affine
        Cell-corner coordinates ``(col, row)`` to map (or reference pixel) coordinates.
    shape : (h, w)

    Returns
    -------
    x, y : ndarray, shape (h, w), float64
    """
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    x, y = transform @ (cols + 0.5, rows + 0.5)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def grid_bounds(transform: Affine, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """``(xmin, ymin, xmax, ymax)`` of the area a grid covers (cell edges)."""
    h, w = shape
    xs, ys = transform @ (np.array([0.0, w, 0.0, w]), np.array([0.0, 0.0, h, h]))
    return float(np.min(xs)), float(np.min(ys)), float(np.max(xs)), float(np.max(ys))


def check_same_crs(crs_a, crs_b, *, name_a: str, name_b: str) -> None:
    """Raise `GridMismatchError` unless both grids are in one CRS, or both in pixel coordinates (None)."""
    if crs_a is None and crs_b is None:
        return
    if crs_a is None or crs_b is None:
        geo_name, geo_crs = (name_a, crs_a) if crs_a is not None else (name_b, crs_b)
        other = name_b if crs_a is not None else name_a
        raise GridMismatchError(
            f"{geo_name} is in {_crs_text(geo_crs)} but {other} has no CRS (pixel coordinates); give both in "
            "the same map projection, or both in the reference image's pixel coordinates"
        )
    if crs_a != crs_b:
        raise GridMismatchError(
            f"{name_a} is in {_crs_text(crs_a)} but {name_b} is in {_crs_text(crs_b)}; reproject one onto the "
            "other's CRS first"
        )


def _crs_text(crs) -> str:
    try:
        return crs.to_string()
    except AttributeError:
        return str(crs)


def sample_onto(values: np.ndarray, transform: Affine, at_transform: Affine, at_shape: tuple[int, int], *,
                method: str = "bilinear") -> tuple[np.ndarray, np.ndarray]:
    """Values of a grid at the cell centres of another grid.

    Parameters
    ----------
    values : ndarray, shape (H, W)
        The grid to read (e.g. a per-pixel truth), NaN where unknown.
    transform : Affine
        Its cell-corner to map (or reference pixel) transform.
    at_transform : Affine
        Transform of the grid whose points are wanted (e.g. an estimate's step-8 grid), same
        coordinate system.
    at_shape : (h, w)
        Shape of that grid.
    method : {"bilinear", "nearest"}
        ``bilinear`` interpolates between the four surrounding cell centres and gives NaN where any
        of those with a non-zero weight is NaN (a point that falls on a cell centre reads that cell
        alone, so grids that share points are compared exactly); ``nearest`` reads the cell the
        point falls in.

    Returns
    -------
    sampled : ndarray, shape (h, w), float64
        NaN outside the grid read.
    inside : ndarray, shape (h, w), bool
        Where the point lies within the area of the grid read.
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise InputError(f"values must be a 2-D grid, got shape {values.shape}")
    if method not in ("bilinear", "nearest"):
        raise InputError(f"method must be 'bilinear' or 'nearest', got {method!r}")
    if transform.determinant == 0:
        raise InputError("the grid's transform is singular")
    h, w = values.shape
    x, y = cell_centres(at_transform, at_shape)
    col, row = ~transform @ (x, y)  # cell-corner coordinates of the grid read
    col, row = np.asarray(col), np.asarray(row)
    inside = (col >= 0) & (col <= w) & (row >= 0) & (row <= h)
    data = values.astype(np.float64, copy=False)
    if method == "nearest":
        ri = np.clip(np.floor(row).astype(np.int64), 0, h - 1)
        ci = np.clip(np.floor(col).astype(np.int64), 0, w - 1)
        out = data[ri, ci]
        return np.where(inside, out, np.nan), inside
    # Centre-based fractional indices; snap to exact centres, clamp half a cell at the edges.
    r, c = row - 0.5, col - 0.5
    r = np.where(np.abs(r - np.round(r)) < _SNAP, np.round(r), r)
    c = np.where(np.abs(c - np.round(c)) < _SNAP, np.round(c), c)
    r = np.clip(r, 0, h - 1)
    c = np.clip(c, 0, w - 1)
    r0 = np.minimum(np.floor(r).astype(np.int64), max(h - 2, 0))
    c0 = np.minimum(np.floor(c).astype(np.int64), max(w - 2, 0))
    r1, c1 = np.minimum(r0 + 1, h - 1), np.minimum(c0 + 1, w - 1)
    fr, fc = r - r0, c - c0
    out = np.zeros(r.shape)
    bad = np.zeros(r.shape, dtype=bool)
    for rr, cc, weight in ((r0, c0, (1 - fr) * (1 - fc)), (r0, c1, (1 - fr) * fc), (r1, c0, fr * (1 - fc)),
                           (r1, c1, fr * fc)):
        v = data[rr, cc]
        used = weight > 0
        bad |= used & ~np.isfinite(v)
        out += np.where(used, weight * np.where(np.isfinite(v), v, 0.0), 0.0)
    out[bad | ~inside] = np.nan
    return out, inside
