"""The coarse prior for large motion, computed block by block and applied to any window.

Motion larger than the network handles (fast glaciers, tens of pixels) is taken in two steps: a
coarse pass of the multi-kernel tracker gives a smooth prior field ``p``, the secondary is resampled
onto the reference by it (``sec'(r) = sec(r + p(r))``), the network measures the residual ``rho``
between the reference and ``sec'``, and the two compose: a feature at ``r`` lies at ``r + rho(r)`` in
``sec'``, so at ``d(r) = rho(r) + p(r + rho(r))`` in the secondary.

The coarse pass works on a grid (a point every ``step`` pixels), which is small even for a huge
scene: it is tracked in blocks with a margin wide enough for the chips and the search, the grid
is adaptively smoothed (`sarflow.tracking.gridops.adaptive_smooth`), gap-filled and median-filtered
as a whole, and from then on `PriorGrid` gives the prior at any
pixel of any window. Resampling (`warp_window`) uses integer pixel indices plus the prior's
fraction, so a window gives bit for bit what the whole scene gives at the same pixels.

Where the tracker found nothing (decorrelated or strongly sheared ground, e.g. the margins of a
fast glacier) the grid is filled from the nearest estimates, and the filled value can be wrong by
as much as the motion varies around the gap. The prior therefore keeps, for each filled point, a
1-sigma *gap spread* per component: the standard deviation of the tracker's estimates around the
gap (`GAP_WINDOWS`). Scene inference adds it to the network's sigma, so that pixels resting on a
guessed prior say so, instead of carrying the network's sigma for the small residual it sees.

The prior also keeps the tracker's own error estimate (``sigma_px`` of `sarflow.tracking`: the
chip's noise and the deformation inside it), gap-filled and median-filtered like the field. A
network that barely moves its prior inherits the prior's error, which its own sigma (learnt on the
small residual) does not see; scene inference therefore combines the two with a factor and a power
fitted at export (`sarflow.training.export`, ``prior_sigma_scale`` and ``prior_sigma_power``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from sarflow.errors import InputError, SarflowError
from sarflow.scene.blocks import Block

__all__ = ["CoarsePriorConfig", "PriorGrid", "coarse_prior_grid", "coarse_track_config", "gap_spread", "warp_window",
           "prior_block_bytes",
           "resample", "combined_sigma", "prior_variance", "RESAMPLE_KERNEL", "KEYS_A", "GAP_WINDOWS", "GAP_MIN_POINTS"]

#: Threads that `resample` and `PriorGrid.compose` share their strips of rows among (`_in_strips`;
#: `python benchmarks/bench_prior_parts.py`: two threads resample and compose 1.3-1.7 times as fast as one).
STRIP_THREADS = min(2, os.cpu_count() or 1)
#: Smallest window worth the threads (`python benchmarks/bench_prior_parts.py --strip-sizes 128 256
#: 384 512 768 1536`: two threads resample a 128 px training patch in 0.64 times one's speed, 256 px
#: alike, 384-768 px 1.2-1.3 times and 1536 px 1.5 times as fast).
STRIP_MIN_PIXELS = 384 * 384

#: Kernel that resamples the secondary onto the reference (`resample`): ``"sinc"``, the tracker's
#: Kaiser-windowed sinc (`sarflow.tracking.subpixel`, 8 x 8 taps), or ``"keys"``, Keys cubic
#: convolution with parameter `KEYS_A` (4 x 4 taps, about twice as fast: 0.23 against 0.49 s per
#: 4.2 Mpx, ``benchmarks/bench_prior_parts.py``; the sinc's weights are looked up per fraction in
#: a table, `sarflow.tracking.subpixel.fraction_weights`). Speckle amplitude has
#: power up to the sampling limit, where a short kernel's phase error moves the content: tracking
#: the reference against a secondary resampled by a 0.23 px shift read the rest of a 0.25 px
#: shift 0.038 px too large with Keys (``a = -0.5``) and within 0.002 px with the windowed sinc
#: (``python benchmarks/bench_resample_bias.py --kernel sinc,keys``). Keys with ``a = -0.75``
#: reads speckle right only by cancelling errors: it moves smooth content (a linear ramp) by up to
#: 0.047 px.
RESAMPLE_KERNEL = "sinc"

#: Parameter of the Keys cubic convolution kernel (``kernel="keys"``; -0.5 reproduces linear and
#: quadratic content exactly).
KEYS_A = -0.5

#: Windows (grid points a side) searched, in turn, for at least `GAP_MIN_POINTS` tracker estimates
#: around a filled point; their standard deviation is its gap spread (else that of all estimates).
GAP_WINDOWS = (7, 15, 31)
GAP_MIN_POINTS = 3


@dataclass(frozen=True)
class CoarsePriorConfig:
    """Settings of the coarse tracking pass.

    Attributes
    ----------
    search_radius : int
        Largest offset searched, pixels (reduced to what the scene's size allows).
    step : int
        Grid spacing, pixels.
    chip_size : int
        Smallest chip, pixels.
    kernels : int
        Chip sizes tracked and fused (the multi-kernel rule of `sarflow.tracking`): ``chip_size``,
        twice that where the scene is at least that large, and each further doubling (``kernels``
        of 3 or more) where the scene is at least twice its size.
    smoothing : {"adaptive", "none"}
        ``"adaptive"`` averages each measured grid point over the largest window (3 x 3 to 7 x 7
        points) that its neighbourhood's estimates allow, by their error estimates
        (`sarflow.tracking.gridops.adaptive_smooth`), before gaps are filled; ``"none"`` keeps the
        tracker's estimates (the median filter still applies).
    median_size : int
        Median filter of the gap-filled grid, grid cells (1: none).
    block_size : int
        Side of the blocks the pass is tracked in, pixels (a multiple of ``step``; each is read
        with a margin of half the largest chip plus the search radius plus two grid steps).
    """

    search_radius: int = 64
    step: int = 32
    chip_size: int = 64
    median_size: int = 3
    block_size: int = 1024
    kernels: int = 2
    smoothing: str = "adaptive"

    def __post_init__(self):
        if self.smoothing not in ("adaptive", "none"):
            raise InputError(f"smoothing must be 'adaptive' or 'none', got {self.smoothing!r}")
        if self.search_radius < 1 or self.step < 1 or self.chip_size < 8 or self.median_size < 1:
            raise InputError("search_radius, step, median_size must be >= 1 and chip_size >= 8")
        if self.kernels < 1:
            raise InputError(f"kernels must be >= 1, got {self.kernels}")
        if self.block_size < self.step or self.block_size % self.step:
            raise InputError(f"block_size must be a multiple of step ({self.step}), got {self.block_size}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PriorGrid:
    """A NaN-free prior on a regular grid: point (i, j) at reference pixel (row0 + i step, col0 + j step).

    Attributes
    ----------
    dx, dy : ndarray, shape (gh, gw), float32
        Offsets, pixels.
    row0, col0, step : int
    spread_dx, spread_dy : ndarray, shape (gh, gw), float32, or None
        1-sigma uncertainty of gap-filled points, pixels (0 where the tracker measured; None: all
        measured).
    sigma : ndarray, shape (gh, gw), float32, or None
        The tracker's 1-sigma error of each offset component (``sigma_px``), gap-filled from the
        nearest estimates and median-filtered as the field; None: not known.
    """

    dx: np.ndarray
    dy: np.ndarray
    row0: int
    col0: int
    step: int
    spread_dx: np.ndarray | None = None
    spread_dy: np.ndarray | None = None
    sigma: np.ndarray | None = None

    def max_offset(self) -> float:
        """Largest prior displacement, pixels."""
        return float(np.max(np.hypot(self.dx, self.dy))) if self.dx.size else 0.0

    def at(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The prior at (fractional) reference positions, bilinear, the nearest edge value outside the grid.

        Parameters
        ----------
        rows, cols : ndarray
            Positions in reference pixels (broadcast together).

        Returns
        -------
        dx, dy : ndarray, float64, the broadcast shape
        """
        return self._bilinear((self.dx, self.dy), rows, cols)

    def _bilinear(self, grids, rows, cols) -> list[np.ndarray]:
        rows, cols = np.broadcast_arrays(np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64))
        i0, fr = _cell(rows, self.row0, self.step, self.dx.shape[0])
        j0, fc = _cell(cols, self.col0, self.step, self.dx.shape[1])
        i1 = np.minimum(i0 + 1, self.dx.shape[0] - 1)
        j1 = np.minimum(j0 + 1, self.dx.shape[1] - 1)
        out = []
        for grid in grids:
            g = grid.astype(np.float64)
            top = (1 - fc) * g[i0, j0] + fc * g[i0, j1]
            bottom = (1 - fc) * g[i1, j0] + fc * g[i1, j1]
            out.append((1 - fr) * top + fr * bottom)
        return out

    @property
    def has_gaps(self) -> bool:
        """Whether any point was gap-filled (has a spread)."""
        return self.spread_dx is not None and bool(np.any(self.spread_dx > 0) or np.any(self.spread_dy > 0))

    def spread_window(self, block: Block) -> tuple[np.ndarray, np.ndarray]:
        """The gap spread at every pixel of ``block`` (bilinear; float32, block shape; zeros without gaps)."""
        if not self.has_gaps:
            return np.zeros(block.shape, dtype=np.float32), np.zeros(block.shape, dtype=np.float32)
        return self._grid_window((self.spread_dx, self.spread_dy), block)

    def sigma_window(self, block: Block) -> np.ndarray | None:
        """The tracker's error estimate at every pixel of ``block`` (bilinear; float32; None when not known)."""
        if self.sigma is None:
            return None
        return self._grid_window((self.sigma,), block)[0]

    def sigma_of_network(self, block: Block, sigma_dx: np.ndarray, sigma_dy: np.ndarray,
                         prior_scale: float, prior_power: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """A residual network's sigma over ``block`` with the prior's own uncertainty added (`combined_sigma`)."""
        prior_var = prior_variance(self.sigma_window(block) if prior_scale > 0 else None, prior_scale, prior_power)
        spread_dx, spread_dy = self.spread_window(block) if self.has_gaps else (None, None)
        return _sum_sigma(sigma_dx, prior_var, spread_dx), _sum_sigma(sigma_dy, prior_var, spread_dy)

    def window(self, block: Block) -> tuple[np.ndarray, np.ndarray]:
        """The prior at every pixel of ``block`` (float32, block shape)."""
        return self._grid_window((self.dx, self.dy), block)

    def _grid_window(self, grids, block: Block) -> tuple[np.ndarray, ...]:
        """Grids interpolated (bilinear) at every pixel of ``block``.

        Separable: each grid row the block needs is interpolated along the columns once (float64,
        as `at`), then each run of pixel rows between the same two grid rows is blended from them
        in float32, a few rows at a time (no per-pixel gathers); equal to `at` to float32
        round-off.
        """
        out = tuple(np.empty(block.shape, dtype=np.float32) for _ in grids)
        if not out[0].size:
            return out
        gh, gw = self.dx.shape
        j0, fc = _cell(np.arange(block.col0, block.col1, dtype=np.float64), self.col0, self.step, gw)
        j1 = np.minimum(j0 + 1, gw - 1)
        i0, fr = _cell(np.arange(block.row0, block.row1, dtype=np.float64), self.row0, self.step, gh)
        i1 = np.minimum(i0 + 1, gh - 1)
        first, last = int(i0.min()), int(i1.max()) + 1
        fr = fr.astype(np.float32)[:, None]
        # runs of pixel rows that share their two grid rows (i0 never decreases down the block)
        cuts = np.flatnonzero(np.diff(i0)) + 1
        runs = zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(i0)]]))
        runs = [(int(a), int(b), int(i0[a]) - first, int(i1[a]) - first) for a, b in runs]
        for target, grid in zip(out, grids):
            g = grid[first:last].astype(np.float64)
            along = ((1 - fc) * g[:, j0] + fc * g[:, j1]).astype(np.float32)  # every needed grid row, every column
            for a, b, top, bottom in runs:
                rows = target[a:b]
                np.multiply(fr[a:b], along[bottom] - along[top], out=rows)
                rows += along[top]
        return out

    def compose(self, block: Block, residual_dx: np.ndarray, residual_dy: np.ndarray, *,
                strip_rows: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Total offsets ``rho(r) + p(r + rho(r))`` of a residual measured against the warped secondary."""
        dx = np.empty(block.shape, dtype=np.float32)
        dy = np.empty(block.shape, dtype=np.float32)
        cols = np.arange(block.col0, block.col1, dtype=np.float64)[None, :]

        def strip(s: int) -> None:
            e = min(s + strip_rows, block.shape[0])
            rows = np.arange(block.row0 + s, block.row0 + e, dtype=np.float64)[:, None]
            rdx, rdy = residual_dx[s:e], residual_dy[s:e]
            pdx, pdy = self.at(rows + np.nan_to_num(rdy), cols + np.nan_to_num(rdx))
            dx[s:e], dy[s:e] = rdx + pdx, rdy + pdy

        _in_strips(strip, range(0, block.shape[0], strip_rows), dx.size)
        return dx, dy

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"dx": self.dx, "dy": self.dy, "geometry": np.array([self.row0, self.col0, self.step])}
        if self.spread_dx is not None:
            arrays.update(spread_dx=self.spread_dx, spread_dy=self.spread_dy)
        if self.sigma is not None:
            arrays["sigma"] = self.sigma
        return arrays

    @classmethod
    def from_arrays(cls, arrays) -> PriorGrid:
        row0, col0, step = (int(v) for v in arrays["geometry"])
        extra = [np.asarray(arrays[k], np.float32) if k in arrays else None
                 for k in ("spread_dx", "spread_dy", "sigma")]
        return cls(np.asarray(arrays["dx"], np.float32), np.asarray(arrays["dy"], np.float32), row0, col0, step,
                   *extra)


def combined_sigma(network_sigma: np.ndarray, prior_sigma: np.ndarray | None, spread: np.ndarray | None,
                   prior_scale: float, prior_power: float = 1.0) -> np.ndarray:
    """1-sigma error of a residual network's offsets: ``sqrt(s_net**2 + (k s_prior**p)**2 + spread**2)``.

    ``network_sigma`` is the network's own (calibrated) sigma of the residual, ``prior_sigma`` the
    tracker's error estimate of the prior (`PriorGrid.sigma`, pixels), raised to ``prior_power``
    (``p``) and weighted by ``prior_scale`` (``k``; both fitted at export, 0 leaves it out), and
    ``spread`` the gap spread of gap-filled points (None: none). Float32.
    """
    return _sum_sigma(network_sigma, prior_variance(prior_sigma, prior_scale, prior_power), spread)


def prior_variance(prior_sigma: np.ndarray | None, prior_scale: float, prior_power: float = 1.0
                   ) -> np.ndarray | None:
    """``(k s_prior**p)**2`` of `combined_sigma` (float32), None where it is left out."""
    if prior_sigma is None or prior_scale <= 0:
        return None
    s = np.maximum(np.asarray(prior_sigma, dtype=np.float32), np.float32(0.0))
    if prior_power != 1.0:
        np.power(s, np.float32(prior_power), out=s)
    s *= np.float32(prior_scale)
    return np.square(s, out=s)


def _sum_sigma(network_sigma: np.ndarray, prior_var: np.ndarray | None, spread: np.ndarray | None) -> np.ndarray:
    total = np.square(np.asarray(network_sigma, dtype=np.float32))
    if prior_var is not None:
        total += prior_var
    if spread is not None:
        total += np.square(np.asarray(spread, dtype=np.float32))
    return np.sqrt(total, out=total)


def _cell(pos: np.ndarray, origin: int, step: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Index of the grid cell holding each position and the fraction across it (clamped to the grid)."""
    u = (pos - origin) / step
    if n < 2:
        return np.zeros(u.shape, dtype=np.intp), np.zeros(u.shape)
    i0 = np.clip(np.floor(u), 0, n - 2).astype(np.intp)
    return i0, np.clip(u - i0, 0.0, 1.0)


def coarse_track_config(shape: tuple[int, int], config: CoarsePriorConfig):
    """The `sarflow.tracking.TrackConfig` of the coarse pass over a scene of ``shape``: chips and search
    radius from ``config``, reduced for small scenes."""
    from sarflow.tracking import TrackConfig

    side = min(shape)
    chip = max(8, min(config.chip_size, (side // 2) // 2 * 2))
    chips = [chip]
    if config.kernels >= 2 and 2 * chip <= side:
        chips.append(2 * chip)
        # Further doublings only where the scene holds two of them: a chip as large as the scene
        # would leave no point with its search window inside.
        while len(chips) < config.kernels and 2 * chips[-1] <= side // 2:
            chips.append(2 * chips[-1])
    radius = max(1, min(config.search_radius, (side - chip) // 2))
    return TrackConfig(chip_sizes=tuple(chips), step=config.step, search_radius=radius, median_test=True)


def coarse_prior_grid(reference, secondary, *, config: CoarsePriorConfig = CoarsePriorConfig(),
                      progress: Callable[[int, int], None] | None = None, processes: int = 1) -> PriorGrid:
    """The coarse tracker's field on its grid, tracked block by block, adaptively smoothed, gap-filled and
    median-filtered.

    Parameters
    ----------
    reference, secondary : `sarflow.scene.blocks.ArraySource` or `RasterSource`
        The pair, read in windows (one block plus its margin at a time).
    config : CoarsePriorConfig
    progress : callable ``(done, total)``, optional
        Blocks done and in all.
    processes : int
        Track the blocks on this many forked worker processes of one thread each
        (`sarflow.scene.processes`; the same grid as one process, whose tracker shares each block's
        tiles among its threads); 1: in this process.

    Returns
    -------
    PriorGrid
        Zero where the tracker found nothing at all.
    """
    from scipy import ndimage

    from sarflow.tracking import grid_coordinates
    from sarflow.tracking.gridops import adaptive_smooth, fill_nearest

    h, w = reference.shape
    track_config = coarse_track_config((h, w), config)
    step = config.step
    rows, cols = grid_coordinates((h, w), step)
    gdx = np.full((len(rows), len(cols)), np.nan, dtype=np.float32)
    gdy = np.full_like(gdx, np.nan)
    gsigma = np.full_like(gdx, np.nan)
    gchip = np.full_like(gdx, np.nan)
    margin = _margin_points(track_config)
    per_block = config.block_size // step
    blocks = [(i, j) for i in range(0, len(rows), per_block) for j in range(0, len(cols), per_block)]
    windows = []
    for i0, j0 in blocks:
        i1, j1 = min(i0 + per_block, len(rows)), min(j0 + per_block, len(cols))
        # The window starts on a multiple of step, so its own grid falls on the scene's grid.
        windows.append(((i0, i1, j0, j1), Block(max(0, (i0 - margin) * step), min(h, (i1 + margin) * step),
                                                max(0, (j0 - margin) * step), min(w, (j1 + margin) * step))))
    done = 0

    def store(n: int, bands: tuple | None) -> None:
        nonlocal done
        if bands is not None:
            i0, i1, j0, j1 = windows[n][0]
            for grid, band in zip((gdx, gdy, gsigma, gchip), bands):
                grid[i0:i1, j0:j1] = band
        done += 1
        if progress is not None:
            progress(done, len(blocks))

    from sarflow.scene.processes import resolve_processes, run_in_processes

    processes = min(resolve_processes(processes), len(blocks))
    if processes > 1:
        from dataclasses import replace

        state = (reference, secondary, replace(track_config, workers=1), windows)
        run_in_processes(_prior_block, state, range(len(blocks)), processes, store)
    else:
        for n in range(len(blocks)):
            store(n, _prior_block((reference, secondary, track_config, windows), n))
    spreads = [gap_spread(band) for band in (gdx, gdy)]
    if config.smoothing == "adaptive":
        gdx, gdy = adaptive_smooth(np.stack([gdx, gdy]), gsigma, gchip, step)
    fields = []
    for band in (gdx, gdy, gsigma):
        band = fill_nearest(band)
        band = np.nan_to_num(band, nan=0.0)
        if config.median_size > 1:
            band = ndimage.median_filter(band, size=config.median_size, mode="nearest")
        fields.append(band.astype(np.float32))
    return PriorGrid(fields[0], fields[1], row0=step // 2, col0=step // 2, step=step, spread_dx=spreads[0],
                     spread_dy=spreads[1], sigma=fields[2])


def _margin_points(track_config) -> int:
    """Grid points of margin around a block of the coarse pass: half the largest chip, the search,
    and two points for the neighbourhood tests."""
    reach = max(track_config.chip_sizes) // 2 + track_config.search_radius
    return -(-reach // track_config.step) + 2


def prior_block_bytes(shape: tuple[int, int], config: CoarsePriorConfig) -> int:
    """Memory one block of the coarse pass over a scene of ``shape`` needs, bytes: the tracker's
    per-pixel need (`sarflow.scene.track_blocks.TRACK_BYTES_PER_PIXEL`) over the block's window."""
    from sarflow.scene.track_blocks import TRACK_BYTES_PER_PIXEL

    margin = _margin_points(coarse_track_config(shape, config)) * config.step
    side = [min(config.block_size, n) + 2 * margin for n in shape]
    return TRACK_BYTES_PER_PIXEL * min(side[0], shape[0]) * min(side[1], shape[1])


def _prior_block(state, n: int) -> tuple[np.ndarray, ...] | None:
    """Block ``n`` of a coarse pass (``state``: the sources, the tracker's settings, the blocks' grid
    ranges and windows): dx, dy, sigma and chip size of its own grid points (NaN where rejected),
    None where its window has nothing to track."""
    from sarflow.tracking import track_offsets

    reference, secondary, track_config, windows = state
    (i0, i1, j0, j1), win = windows[n]
    step = track_config.step
    ref = reference.read(win.row0, win.row1, win.col0, win.col1)
    sec = secondary.read(win.row0, win.row1, win.col0, win.col1)
    try:
        result = track_offsets(ref, sec, config=track_config)
    except SarflowError:  # an all-nodata or featureless window: its points stay gaps
        return None
    a, b = win.row0 // step, win.col0 // step
    own = (slice(i0 - a, i1 - a), slice(j0 - b, j1 - b))
    dx, dy = result.dx[own], result.dy[own]
    sigma = np.where(np.isfinite(dx), result.quality["sigma_px"][own], np.nan)
    return dx, dy, sigma, result.quality["chip_size"][own]


def gap_spread(grid: np.ndarray) -> np.ndarray:
    """1-sigma uncertainty of filling each NaN point of ``grid`` from its neighbours; 0 at measured points.

    For a gap point: the standard deviation of the measured points in the smallest window of
    `GAP_WINDOWS` holding at least `GAP_MIN_POINTS` of them, else of all measured points; 0 if
    nothing was measured (the prior is then 0 everywhere and no spread is known).
    """
    from scipy import ndimage

    measured = np.isfinite(grid)
    spread = np.zeros(grid.shape, dtype=np.float32)
    gaps = ~measured
    if not gaps.any() or not measured.any():
        return spread
    # Centred first: the windowed sums then lose no digits to a large common offset.
    values = np.where(measured, grid.astype(np.float64) - float(np.mean(grid[measured])), 0.0)
    todo = gaps.copy()
    for size in GAP_WINDOWS:
        count = ndimage.uniform_filter(measured.astype(np.float64), size=size, mode="constant") * size * size
        total = ndimage.uniform_filter(values, size=size, mode="constant") * size * size
        squares = ndimage.uniform_filter(values * values, size=size, mode="constant") * size * size
        enough = todo & (count >= GAP_MIN_POINTS - 0.5)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
            var = np.maximum(squares / count - mean * mean, 0.0)
        spread[enough] = np.sqrt(var[enough])
        todo &= ~enough
        if not todo.any():
            break
    if todo.any():
        spread[todo] = float(np.std(grid[measured]))
    return spread


def _keys_weights(t: np.ndarray) -> list[np.ndarray]:
    """Keys cubic-convolution weights of the taps at -1, 0, 1, 2 for fractions ``t`` in [0, 1)."""
    a = KEYS_A
    s = 1.0 + t
    u = 1.0 - t
    v = 2.0 - t
    return [((a * s - 5 * a) * s + 8 * a) * s - 4 * a,
            ((a + 2) * t - (a + 3)) * t * t + 1,
            ((a + 2) * u - (a + 3)) * u * u + 1,
            ((a * v - 5 * a) * v + 8 * a) * v - 4 * a]


def warp_window(secondary, prior: PriorGrid, block: Block, *, strip_rows: int = 64) -> np.ndarray:
    """The secondary resampled onto the reference grid by the prior, over one window.

    ``out(r, c) = sec(r + p_dy(r, c), c + p_dx(r, c))`` with the `RESAMPLE_KERNEL` (`resample`).
    Pixels whose four nearest secondary pixels are not all valid (nodata, outside the image) are
    NaN; nodata among the outer taps counts as 0. Amplitudes stay >= 0.

    Parameters
    ----------
    secondary : `sarflow.scene.blocks.ArraySource` or `RasterSource`
        Only the window the prior maps ``block`` onto (plus the kernel's reach) is read.
    prior : PriorGrid
    block : Block
        Reference pixels to produce (may reach past the scene: NaN there).
    strip_rows : int
        Rows resampled at a time (bounds the temporaries).

    Returns
    -------
    ndarray, block shape, float32
    """
    pdx, pdy = prior.window(block)
    return resample(secondary, pdx, pdy, block, strip_rows=strip_rows)


def _taps(kernel: str) -> tuple[int, int]:
    """First and last tap, relative to the integer part of the position, of a resampling kernel."""
    if kernel == "sinc":
        return -3, 4
    if kernel == "keys":
        return -1, 2
    raise InputError(f"unknown resampling kernel {kernel!r}; use 'sinc' or 'keys'")


def _weights(t: np.ndarray, kernel: str) -> np.ndarray:
    """Weights of the taps `_taps` for fractions ``t`` in [0, 1): shape ``t.shape + (taps,)``."""
    if kernel == "keys":
        return np.stack(_keys_weights(t), axis=-1)
    from sarflow.tracking.subpixel import fraction_weights

    # taps -3 .. 4 around the integer part, from the tabulated kernel
    return fraction_weights(t, "sinc")


def resample(secondary, prior_dx: np.ndarray, prior_dy: np.ndarray, block: Block, *,
             strip_rows: int = 64, kernel: str | None = None) -> np.ndarray:
    """`warp_window` for a prior given at every pixel of ``block`` (arrays of the block's shape).

    ``kernel`` is ``"sinc"`` or ``"keys"`` (default `RESAMPLE_KERNEL`). Positions are those of the
    prior: exact for Keys, to 1/4096 px for the sinc (its weights come from a table at 1/2048 px).
    """
    kernel = RESAMPLE_KERNEL if kernel is None else kernel
    first, last = _taps(kernel)
    if prior_dx.shape != block.shape or prior_dy.shape != block.shape:
        raise InputError(f"the prior {prior_dx.shape} must cover the window {block.shape}")
    if prior_dx.size == 0:
        return np.zeros(block.shape, dtype=np.float32)
    lo_r = block.row0 + int(np.floor(np.min(prior_dy))) + first
    hi_r = block.row1 + int(np.floor(np.max(prior_dy))) + last + 1
    lo_c = block.col0 + int(np.floor(np.min(prior_dx))) + first
    hi_c = block.col1 + int(np.floor(np.max(prior_dx))) + last + 1
    source = secondary.read(lo_r, hi_r, lo_c, hi_c)
    valid = np.isfinite(source)
    flat = np.where(valid, source, 0.0).astype(np.float32).ravel()
    # pixels whose four nearest secondary pixels are all valid
    support4 = (valid[:-1, :-1] & valid[:-1, 1:] & valid[1:, :-1] & valid[1:, 1:]).ravel()
    width = hi_c - lo_c
    out = np.empty(block.shape, dtype=np.float32)
    cols = np.arange(block.col0, block.col1, dtype=np.float64)[None, :]

    def strip(s: int) -> None:
        e = min(s + strip_rows, block.shape[0])
        rows = np.arange(block.row0 + s, block.row0 + e, dtype=np.float64)[:, None]
        pr = rows + prior_dy[s:e].astype(np.float64)
        pc = cols + prior_dx[s:e].astype(np.float64)
        fr, fc = np.floor(pr), np.floor(pc)
        # tap-major weights: each tap's weights contiguous
        wr = np.moveaxis(_weights(pr - fr, kernel), -1, 0).astype(np.float32, order="C")
        wc = np.moveaxis(_weights(pc - fc, kernel), -1, 0).astype(np.float32, order="C")
        ir = fr.astype(np.intp) - lo_r
        ic = fc.astype(np.intp) - lo_c
        base = ir * width + ic
        acc = np.zeros(pr.shape, dtype=np.float32)
        part = np.empty(pr.shape, dtype=np.float32)
        term = np.empty(pr.shape, dtype=np.float32)
        index = np.empty(pr.shape, dtype=np.intp)
        for m in range(last - first + 1):
            # the taps of one row, left to right: one index array moved along (no new arrays)
            np.add(base, (m + first) * width + first, out=index)
            flat.take(index, out=part)
            part *= wc[0]
            for n in range(1, last - first + 1):
                index += 1
                flat.take(index, out=term)
                term *= wc[n]
                part += term
            part *= wr[m]
            acc += part
        support = support4.take(ir * (width - 1) + ic)
        out[s:e] = np.where(support, np.maximum(acc, 0.0), np.nan)

    _in_strips(strip, range(0, block.shape[0], strip_rows), out.size)
    return out


def _in_strips(work: Callable[[int], None], starts: range, pixels: int) -> None:
    """``work(start)`` for every strip, shared among `STRIP_THREADS` threads when the window has at
    least `STRIP_MIN_PIXELS` (NumPy releases the GIL in its gathers and arithmetic; strips write
    disjoint rows, so the values do not depend on it)."""
    threads = min(STRIP_THREADS, len(starts)) if pixels >= STRIP_MIN_PIXELS else 1
    if threads > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for _ in pool.map(work, starts):  # re-raises a strip's error
                pass
    else:
        for start in starts:
            work(start)
