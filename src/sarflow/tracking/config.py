"""Configuration of the offset tracker.

All settings live in one frozen dataclass so that a product can carry them in
its metadata: ``json.dumps(dataclasses.asdict(config))`` is always valid.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

from sarflow.errors import InputError

__all__ = ["TrackConfig", "PREPROCESS_METHODS", "SUBPIXEL_METHODS", "FUSION_METHODS"]

PREPROCESS_METHODS = ("none", "log", "highpass", "wallis", "lowpass")
SUBPIXEL_METHODS = ("sinc", "lanczos", "parabola", "gaussian")
FUSION_METHODS = ("select", "weighted")


@dataclass(frozen=True)
class TrackConfig:
    """Settings of :func:`sarflow.tracking.track_offsets`.

    Parameters
    ----------
    chip_sizes : tuple of int
        Square chip (template) sizes in pixels, one estimate per size at every
        grid point; fused by the multi-kernel rule (see
        :mod:`sarflow.tracking.multikernel`). Each must be even and >= 8.
    step : int
        Grid spacing in pixels. Estimates are made at reference pixel centres
        ``rows = step // 2 + i * step``, ``cols = step // 2 + j * step``.
    search_radius : int
        Largest offset searched around the prior (or around zero), pixels, per
        axis. Peaks are sought in ``prior +- search_radius``.
    coarse_to_fine : bool
        Run a coarse pass first on images block-averaged by ``coarse_factor``
        (exhaustive over ``search_radius``, with the smallest chip scaled
        down, at least 16 coarse pixels, so it resolves shear margins), and search the full-resolution
        pass only ``refine_radius`` pixels around the coarse field (and its
        3 x 3 neighbourhood range, so offset discontinuities stay inside the
        search). With ``False`` every point is searched exhaustively.
    coarse_factor : int
        Block-averaging factor of the coarse pass (>= 2).
    refine_radius : int
        Search radius in pixels of the full-resolution pass around the coarse
        prior.
    preprocess : str
        ``"none"``, ``"log"`` (log amplitude), ``"highpass"`` (subtract a
        Gaussian low-pass of width ``highpass_sigma``) or ``"wallis"`` (local
        mean removal and local standard-deviation normalisation over
        ``wallis_size`` pixels) or ``"lowpass"`` (Gaussian of width
        ``lowpass_sigma``; for critically sampled SLC amplitude, see
        :func:`sarflow.tracking.preprocess.preprocess`).
    highpass_sigma, wallis_size, lowpass_sigma : float, int, float
        Parameters of the filters above, pixels.
    subpixel : str
        Sub-pixel peak refinement: ``"sinc"`` (default; the correlation
        surface is interpolated with a Kaiser-windowed sinc of half-width 4,
        which equals correlating against a sinc-resampled secondary, and
        maximised by Newton iterations; bias < 0.02 px), ``"lanczos"``
        (3-lobe Lanczos kernel, same scheme), ``"parabola"`` (separable
        3-point parabola, biased towards whole pixels by up to ~0.09 px) or
        ``"gaussian"`` (3-point Gaussian fit). See
        :mod:`sarflow.tracking.subpixel` for the measured bias.
    min_ncc : float
        Estimates whose correlation peak is below this are rejected.
    min_peak_ratio : float
        Estimates whose main peak over the highest value outside a 5 x 5
        neighbourhood of it (within the searched window) is below this are
        rejected. Not applied where the window has no lag outside that
        neighbourhood.
    min_significance : float
        Estimates whose peak is not this many noise standard deviations above
        zero are rejected: ``ncc * sqrt(N_eff)`` with ``N_eff = c**2 * kappa /
        (2 pi)`` the number of independent samples in the chip (``kappa``
        the normalised peak curvature, 1/px**2). The largest of about 2000
        pure-noise lags reaches about 4, so 4.5 rejects most false peaks.
    max_sigma_px : float
        Estimates whose error estimate ``sigma_px`` exceeds this are rejected,
        per chip and again after fusion (the fused ``sigma_px`` includes the
        deformation inside the chip).
    max_invalid_fraction : float
        Largest fraction of nodata (NaN or outside the image) pixels tolerated
        in a reference chip or in the matched secondary chip.
    max_chip_deformation_px : float
        Multi-kernel rule: a chip is used only where the offsets change by at
        most this across it (difference plus curvature term, measured on the
        fields of that chip size and every finer one; see
        :mod:`sarflow.tracking.multikernel`).
    agree_sigmas : float
        Multi-kernel rule: a larger chip is kept only where it differs from
        every smaller valid chip by at most this many standard deviations of
        the difference of nested estimates.
    agree_floor_px : float
        Standard deviation, pixels, added in quadrature in that test (model
        error of the error estimates).
    fusion : str
        ``"select"`` (one chip per point: the largest admissible chip that
        agrees with the smaller ones) or ``"weighted"`` (generalised
        least-squares mean of the selected chip and the smaller chips that
        agree with it, under the nested-chip error covariance).
    median_test : bool
        Apply the normalized median test (Westerweel & Scarano 2005).
    median_threshold, median_eps, median_window : float, float, int
        Threshold, noise level (pixels) and window (3 or 5) of that test.
    fill_gaps : bool
        Fill rejected points (not nodata) by iterated neighbourhood averaging;
        filled points are marked in ``quality["filled"]``.
    fill_max_distance : int
        Largest gap radius, in grid points, that filling may bridge.
    block_size : int
        Grid points per side of the processing tiles before they are split
        (tiles are split further to keep search windows tight and memory
        within ``max_block_mb``). ``0``: about 512 reference pixels per side.
    max_block_mb : float
        Memory budget per block for the correlation volume, MiB.
    workers : int
        Worker threads (OpenCV and NumPy release the GIL in the correlation
        loop). ``0`` uses all cores; ``1`` runs in the calling thread.
    """

    chip_sizes: tuple[int, ...] = (32, 64, 128)
    step: int = 8
    search_radius: int = 20
    coarse_to_fine: bool = True
    coarse_factor: int = 4
    refine_radius: int = 2
    preprocess: str = "none"
    highpass_sigma: float = 8.0
    wallis_size: int = 21
    lowpass_sigma: float = 0.7
    subpixel: str = "sinc"
    min_ncc: float = 0.1
    min_peak_ratio: float = 1.05
    min_significance: float = 4.5
    max_sigma_px: float = 1.0
    max_invalid_fraction: float = 0.3
    max_chip_deformation_px: float = 1.0
    agree_sigmas: float = 3.0
    agree_floor_px: float = 0.02
    fusion: str = "select"
    median_test: bool = True
    median_threshold: float = 2.5
    median_eps: float = 0.1
    median_window: int = 3
    fill_gaps: bool = False
    fill_max_distance: int = 8
    block_size: int = 0
    max_block_mb: float = 64.0
    workers: int = 0

    def __post_init__(self) -> None:
        chips = tuple(int(c) for c in self.chip_sizes)
        object.__setattr__(self, "chip_sizes", tuple(sorted(set(chips))))
        if not chips:
            raise InputError("chip_sizes is empty; give at least one chip size, e.g. (32, 64, 128)")
        for c in chips:
            if c < 8 or c % 2:
                raise InputError(f"chip size {c} is not an even number >= 8; use e.g. 16, 32, 64")
        _check_int(self.step, "step", 1)
        _check_int(self.search_radius, "search_radius", 0)
        _check_int(self.coarse_factor, "coarse_factor", 2)
        _check_int(self.refine_radius, "refine_radius", 1)
        _check_int(self.wallis_size, "wallis_size", 3)
        _check_int(self.block_size, "block_size", 0)
        _check_int(self.workers, "workers", 0)
        _check_int(self.fill_max_distance, "fill_max_distance", 1)
        if self.preprocess not in PREPROCESS_METHODS:
            raise InputError(f"preprocess={self.preprocess!r} is unknown; use one of {PREPROCESS_METHODS}")
        if self.subpixel not in SUBPIXEL_METHODS:
            raise InputError(f"subpixel={self.subpixel!r} is unknown; use one of {SUBPIXEL_METHODS}")
        if self.fusion not in FUSION_METHODS:
            raise InputError(f"fusion={self.fusion!r} is unknown; use one of {FUSION_METHODS}")
        if self.median_window not in (3, 5):
            raise InputError(f"median_window={self.median_window} must be 3 or 5")
        for name in ("highpass_sigma", "lowpass_sigma", "max_sigma_px", "max_chip_deformation_px", "agree_sigmas", "agree_floor_px",
                     "median_threshold",
                     "median_eps", "max_block_mb"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise InputError(f"{name}={v!r} must be a positive finite number")
        if not 0.0 <= self.max_invalid_fraction < 1.0:
            raise InputError("max_invalid_fraction must be in [0, 1)")
        if not -1.0 <= self.min_ncc < 1.0:
            raise InputError("min_ncc must be in [-1, 1)")

    @property
    def n_workers(self) -> int:
        """Worker threads actually used (``workers``, or all cores for 0)."""
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)

    def to_dict(self) -> dict:
        """JSON-serialisable dictionary of the settings."""
        d = dataclasses.asdict(self)
        d["chip_sizes"] = list(d["chip_sizes"])
        return d


def _check_int(v, name: str, lo: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise InputError(f"{name}={v!r} must be an integer >= {lo}")
