"""Offset fields: displacement expressed as image offsets, evaluated at any pixel position.

Every field answers one question, ``offsets_px(rows, cols, shape) -> (dx, dy)``: where does the
reference point at fractional position (rows, cols) of a scene of ``shape`` go, in pixels. Physical
models (metres on the ground) become offset fields through a radar geometry (`GeophysicalField`);
some fields are defined in pixels directly (`UniformShift`, `SmoothField`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

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
            cache[key] = comps
        return cache[key]

    def offsets_px(self, rows, cols, shape):
        from sarflow.simulation.warp import remap

        gx, gy = self._grids(shape)
        m = self.margin_px
        r = np.asarray(rows, dtype=np.float32) + m
        c = np.asarray(cols, dtype=np.float32) + m
        stacked = np.stack([gx, gy], axis=-1)
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
    """

    model: object
    geometry: object

    def offsets_px(self, rows, cols, shape):
        x_m, y_m = self.geometry.pixel_to_ground(rows, cols, shape)
        east, north, up = self.model.displacement_m(x_m, y_m)
        return self.geometry.displacement_to_offsets(east, north, up)
