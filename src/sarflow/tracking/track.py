"""Driver of the offset tracker: validation, grid, coarse-to-fine search,
tiles, worker threads, quality figures, multi-kernel fusion and outliers.

Grid
----
Estimates are made at reference pixel centres ``rows = row0 + i * step``,
``cols = col0 + j * step`` with ``row0 = col0 = step // 2``, covering the
whole image: ``h = ceil((H - row0) / step)``, likewise ``w``. A chip of size
``c`` spans rows ``r - c // 2 .. r - c // 2 + c - 1``, so it is centred
half a pixel above and left of ``(r, c)``; the final offsets are moved onto
the pixel itself by linear interpolation between neighbouring grid points
(see ``_to_pixel_centres``), so every estimate describes reference pixel
``(row0 + i * step, col0 + j * step)``. Pixels outside the image count as
nodata, so near the border only chips with at most ``max_invalid_fraction``
nodata give estimates; points where no chip does are NaN.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from sarflow.errors import ConstantImageError, GridMismatchError, InputError, NoValidDataError
from sarflow.tracking.config import TrackConfig
from sarflow.tracking.gridops import fill_nearest, interp_grid, neighbourhood_min_max
from sarflow.tracking.multikernel import fuse
from sarflow.tracking.ncc import ncc_volume
from sarflow.tracking.outliers import fill_gaps, normalized_median_test
from sarflow.tracking.preprocess import preprocess
from sarflow.tracking.subpixel import PATCH_HALF, peak_patch, refine

__all__ = ["TrackResult", "track_offsets", "grid_coordinates", "SIGMA_SCALE", "SIGMA_FLOOR_PX"]

#: Scale of the error model ``sigma = SIGMA_SCALE * sqrt(1 - rho**2) / (rho * c * kappa)``
#: (per axis; ``rho`` peak NCC, ``c`` chip size, ``kappa`` normalised peak
#: curvature in 1/px**2), calibrated against actual errors on speckle pairs.
SIGMA_SCALE = 1.0
#: Error floor in pixels added in quadrature (interpolation bias, sampling).
SIGMA_FLOOR_PX = 0.01

#: Minimum work (grid points x lags x step**2, about the pixel operations) before threads are used.
_PARALLEL_MIN_WORK = 20_000_000


@dataclass
class TrackResult:
    """Offsets and quality figures on the output grid.

    Attributes
    ----------
    dx, dy : ndarray, shape (h, w), float32
        Offsets along columns (range) and rows (azimuth), pixels: the feature
        at reference ``(r, c)`` lies at ``(r + dy, c + dx)`` in the
        secondary. NaN = no estimate.
    quality : dict of str to ndarray, shape (h, w)
        In this order: ``ncc`` (correlation peak of the selected chip),
        ``peak_ratio`` (main peak over the highest value outside its 5 x 5
        neighbourhood within the searched window; NaN where that window had no
        such lag), ``sigma_px`` (1-sigma error of each offset component, noise and deformation inside the chip,
        pixels), ``chip_size`` (selected chip size, pixels; 0 where none),
        ``n_kernels`` (chip sizes agreeing with the selected one) and, when
        ``fill_gaps`` is on, ``filled`` (1 where the value was interpolated
        from neighbours, not measured).
    row0, col0, step : int
        Grid geometry: point ``(i, j)`` is reference pixel
        ``(row0 + i * step, col0 + j * step)``.
    config : TrackConfig
        Settings used.
    """

    dx: np.ndarray
    dy: np.ndarray
    quality: dict = field(default_factory=dict)
    row0: int = 0
    col0: int = 0
    step: int = 1
    config: TrackConfig = field(default_factory=TrackConfig)

    @property
    def rows(self) -> np.ndarray:
        """Reference row of each grid row, shape (h,)."""
        return self.row0 + self.step * np.arange(self.dy.shape[0])

    @property
    def cols(self) -> np.ndarray:
        """Reference column of each grid column, shape (w,)."""
        return self.col0 + self.step * np.arange(self.dy.shape[1])


def grid_coordinates(shape: tuple[int, int], step: int):
    """Output grid of an image.

    Parameters
    ----------
    shape : (H, W)
    step : int

    Returns
    -------
    rows : ndarray, shape (h,)
    cols : ndarray, shape (w,)
    """
    o = step // 2
    return np.arange(o, shape[0], step), np.arange(o, shape[1], step)


# ----------------------------------------------------------------------------- validation

def _as_image(a, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if np.iscomplexobj(arr):
        raise InputError(f"{name} is complex; pass the amplitude (e.g. numpy.abs(slc)) of the SAR image")
    if arr.ndim != 2:
        raise InputError(f"{name} must be a 2-D image (rows, cols); got an array of shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
            or arr.dtype == bool):
        raise InputError(f"{name} has dtype {arr.dtype}; pass a numeric amplitude image")
    return arr.astype(np.float32, copy=False)


def _check_content(a: np.ndarray, name: str) -> None:
    fin = np.isfinite(a)
    if not fin.any():
        raise NoValidDataError(f"{name} has no valid (finite) pixel; check the nodata value and the file")
    v = a[fin]
    if float(v.max()) == float(v.min()):
        raise ConstantImageError(
            f"{name} is constant ({float(v[0])!r} everywhere it is valid): there is no texture to match; "
            "check that the right band/file was read")


def _validate(reference, secondary, config: TrackConfig):
    ref = _as_image(reference, "reference")
    sec = _as_image(secondary, "secondary")
    if ref.shape != sec.shape:
        raise GridMismatchError(
            f"reference {ref.shape} and secondary {sec.shape} differ in shape; "
            "coregister/crop both images to the same grid first")
    _check_content(ref, "reference")
    _check_content(sec, "secondary")
    h, w = ref.shape
    cmax, cmin = max(config.chip_sizes), min(config.chip_sizes)
    if cmax > min(h, w):
        raise InputError(
            f"chip size {cmax} is larger than the image ({h} x {w}); use chip_sizes no larger than {min(h, w)}")
    if cmin + 2 * config.search_radius > min(h, w):
        raise InputError(
            f"search_radius {config.search_radius} is too large for a {h} x {w} image with chip {cmin}: "
            f"chip + 2 * radius must be <= {min(h, w)}; lower search_radius or pass prior_dx/prior_dy")
    return ref, sec


# ----------------------------------------------------------------------------- tile search

@dataclass
class _Job:
    """Shared inputs of a search (padded images and settings)."""

    ref: np.ndarray
    ref_bad: np.ndarray
    sec: np.ndarray
    sec_bad: np.ndarray
    pad: int
    chips: tuple
    step: int
    row0: int
    col0: int
    subpixel: str


_FIELDS = ("dy", "dx", "ncc", "peak_ratio", "sigma", "signif", "ref_inv", "sec_inv")


def _volume(job: _Job, i0: int, j0: int, ni: int, nj: int, dy0: int, dy1: int, dx0: int, dx1: int, lags=None):
    """NCC volume of grid points ``[i0:i0 + ni, j0:j0 + nj]`` for the inclusive lags ``dy0..dy1, dx0..dx1``."""
    step, cmax = job.step, max(job.chips)
    hr, wr = (ni - 1) * step + cmax, (nj - 1) * step + cmax
    y0 = job.pad + job.row0 + i0 * step - cmax // 2
    x0 = job.pad + job.col0 + j0 * step - cmax // 2
    ref = job.ref[y0:y0 + hr, x0:x0 + wr]
    rbad = job.ref_bad[y0:y0 + hr, x0:x0 + wr]
    sec = job.sec[y0 + dy0:y0 + dy1 + hr, x0 + dx0:x0 + dx1 + wr]
    sbad = job.sec_bad[y0 + dy0:y0 + dy1 + hr, x0 + dx0:x0 + dx1 + wr]
    vol = ncc_volume(np.ascontiguousarray(ref), rbad, np.ascontiguousarray(sec), sbad, job.chips, step, ni, nj,
                     dy0, dx0, dy1 - dy0 + 1, dx1 - dx0 + 1, lags)
    return vol, rbad, sbad


def _search_tile(job: _Job, i0: int, j0: int, lo_y, hi_y, lo_x, hi_x) -> dict:
    """Search the grid points ``[i0:i0 + ni, j0:j0 + nj]``; windows are inclusive lags, shape (ni, nj).

    Two passes: the lags of the search windows give the integer peaks; then
    only the lags the sub-pixel patches around those peaks need beyond the
    windows are added (far fewer than padding every window by the patch
    half-width, since the peaks of a tile spread less than its windows).
    """
    chips, step = job.chips, job.step
    cmax = max(chips)
    half = PATCH_HALF[job.subpixel]
    ni, nj = lo_y.shape
    wy0, wy1, wx0, wx1 = int(lo_y.min()), int(hi_y.max()), int(lo_x.min()), int(hi_x.max())
    vol, rbad, sbad = _volume(job, i0, j0, ni, nj, wy0, wy1, wx0, wx1)
    aa = np.arange(wy1 - wy0 + 1)[None, None, :, None] + wy0
    bb = np.arange(wx1 - wx0 + 1)[None, None, None, :] + wx0
    allowed = ((aa >= lo_y[:, :, None, None]) & (aa <= hi_y[:, :, None, None])
               & (bb >= lo_x[:, :, None, None]) & (bb <= hi_x[:, :, None, None]))
    s = np.where(allowed[None] & np.isfinite(vol.ncc), vol.ncc, -np.inf).reshape(len(chips), ni * nj, -1)
    idx = np.argmax(s, axis=2)
    has = np.isfinite(np.take_along_axis(s, idx[..., None], 2)[..., 0])
    py, px = np.divmod(idx, wx1 - wx0 + 1)
    if has.any():
        dy0, dy1 = min(wy0, int(py[has].min()) + wy0 - half), max(wy1, int(py[has].max()) + wy0 + half)
        dx0, dx1 = min(wx0, int(px[has].min()) + wx0 - half), max(wx1, int(px[has].max()) + wx0 + half)
    else:
        dy0, dy1, dx0, dx1 = wy0 - half, wy1 + half, wx0 - half, wx1 + half
    ndy, ndx = dy1 - dy0 + 1, dx1 - dx0 + 1
    if (dy0, dy1, dx0, dx1) != (wy0, wy1, wx0, wx1):
        inner = (slice(wy0 - dy0, wy1 - dy0 + 1), slice(wx0 - dx0, wx1 - dx0 + 1))
        todo = np.ones((ndy, ndx), bool)
        todo[inner] = False
        first = vol.ncc
        vol, rbad, sbad = _volume(job, i0, j0, ni, nj, dy0, dy1, dx0, dx1, todo)
        vol.ncc[..., inner[0], inner[1]] = first
    aa = np.arange(ndy)[None, None, :, None] + dy0
    bb = np.arange(ndx)[None, None, None, :] + dx0
    allowed = ((aa >= lo_y[:, :, None, None]) & (aa <= hi_y[:, :, None, None])
               & (bb >= lo_x[:, :, None, None]) & (bb <= hi_x[:, :, None, None]))
    allowed = allowed.reshape(ni * nj, ndy, ndx)
    out = {k: np.full((len(chips), ni, nj), np.nan, np.float32) for k in _FIELDS}
    # nodata at the grid point itself (reference pixel)
    cy = np.arange(ni) * step + cmax // 2
    cx = np.arange(nj) * step + cmax // 2
    centre_bad = rbad[cy[:, None], cx[None, :]] > 0
    for k, c in enumerate(chips):
        surf = vol.ncc[k].reshape(ni * nj, ndy, ndx)
        ia, ib, peak, second, patch = peak_patch(surf, allowed, half)
        sy, sx, kap_y, kap_x = refine(patch, job.subpixel)
        ok = ia >= 0
        dyk = np.where(ok, dy0 + ia + sy, np.nan)
        dxk = np.where(ok, dx0 + ib + sx, np.nan)
        rho = np.clip(np.where(ok, peak, np.nan), 1e-3, 0.999999)
        base = SIGMA_SCALE * np.sqrt(1.0 - rho ** 2) / (rho * c)
        sig_y = base / kap_y
        sig_x = base / kap_x
        sigma = np.sqrt(0.5 * (sig_y ** 2 + sig_x ** 2) + SIGMA_FLOOR_PX ** 2)
        # significance of the peak against correlation noise: rho * sqrt(N_eff),
        # N_eff = c**2 * kappa / (2 pi) independent samples (resolution cell
        # area 2 pi / kappa from the peak curvature)
        kap = np.sqrt(np.abs(kap_y * kap_x))
        signif = rho * c * np.sqrt(kap / (2 * np.pi))
        with np.errstate(divide="ignore", invalid="ignore"):
            pr = np.where(second > 0, peak / np.where(second > 0, second, 1.0), np.inf)
        pr = np.where(np.isfinite(second), pr, np.nan)
        # secondary nodata fraction of the matched chip, and at the matched centre
        o = cmax // 2 - c // 2
        iy = np.repeat(np.arange(ni), nj) * step + o + np.where(ok, ia, 0)
        ix = np.tile(np.arange(nj), ni) * step + o + np.where(ok, ib, 0)
        sinv = vol.sec_invalid_at(k, iy, ix)
        scy = iy + c // 2 + np.rint(np.where(ok, sy, 0)).astype(int)
        scx = ix + c // 2 + np.rint(np.where(ok, sx, 0)).astype(int)
        scy = np.clip(scy, 0, sbad.shape[0] - 1)
        scx = np.clip(scx, 0, sbad.shape[1] - 1)
        sec_centre_bad = sbad[scy, scx] > 0
        bad = ~ok | centre_bad.ravel() | sec_centre_bad
        shape = (ni, nj)
        out["dy"][k] = np.where(bad, np.nan, dyk).reshape(shape)
        out["dx"][k] = np.where(bad, np.nan, dxk).reshape(shape)
        out["ncc"][k] = np.where(bad, np.nan, peak).reshape(shape)
        out["peak_ratio"][k] = np.where(bad, np.nan, pr).reshape(shape)
        out["sigma"][k] = np.where(bad, np.nan, sigma).reshape(shape)
        out["signif"][k] = np.where(bad, np.nan, signif).reshape(shape)
        out["ref_inv"][k] = vol.ref_invalid[k]
        out["sec_inv"][k] = np.where(ok, sinv, 1.0).reshape(shape)
    return out


def _tile_lags(lo_y, hi_y, lo_x, hi_x, half: int) -> int:
    return int((hi_y.max() - lo_y.min() + 1 + 2 * half) * (hi_x.max() - lo_x.min() + 1 + 2 * half))


#: Fixed cost of one lag of one tile (Python and call overhead), in pixel operations.
_LAG_OVERHEAD_PX = 60_000


def _plan_tiles(lo_y, hi_y, lo_x, hi_x, nchip: int, half: int, step: int, cmax: int,
                config: TrackConfig) -> list:
    """Split the grid into tiles ``(i0, i1, j0, j1)`` whose lag rectangles stay tight.

    Every tile searches the union of its points' windows (plus the patch
    half-width), so a tile is split into quadrants wherever that saves a
    third of its work (pixels times lags, plus a fixed cost per lag) (a few points with wide windows, e.g. where the coarse
    pass failed, then cost only their own small tile), and until its
    correlation volume fits ``max_block_mb``. Tiles start at about 512 x 512
    reference pixels (fewer grid points per side with a larger step), or
    ``block_size`` grid rows and columns when that is set.
    """
    h, w = lo_y.shape
    side = config.block_size or max(4, 512 // step)
    budget = config.max_block_mb * 2 ** 20
    tiles = []
    todo = [(i, min(i + side, h), j, min(j + side, w)) for i in range(0, h, side) for j in range(0, w, side)]
    while todo:
        i0, i1, j0, j1 = todo.pop()
        sl = (slice(i0, i1), slice(j0, j1))
        lags = _tile_lags(lo_y[sl], hi_y[sl], lo_x[sl], hi_x[sl], half)
        npts = (i1 - i0) * (j1 - j0)
        # cross sums (float64) plus the volume (float32) per chip, point and lag
        size = 12.0 * nchip * npts * lags + 4.0 * ((i1 - i0 - 1) * step + cmax) * ((j1 - j0 - 1) * step + cmax)
        if (i1 - i0) < 2 and (j1 - j0) < 2:
            tiles.append((i0, i1, j0, j1))
            continue
        im, jm = (i0 + i1 + 1) // 2, (j0 + j1 + 1) // 2
        quads = [(a, b, c, d) for a, b in ((i0, im), (im, i1)) for c, d in ((j0, jm), (jm, j1)) if a < b and c < d]
        def cost(a, b, c, d, lags):
            return lags * ((b - a) * (d - c) * step * step + _LAG_OVERHEAD_PX)

        split_cost = sum(cost(a, b, c, d, _tile_lags(lo_y[a:b, c:d], hi_y[a:b, c:d], lo_x[a:b, c:d],
                                                      hi_x[a:b, c:d], half)) for a, b, c, d in quads)
        if size > budget or split_cost < cost(i0, i1, j0, j1, lags) * 2 / 3:
            todo.extend(quads)
        else:
            tiles.append((i0, i1, j0, j1))
    tiles.sort()
    return tiles


def _run_search(job: _Job, lo_y, hi_y, lo_x, hi_x, config: TrackConfig, workers: int,
                progress: Callable | None, done0: int, total: int, tiles=None) -> dict:
    nchip = len(job.chips)
    half = PATCH_HALF[job.subpixel]
    h, w = lo_y.shape
    if tiles is None:
        tiles = _plan_tiles(lo_y, hi_y, lo_x, hi_x, nchip, half, job.step, max(job.chips), config)
    res = {k: np.full((nchip, h, w), np.nan, np.float32) for k in _FIELDS}
    done = done0

    def task(t):
        i0, i1, j0, j1 = t
        sl = (slice(i0, i1), slice(j0, j1))
        return t, _search_tile(job, i0, j0, lo_y[sl], hi_y[sl], lo_x[sl], hi_x[sl])

    def store(t, out):
        nonlocal done
        i0, i1, j0, j1 = t
        for k, v in out.items():
            res[k][:, i0:i1, j0:j1] = v
        done += 1
        if progress is not None:
            progress(done, total)

    work = sum((t[1] - t[0]) * (t[3] - t[2]) * _tile_lags(lo_y[t[0]:t[1], t[2]:t[3]], hi_y[t[0]:t[1], t[2]:t[3]],
                                                           lo_x[t[0]:t[1], t[2]:t[3]], hi_x[t[0]:t[1], t[2]:t[3]],
                                                           half) for t in tiles) * job.step ** 2
    if workers > 1 and len(tiles) > 1 and work >= _PARALLEL_MIN_WORK:
        # OpenCV and NumPy release the GIL in the per-lag array work, so threads
        # share the images without copies and start instantly
        with ThreadPoolExecutor(max_workers=min(workers, len(tiles))) as ex:
            for t, out in ex.map(task, tiles):
                store(t, out)
    else:
        for t in tiles:
            store(*task(t))
    return res


# ----------------------------------------------------------------------------- helpers

def _pad(a: np.ndarray, p: int, value) -> np.ndarray:
    return np.pad(a, p, mode="constant", constant_values=value)


def _downsample(img: np.ndarray, bad: np.ndarray, q: int):
    h, w = img.shape[0] // q * q, img.shape[1] // q * q
    good = (~bad[:h, :w]).astype(np.float32)
    v = np.where(bad[:h, :w], 0.0, img[:h, :w]).astype(np.float32)
    size = (w // q, h // q)
    s = cv2.resize(v, size, interpolation=cv2.INTER_AREA)
    c = cv2.resize(good, size, interpolation=cv2.INTER_AREA)
    out = np.zeros_like(s)
    np.divide(s, c, out=out, where=c > 0)
    cbad = c < 0.5
    out[cbad] = 0.0
    return out, cbad


# ----------------------------------------------------------------------------- main entry

def track_offsets(reference, secondary, *, config: TrackConfig | None = None, prior_dx=None, prior_dy=None,
                  progress: Callable[[int, int], None] | None = None) -> TrackResult:
    """Measure offsets between two SAR amplitude images by multi-kernel NCC.

    Parameters
    ----------
    reference, secondary : array_like, shape (H, W)
        Amplitude images on the same grid; NaN/inf = nodata. Complex input is
        refused (pass ``numpy.abs``).
    config : TrackConfig, optional
        Settings (defaults: chips 32/64/128, step 8, search radius 20,
        coarse-to-fine search, windowed-sinc sub-pixel refinement).
    prior_dx, prior_dy : array_like, shape (h, w), optional
        Expected offsets on the output grid (see :func:`grid_coordinates`),
        pixels; the search is centred on them. NaN entries search around 0.
    progress : callable, optional
        Called as ``progress(done, total)`` after each processed block.

    Returns
    -------
    TrackResult

    Raises
    ------
    InputError
        Complex or non-2-D input, shape mismatch (``GridMismatchError``),
        chips or search radius too large for the image, bad priors.
    NoValidDataError
        An image has no finite pixel.
    ConstantImageError
        An image is constant.

    Notes
    -----
    Pipeline: nodata-aware pre-processing; optional coarse pass (images
    block-averaged by ``coarse_factor``, smallest chip scaled down (at least
    16 coarse pixels; a larger one straddles shear margins and misplaces the
    windows on fast glacier tongues),
    exhaustive search over ``search_radius``, normalized median test) that
    sets, per grid point, a search window spanning the coarse field over its
    3 x 3 coarse neighbourhood plus ``refine_radius``; full-resolution NCC
    volumes for all chip sizes at once (:mod:`sarflow.tracking.ncc`);
    sub-pixel refinement (:mod:`sarflow.tracking.subpixel`); per-chip
    thresholds; multi-kernel fusion (:mod:`sarflow.tracking.multikernel`);
    normalized median test; optional marked gap filling.
    """
    config = TrackConfig() if config is None else config
    if not isinstance(config, TrackConfig):
        raise InputError("config must be a sarflow.tracking.TrackConfig")
    ref, sec = _validate(reference, secondary, config)
    H, W = ref.shape
    step = config.step
    rows, cols = grid_coordinates((H, W), step)
    gh, gw = len(rows), len(cols)
    row0 = col0 = step // 2

    pdy = _prior(prior_dy, (gh, gw), "prior_dy")
    pdx = _prior(prior_dx, (gh, gw), "prior_dx")
    if (pdy is None) != (pdx is None):
        raise InputError("give both prior_dx and prior_dy, or neither")
    if pdy is None:
        pdy = np.zeros((gh, gw))
        pdx = np.zeros((gh, gw))
    else:
        pdy = np.where(np.isfinite(pdy), pdy, 0.0)
        pdx = np.where(np.isfinite(pdx), pdx, 0.0)

    opts = dict(highpass_sigma=config.highpass_sigma, wallis_size=config.wallis_size,
                lowpass_sigma=config.lowpass_sigma)
    rp, rbad = preprocess(ref, config.preprocess, **opts)
    sp, sbad = preprocess(sec, config.preprocess, **opts)
    if rbad.all() or sbad.all():
        raise NoValidDataError("no valid pixel is left after pre-processing (log of non-positive amplitudes?); "
                               "use preprocess='none'")

    R = config.search_radius
    workers = config.n_workers
    total = 1
    coarse = None
    use_coarse = config.coarse_to_fine and min(H, W) // config.coarse_factor >= 16
    if use_coarse:
        total += 1
        coarse = _coarse_pass(rp, rbad, sp, sbad, pdy, pdx, rows, cols, config)
    if progress is not None and use_coarse:
        progress(1, total + 0)

    # search windows on the output grid (inclusive integer lags)
    ry = np.floor(pdy - R).astype(int), np.ceil(pdy + R).astype(int)
    rx = np.floor(pdx - R).astype(int), np.ceil(pdx + R).astype(int)
    if coarse is not None:
        clo_y, chi_y, clo_x, chi_x = coarse
        rr = config.refine_radius
        fin = np.isfinite(clo_y)
        lo_y = np.where(fin, np.maximum(np.floor(np.nan_to_num(clo_y)) - rr, ry[0]), ry[0]).astype(int)
        hi_y = np.where(fin, np.minimum(np.ceil(np.nan_to_num(chi_y)) + rr, ry[1]), ry[1]).astype(int)
        lo_x = np.where(fin, np.maximum(np.floor(np.nan_to_num(clo_x)) - rr, rx[0]), rx[0]).astype(int)
        hi_x = np.where(fin, np.minimum(np.ceil(np.nan_to_num(chi_x)) + rr, rx[1]), rx[1]).astype(int)
        # a coarse value outside the allowed range leaves an empty window: search it all
        empty = (lo_y > hi_y) | (lo_x > hi_x)
        lo_y[empty], hi_y[empty], lo_x[empty], hi_x[empty] = ry[0][empty], ry[1][empty], rx[0][empty], rx[1][empty]
    else:
        lo_y, hi_y, lo_x, hi_x = ry[0], ry[1], rx[0], rx[1]

    half = PATCH_HALF[config.subpixel]
    cmax = max(config.chip_sizes)
    maxlag = int(max(np.abs(lo_y).max(), np.abs(hi_y).max(), np.abs(lo_x).max(), np.abs(hi_x).max())) + half
    pad = cmax // 2 + step + maxlag + 1
    job = _Job(_pad(rp, pad, 0.0), _pad(rbad.astype(np.float32), pad, 1.0),
               _pad(sp, pad, 0.0), _pad(sbad.astype(np.float32), pad, 1.0),
               pad, config.chip_sizes, step, row0, col0, config.subpixel)
    tiles = _plan_tiles(lo_y, hi_y, lo_x, hi_x, len(config.chip_sizes), half, step, cmax, config)
    total = total - 1 + len(tiles)
    res = _run_search(job, lo_y, hi_y, lo_x, hi_x, config, workers, progress, total - len(tiles), total, tiles)

    # per-chip validity
    with np.errstate(invalid="ignore"):
        valid = (np.isfinite(res["dy"]) & (res["ncc"] >= config.min_ncc)
                 & ~(res["peak_ratio"] < config.min_peak_ratio)
                 & (res["sigma"] <= config.max_sigma_px)
                 & (res["signif"] >= config.min_significance)
                 & (res["ref_inv"] <= config.max_invalid_fraction)
                 & (res["sec_inv"] <= config.max_invalid_fraction))
    fdy, fdx, fsig, chosen, nag = fuse(res["dy"], res["dx"], res["sigma"], valid, chips=config.chip_sizes,
                                       step=step, max_deformation=config.max_chip_deformation_px,
                                       agree_sigmas=config.agree_sigmas, agree_floor=config.agree_floor_px,
                                       weighted=config.fusion == "weighted")
    # the fused error includes the deformation inside the chip: a chip straddling strong shear,
    # left as the only valid one, is rejected like any other estimate with too large an error
    with np.errstate(invalid="ignore"):
        too_rough = fsig > config.max_sigma_px
    fdy[too_rough] = np.nan
    fdx[too_rough] = np.nan
    cidx = np.maximum(chosen, 0)
    ii, jj = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
    ncc = np.where(chosen >= 0, res["ncc"][cidx, ii, jj], np.nan)
    pr = np.where(chosen >= 0, res["peak_ratio"][cidx, ii, jj], np.nan)
    chip = np.where(chosen >= 0, np.asarray(config.chip_sizes)[cidx], 0)

    if config.median_test:
        out = normalized_median_test(fdy, fdx, threshold=config.median_threshold, eps=config.median_eps,
                                     window=config.median_window)
        fdy[out] = np.nan
        fdx[out] = np.nan
    fdy, fdx = _to_pixel_centres(fdy, step), _to_pixel_centres(fdx, step)
    rejected = ~np.isfinite(fdy)
    for a in (fsig, ncc, pr):
        a[rejected] = np.nan
    chip = np.where(rejected, 0, chip)
    nag = np.where(rejected, 0, nag)

    quality = {"ncc": ncc.astype(np.float32), "peak_ratio": pr.astype(np.float32),
               "sigma_px": fsig.astype(np.float32), "chip_size": chip.astype(np.int16),
               "n_kernels": nag.astype(np.int16)}
    if config.fill_gaps:
        centre_bad = rbad[rows[:, None], cols[None, :]]
        fillable = ~centre_bad
        dyf, dxf = fdy.astype(np.float64), fdx.astype(np.float64)
        filled = fill_gaps([dyf, dxf], fillable, config.fill_max_distance)
        fdy, fdx = dyf, dxf
        quality["filled"] = filled.astype(np.uint8)
    return TrackResult(dx=fdx.astype(np.float32), dy=fdy.astype(np.float32), quality=quality,
                       row0=row0, col0=col0, step=step, config=config)


def _to_pixel_centres(f: np.ndarray, step: int) -> np.ndarray:
    """Move estimates from their chip centres to their grid pixels.

    An even chip of a grid point at reference pixel ``(r, c)`` is centred on
    ``(r - 1/2, c - 1/2)``, so its estimate describes that position. The value
    at ``(r, c)`` is interpolated linearly, along each axis, between the
    estimate of the point and that of the next one (``step`` pixels further);
    where the next one is missing or absent the point's own estimate is kept.
    """
    out = f.astype(np.float64)
    t = 0.5 / step
    for axis in (0, 1):
        if out.shape[axis] < 2:
            continue
        nxt = np.roll(out, -1, axis=axis)
        last = [slice(None)] * 2
        last[axis] = slice(-1, None)
        nxt[tuple(last)] = np.nan
        out = np.where(np.isfinite(nxt), (1 - t) * out + t * nxt, out)
    return out


def _prior(p, shape, name):
    if p is None:
        return None
    a = np.asarray(p, dtype=np.float64)
    if a.shape != shape:
        raise InputError(f"{name} has shape {a.shape} but the output grid is {shape}; "
                         "build it on grid_coordinates(image.shape, config.step)")
    return a


def _coarse_pass(rp, rbad, sp, sbad, pdy, pdx, rows, cols, config: TrackConfig):
    """Coarse offsets mapped to search windows on the output grid.

    Returns ``lo_y, hi_y, lo_x, hi_x`` (float, pixels), the 3 x 3
    coarse-neighbourhood range of the coarse field (gaps filled with the
    nearest coarse value) interpolated to the output grid; all NaN when the
    coarse pass found nothing (the fine pass then searches exhaustively).
    """
    q = config.coarse_factor
    cr, crb = _downsample(rp, rbad, q)
    cs, csb = _downsample(sp, sbad, q)
    ch, cw = cr.shape
    cc = max(16, (min(config.chip_sizes) // q) // 2 * 2)
    cc = min(cc, (min(ch, cw) // 2) * 2)
    cstep = max(1, cc // 4)
    crows, ccols = grid_coordinates((ch, cw), cstep)
    # coarse grid positions in full-resolution pixels
    frows = (crows + 0.5) * q - 0.5
    fcols = (ccols + 0.5) * q - 0.5
    cpy = interp_grid(pdy, rows, cols, frows, fcols) / q
    cpx = interp_grid(pdx, rows, cols, frows, fcols) / q
    rc = int(math.ceil(config.search_radius / q)) + 1
    lo_y, hi_y = np.floor(cpy - rc).astype(int), np.ceil(cpy + rc).astype(int)
    lo_x, hi_x = np.floor(cpx - rc).astype(int), np.ceil(cpx + rc).astype(int)
    half = PATCH_HALF["parabola"]
    maxlag = int(max(np.abs(lo_y).max(), np.abs(hi_y).max(), np.abs(lo_x).max(), np.abs(hi_x).max())) + half
    pad = cc // 2 + cstep + maxlag + 1
    job = _Job(_pad(cr, pad, 0.0), _pad(crb.astype(np.float32), pad, 1.0), _pad(cs, pad, 0.0),
               _pad(csb.astype(np.float32), pad, 1.0), pad, (cc,), cstep, cstep // 2, cstep // 2, "parabola")
    res = _run_search(job, lo_y, hi_y, lo_x, hi_x, config, config.n_workers, None, 0, 1)
    with np.errstate(invalid="ignore"):
        ok = (np.isfinite(res["dy"][0]) & (res["ncc"][0] >= max(config.min_ncc, 0.05))
              & (res["ref_inv"][0] <= 0.5) & (res["sec_inv"][0] <= 0.5))
    dyc = np.where(ok, res["dy"][0], np.nan).astype(np.float64)
    dxc = np.where(ok, res["dx"][0], np.nan).astype(np.float64)
    out = normalized_median_test(dyc, dxc, threshold=config.median_threshold, eps=0.1, window=3)
    dyc[out] = np.nan
    dxc[out] = np.nan
    if not np.isfinite(dyc).any():
        nan = np.full((len(rows), len(cols)), np.nan)
        return nan, nan, nan, nan
    # gaps (borders, decorrelated patches) take the nearest coarse value
    dyc, dxc = fill_nearest(dyc) * q, fill_nearest(dxc) * q
    outs = []
    for f in (dyc, dxc):
        for g in neighbourhood_min_max(f):
            outs.append(interp_grid(g, frows, fcols, rows, cols))
    lo_y, hi_y, lo_x, hi_x = outs
    return lo_y, hi_y, lo_x, hi_x
