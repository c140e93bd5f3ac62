"""Offset fields: displacement expressed as image offsets, evaluated at any pixel position.

Every field answers one question, ``offsets_px(rows, cols, shape) -> (dx, dy)``: where does the
reference point at fractional position (rows, cols) of a scene of ``shape`` go, in pixels. Physical
models (metres on the ground) become offset fields through a radar geometry (`GeophysicalField`);
some fields are defined in pixels directly (`UniformShift`, `SmoothField`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from sarflow.errors import InputError

__all__ = ["OffsetField", "UniformShift", "SmoothField", "GeophysicalField"]


@runtime_checkable
class OffsetField(Protocol):
    """Anything that maps reference pixel positions to offsets in pixels."""

    def offsets_px(self, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Offsets (dx, dy) in pixels at fractional positions of a scene of ``shape``."""


@dataclass(frozen=True)
class UniformShift:
    """The same offset everywhere (a co-registration error, or a whole-pixel test case).

    Parameters
    ----------
    dx_px, dy_px : float
        Offset along columns and rows, in pixels.
    """

    dx_px: float = field(default=0.3, metadata={"help": "offset along columns (range), pixels"})
    dy_px: float = field(default=-0.2, metadata={"help": "offset along rows (azimuth), pixels"})

    def offsets_px(self, rows, cols, shape):
        rows = np.asarray(rows)
        return np.full(rows.shape, self.dx_px, dtype=np.float64), np.full(rows.shape, self.dy_px, dtype=np.float64)


@dataclass(frozen=True)
class SmoothField:
    """A smooth random offset field with a chosen amplitude and correlation length.

    Each component is an independent Gaussian random field with Gaussian covariance of length
    ``correlation_px``, scaled so that its largest absolute value on the scene is ``amplitude_px``
    (sub-pixel fields: ``amplitude_px < 1``), plus an optional constant ``mean_dx_px``/``mean_dy_px``.
    The field is drawn on a grid that extends ``margin_px`` past the scene and interpolated bicubically
    between grid nodes, so it is consistent at any fractional position.

    Parameters
    ----------
    amplitude_px : float
        Maximum absolute offset of each component over the scene, pixels.
    correlation_px : float
        Correlation length, pixels.
    seed : int
        Random seed of the field (independent of the images' speckle).
    """

    amplitude_px: float = field(default=0.5, metadata={"help": "largest |offset| of each component, pixels"})
    correlation_px: float = field(default=60.0, metadata={"help": "correlation length of the field, pixels"})
    mean_dx_px: float = field(default=0.0, metadata={"help": "constant added to dx, pixels"})
    mean_dy_px: float = field(default=0.0, metadata={"help": "constant added to dy, pixels"})
    seed: int = field(default=0, metadata={"help": "seed of the random field"})
    margin_px: int = field(default=64, metadata={"help": "extent of the field beyond the scene, pixels"})

    def __post_init__(self):
        if self.amplitude_px < 0:
            raise InputError(f"amplitude_px must be >= 0, got {self.amplitude_px}")
        if self.correlation_px <= 0:
            raise InputError(f"correlation_px must be positive, got {self.correlation_px}")

    def _grids(self, shape):
        from sarflow.simulation.textures import gaussian_field

        cache = self.__dict__.setdefault("_cache", {})
        key = tuple(shape)
        if key not in cache:
            rng = np.random.default_rng(self.seed)
            m = self.margin_px
            ext = (shape[0] + 2 * m, shape[1] + 2 * m)
            comps = []
            for mean in (self.mean_dx_px, self.mean_dy_px):
                g = gaussian_field(ext, rng, correlation_px=self.correlation_px).astype(np.float64)
                peak = np.max(np.abs(g[m : m + shape[0], m : m + shape[1]]))
                g = g * (self.amplitude_px / peak if peak > 0 else 0.0) + mean
                comps.append(g.astype(np.float32))
            # Both components as the two channels of one image: sampled together.
            cache[key] = np.stack(comps, axis=-1)
        return cache[key]

    def offsets_px(self, rows, cols, shape):
        from sarflow.simulation.warp import remap

        stacked = self._grids(shape)
        m = self.margin_px
        r = np.asarray(rows, dtype=np.float32) + m
        c = np.asarray(cols, dtype=np.float32) + m
        out = remap(stacked, r, c, interpolation="cubic").astype(np.float64)
        if np.isnan(out).any():
            raise InputError(f"SmoothField evaluated more than margin_px={m} pixels outside the scene")
        return out[..., 0], out[..., 1]


