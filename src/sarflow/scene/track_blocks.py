"""`sarflow track` on scenes too large for memory: the tracking grid computed block by block, resumable.

The tracker's memory grows with the image (about 75 bytes per pixel), so a large scene is cut into
blocks of grid points. Each block is tracked on a window of the pair that adds a margin of grid
points on every side, enough for the largest chip, the search radius, the coarse pass and the
neighbourhood tests (fusion, median test, gap filling), and keeps only its own points. Windows
start on multiples of ``step * coarse_factor``, so their grids and coarse grids fall on the
scene's. Inside a block every point therefore sees what it would see in a whole-scene run; results
agree with one to float round-off of the correlation sums, and rare points near a threshold can
differ (the README gives the measured agreement).

Finished blocks are journalled (`sarflow.scene.journal`) so a killed run resumes where it stopped;
the product (a grid, ``step**2`` times smaller than the images) is assembled in memory and written
as usual.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sarflow._version import __version__
from sarflow.errors import SarflowError
from sarflow.scene.blocks import Block, RasterSource, current_rss, format_bytes

__all__ = ["TRACK_BYTES_PER_PIXEL", "needs_blocks", "track_in_blocks"]

#: Peak memory of the tracker per image pixel (both images, pre-processing, padding, volumes), bytes.
TRACK_BYTES_PER_PIXEL = 100
#: Memory of the tracker beyond that (correlation volumes of its tiles, libraries), bytes.
TRACK_FIXED_BYTES = 400_000_000

_INTEGER_BANDS = {"chip_size": np.int16, "n_kernels": np.int16, "filled": np.uint8}


def needs_blocks(shape: tuple[int, int], budget: int) -> bool:
    """Whether tracking a whole scene of ``shape`` would exceed ``budget`` bytes."""
    return TRACK_FIXED_BYTES + TRACK_BYTES_PER_PIXEL * shape[0] * shape[1] > budget


def _margin_points(config) -> int:
    """Grid points of margin a block needs on each side (a multiple of the coarse factor)."""
    from sarflow.tracking.subpixel import PATCH_HALF

    reach = max(config.chip_sizes) // 2 + config.search_radius + config.refine_radius + PATCH_HALF[config.subpixel]
    points = math.ceil(reach / config.step) + config.median_window + 3
    if config.fill_gaps:
        points += config.fill_max_distance
    return -(-points // config.coarse_factor) * config.coarse_factor


def _block_points(config, budget: int, margin: int) -> int:
    """Grid points per block side for a memory budget (a multiple of the coarse factor, at least 4 of it)."""
    room = budget - current_rss() - TRACK_FIXED_BYTES
    side_px = int(math.sqrt(max(room, 0) / TRACK_BYTES_PER_PIXEL))
    points = side_px // config.step - 2 * margin
    unit = config.coarse_factor
    least = 4 * unit
    if points < least:
        need = current_rss() + TRACK_FIXED_BYTES + TRACK_BYTES_PER_PIXEL * ((least + 2 * margin) * config.step) ** 2
        from sarflow.errors import InputError

        raise InputError(f"a memory budget of {format_bytes(budget)} is too small to track this scene in blocks: at "
                         f"least {format_bytes(need)} is needed (raise --max-memory, or lower --search-radius or "
                         "the chip sizes)")
    return points // unit * unit


def track_in_blocks(reference: str | Path, secondary: str | Path, output: str | Path, *, config, band: int,
                    prior_dx: np.ndarray | None, prior_dy: np.ndarray | None, prior_identity: dict | None,
                    budget: int, block_points: int | None = None, resume: bool = False,
                    progress: Callable[[int, int], None] | None = None):
    """Track a pair block by block; the finished blocks are journalled beside ``output``.

    Parameters
    ----------
    config : sarflow.tracking.TrackConfig
    prior_dx, prior_dy : ndarray (h, w) or None
        A prior on the scene's whole output grid.
    prior_identity : dict or None
        What identifies the prior (for the journal).
    budget : int
        Memory budget, bytes (sets the block size unless ``block_points``).
    block_points : int, optional
        Grid points per block side.
    resume : bool
        Keep the finished blocks of an interrupted run of the same job.

    Returns
    -------
    (TrackResult, Journal)
        The whole grid; discard the journal once the product is written.
    """
    from sarflow.scene.journal import Journal
    from sarflow.scene.journal import file_identity
    from sarflow.scene.predict import scene_statistics
    from sarflow.tracking import TrackResult, grid_coordinates, track_offsets

    ref = RasterSource.open(reference, band=band)
    sec = RasterSource.open(secondary, band=band)
    h, w = ref.shape
    rows, cols = grid_coordinates((h, w), config.step)
    gh, gw = len(rows), len(cols)
    margin = _margin_points(config)
    record = {"reference": file_identity(str(reference)), "secondary": file_identity(str(secondary)),
              "band": band, "config": config.to_dict(), "prior": prior_identity, "sarflow_version": __version__}
    journal = Journal(output, job=record, resume=resume)
    if journal.plan is None:
        scene_statistics(ref, sec)  # refuses an all-nodata or constant image before any tracking
        points = block_points if block_points is not None else _block_points(config, budget, margin)
        journal.save_plan({"block_points": int(points), "margin_points": margin})
    points = int(journal.plan["block_points"])
    blocks = [Block(i, min(i + points, gh), j, min(j + points, gw)) for i in range(0, gh, points)
              for j in range(0, gw, points)]
    bands: list[str] | None = None
    finished = journal.finished()
    done = len(finished)
    if progress is not None:
        progress(done, len(blocks))
    step = config.step
    for k, block in enumerate(blocks):
        if k in finished:
            continue
        # Pixel window: margin grid points on each side, starting on a multiple of step * coarse_factor.
        win = Block(max(0, (block.row0 - margin) * step), min(h, (block.row1 + margin) * step),
                    max(0, (block.col0 - margin) * step), min(w, (block.col1 + margin) * step))
        a, b = win.row0 // step, win.col0 // step
        local = grid_coordinates(win.shape, step)
        sl = (slice(a, a + len(local[0])), slice(b, b + len(local[1])))
        kwargs = {} if prior_dx is None else {"prior_dx": prior_dx[sl], "prior_dy": prior_dy[sl]}
        try:
            result = track_offsets(ref.read(win.row0, win.row1, win.col0, win.col1),
                                   sec.read(win.row0, win.row1, win.col0, win.col1), config=config, **kwargs)
            layers = {"dx": result.dx, "dy": result.dy, **result.quality}
        except SarflowError:  # a window of nodata or without texture: no estimate there
            layers = None
        if layers is None:
            stack = np.full((2 + 5 + int(config.fill_gaps), *block.shape), np.nan, np.float32)
        else:
            inner = (slice(block.row0 - a, block.row1 - a), slice(block.col0 - b, block.col1 - b))
            stack = np.stack([np.asarray(v, dtype=np.float32)[inner] for v in layers.values()])
            bands = list(layers)
        journal.save(k, stack)
        done += 1
        if progress is not None:
            progress(done, len(blocks))
    if bands is None:  # every block came from an earlier run (or none had data): the tracker's band order
        bands = ["dx", "dy", "ncc", "peak_ratio", "sigma_px", "chip_size", "n_kernels"]
        if config.fill_gaps:
            bands.append("filled")
    grid = {name: np.full((gh, gw), np.nan, np.float32) for name in bands}
    for k, block in enumerate(blocks):
        stack = journal.load(k)
        for name, layer in zip(bands, stack):
            grid[name][block.slices()] = layer
    quality = {}
    for name in bands[2:]:
        band_values = grid[name]
        if name in _INTEGER_BANDS:
            band_values = np.nan_to_num(band_values, nan=0.0).astype(_INTEGER_BANDS[name])
        quality[name] = band_values
    result = TrackResult(dx=grid["dx"], dy=grid["dy"], quality=quality, row0=step // 2, col0=step // 2, step=step,
                         config=config)
    return result, journal