@dataclass(frozen=True)
class GeophysicalField:
    """A physical displacement model seen through a radar geometry.

    Parameters
    ----------
    model : object with ``displacement_m(x_m, y_m) -> (east, north, up)``
        Displacement in metres at local east/north coordinates (origin at the scene centre).
    geometry : sarflow.simulation.geometry.RadarGeometry
        Converts pixel positions to ground coordinates, and displacements to image offsets.
    grid_step_px : int
        Node spacing of the coarse grid used on regular pixel grids (1 = evaluate every pixel).

    Notes
    -----
    Asked for a regular pixel grid (rows constant along columns and the other way round, evenly
    spaced, at least 64 x 64, as `simulate_pair` asks for the truth), a model that says how far each
    point is from where its field is not smooth (``singular_distance_m(x_m, y_m)``, metres: a
    fault's distance to the dislocation) is evaluated exactly only at every ``grid_step_px``-th node
    and at the pixels near its singularities, and interpolated with 6-point Lagrange polynomials
    elsewhere. A pixel is interpolated only where all 36 nodes it uses lie more than six node
    spacings (on the ground) from a singularity, where the field varies on scales far larger than
    the node spacing: the difference from evaluating every pixel is below 1e-4 of the largest offset
    (``tests/simulation/test_fields.py``; 2.4e-5 at worst over 150 random faults and sills), and the
    pixels around a surface rupture are exact on both of its sides. Scattered positions are always
    evaluated exactly.
    """

    model: object
    geometry: object
    grid_step_px: int = field(default=4, metadata={"help": "coarse-grid node spacing on pixel grids (1 = every pixel)"})

    def __post_init__(self):
        if int(self.grid_step_px) != self.grid_step_px or self.grid_step_px < 1:
            raise InputError(f"grid_step_px must be a positive integer, got {self.grid_step_px}")

    def _exact(self, rows, cols, shape):
        x_m, y_m = self.geometry.pixel_to_ground(rows, cols, shape)
        east, north, up = self.model.displacement_m(x_m, y_m)
        return self.geometry.displacement_to_offsets(east, north, up)

    def offsets_px(self, rows, cols, shape):
        step = int(self.grid_step_px)
        if step > 1 and hasattr(self.model, "singular_distance_m"):
            axes = _grid_axes(rows, cols, min_size=_MIN_GRID)
            if axes is not None:
                return self._offsets_on_grid(*axes, shape, step)
        return self._exact(rows, cols, shape)

    def _offsets_on_grid(self, r, c, shape, step):
        """Offsets on the grid ``r x c`` (1-D, evenly spaced): coarse nodes, exact near singularities."""
        taps = _TAPS
        before = taps // 2 - 1  # stencil nodes before a cell's left node
        dr, dc = r[1] - r[0], c[1] - c[0]
        n_r = (r.size - 1) // step + taps
        n_c = (c.size - 1) // step + taps
        node_r = r[0] + dr * step * (np.arange(n_r) - before)
        node_c = c[0] + dc * step * (np.arange(n_c) - before)
        nr, nc = np.meshgrid(node_r, node_c, indexing="ij")
        x_m, y_m = self.geometry.pixel_to_ground(nr, nc, shape)
        east, north, up = self.model.displacement_m(x_m, y_m)
        node_dx, node_dy = self.geometry.displacement_to_offsets(east, north, up)

        # Ground length of one node step along rows and along columns (the geometry is affine).
        gx, gy = self.geometry.pixel_to_ground(np.array([0.0, dr * step, 0.0]), np.array([0.0, 0.0, dc * step]), shape)
        step_m = max(math.hypot(gx[1] - gx[0], gy[1] - gy[0]), math.hypot(gx[2] - gx[0], gy[2] - gy[0]))
        smooth = np.asarray(self.model.singular_distance_m(x_m, y_m)) > _SMOOTH_RATIO * step_m
        # A cell (the pixels between two nodes, each way) is smooth when its whole stencil is.
        cell_ok = np.lib.stride_tricks.sliding_window_view(smooth, (taps, taps)).all(axis=(2, 3))

        wr = _lagrange_weights(r.size, step, n_r)
        wc = _lagrange_weights(c.size, step, n_c)
        out = []
        for node in (node_dx, node_dy):
            values = cv2.gemm(cv2.gemm(wr, np.ascontiguousarray(node, dtype=np.float64), 1.0, None, 0.0),
                              wc, 1.0, None, 0.0, flags=cv2.GEMM_2_T)
            out.append(values)
        if not cell_ok.all():
            ii = np.arange(r.size) // step
            jj = np.arange(c.size) // step
            exact = ~cell_ok[np.ix_(ii, jj)]
            er, ec = np.nonzero(exact)
            ex_dx, ex_dy = self._exact(r[er], c[ec], shape)
            out[0][er, ec] = ex_dx
            out[1][er, ec] = ex_dy
        return out[0], out[1]


# Coarse-grid evaluation of `GeophysicalField` on pixel grids.
_TAPS = 6  # Lagrange interpolation through 6 nodes (5th-degree polynomial)
_SMOOTH_RATIO = 6.0  # interpolate only where singularities are farther than this many node steps
_MIN_GRID = 64  # smaller grids are evaluated pixel by pixel


def _grid_axes(rows, cols, *, min_size):
    """The 1-D axes ``(r, c)`` if ``rows``, ``cols`` are the mesh of two evenly spaced axes, else None."""
    rows, cols = np.asarray(rows), np.asarray(cols)
    if rows.ndim != 2 or rows.shape != cols.shape or min(rows.shape) < min_size:
        return None
    r, c = rows[:, 0].astype(np.float64), cols[0, :].astype(np.float64)
    for axis in (r, c):
        d = np.diff(axis)
        if not (d[0] > 0 and np.all(np.abs(d - d[0]) <= 1e-9 * max(1.0, abs(d[0])))):
            return None
    if not (np.array_equal(rows, np.broadcast_to(rows[:, :1], rows.shape))
            and np.array_equal(cols, np.broadcast_to(cols[:1, :], cols.shape))):
        return None
    return r, c


@functools.lru_cache(maxsize=32)
def _lagrange_weights(n_fine: int, step: int, n_nodes: int) -> np.ndarray:
    """(n_fine, n_nodes) Lagrange weights from nodes every ``step`` samples to every sample.

    Node ``j`` sits at sample ``step * (j - (_TAPS // 2 - 1))``; sample ``i`` lies in the cell of
    node ``i // step + _TAPS // 2 - 1`` and uses the ``_TAPS`` nodes around that cell.
    """
    i = np.arange(n_fine)
    cell, t = i // step, (i % step) / step
    offsets = np.arange(_TAPS) - (_TAPS // 2 - 1)
    weights = np.zeros((n_fine, n_nodes))
    for k in offsets:
        w = np.ones(n_fine)
        for m in offsets:
            if m != k:
                w *= (t - m) / (k - m)
        weights[i, cell + k + (_TAPS // 2 - 1)] = w
    weights.setflags(write=False)
    return weights
