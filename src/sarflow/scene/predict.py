"""Dense offsets of a raster pair from a network: the job behind ``sarflow predict``.

Motion larger than the network handles (fast glaciers, tens of pixels) is taken in two steps: a
coarse pass of the multi-kernel tracker gives a prior field, the secondary is resampled onto the
reference by that prior, the network measures the residual, and the two are composed (see
`sarflow.scene.coarse`).

Whole scenes run in bounded memory: the normalisation statistics come from a windowed pass, the
coarse prior is tracked block by block, and the network runs block by block over the scene's tile
lattice (`sarflow.scene.blocks`), each block reading only the windows it needs. The block size is
the largest the memory budget (``max_memory``) allows. Finished blocks are journalled beside the
output (`sarflow.scene.journal`), so a killed job resumes; the product is assembled from them and
appears only when complete. The prior's blocks and, on large scenes, the network's blocks run on
worker processes forked from the job, one per core (`sarflow.scene.processes`); blocks can also run
as a Dask graph on a cluster (`sarflow.scene.dask`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine

from sarflow._version import __version__
from sarflow.errors import ConstantImageError, InputError, NoValidDataError, SarflowError
from sarflow.io.atomic import check_writable
from sarflow.io.products import grid_transform
from sarflow.models import MODEL_ATTRIBUTES
from sarflow.scene.blocks import (
    DEFAULT_MAX_MEMORY,
    ArraySource,
    Block,
    MemoryModel,
    RasterSource,
    TileLattice,
    current_rss,
    parse_memory,
    parallel_block_shape,
    split_blocks,
)
from sarflow.scene.coarse import (
    CoarsePriorConfig,
    PriorGrid,
    coarse_prior_grid,
    prior_block_bytes,
    resample,
    warp_window,
)
from sarflow.scene.journal import file_identity
from sarflow.scene.processes import resolve_processes, run_in_processes, shared_array
from sarflow.scene.inference import (
    InferenceConfig,
    combine_sums,
    lattice_for,
    log_statistics,
    predict_block,
    prepare_model,
    statistics_windows,
    tile_counter,
    window_sums,
)

__all__ = [
    "predict",
    "predict_pairs",
    "read_pair_list",
    "predict_arrays",
    "prior_route",
    "coarse_prior",
    "warp_by_prior",
    "scene_statistics",
    "BlockJob",
    "compute_block",
    "PredictSummary",
    "DEFAULT_MAX_MEMORY",
    "PROCESS_MIN_PIXELS",
]

#: Smallest scene (pixels) whose network blocks `predict` spreads over every core by default
#: (``processes=0``). ``python benchmarks/bench_predict_speed.py --size N --model ccressiamnet-fast``
#: on two cores: the network's part took 2.1 s on two workers against 1.6 s in one process at
#: N = 2048 (a tile row that two blocks share is a large part of a small scene), 3.3 against 4.7 s
#: at 3072, 4.8-5.1 against 6.3-7.2 s at 4096.
PROCESS_MIN_PIXELS = 3072 * 3072


# ----------------------------------------------------------------------------------- the block job

@dataclass(frozen=True)
class BlockJob:
    """Everything one block needs besides the network (plain data: it pickles to Dask workers).

    Attributes
    ----------
    reference, secondary : ArraySource or RasterSource
    lattice : TileLattice
    blocks : tuple of Block
        The blocks of the scene, row-major.
    statistics : (float, float)
        Log-amplitude mean and standard deviation of the scene.
    prior : PriorGrid or None
        Coarse prior, when used.
    config : InferenceConfig
    bands : tuple of str
        Output bands: ``dx``, ``dy`` and, for a network with uncertainty, ``sigma_dx``, ``sigma_dy``.
    """

    reference: object
    secondary: object
    lattice: TileLattice
    blocks: tuple[Block, ...]
    statistics: tuple[float, float]
    prior: PriorGrid | None
    config: InferenceConfig
    bands: tuple[str, ...]

    def tiles(self, index: int) -> int:
        """Network tiles block ``index`` runs (tiles on block edges are run by both blocks)."""
        return len(self.lattice.tiles_touching(self.blocks[index]))


def compute_block(model, job: BlockJob, index: int, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Bands of block ``index``: ``(len(job.bands), rows, cols)`` float32, NaN where there is no estimate.

    ``model`` must be prepared (`sarflow.scene.inference.prepare_model`).
    """
    block = job.blocks[index]
    span = job.lattice.span(block)
    reference = job.reference.read(span.row0, span.row1, span.col0, span.col1)
    if job.prior is None:
        target = job.secondary.read(span.row0, span.row1, span.col0, span.col1)
    else:
        target = warp_window(job.secondary, job.prior, span)
    out = predict_block(model, job.lattice, block, reference, target, statistics=job.statistics,
                        config=job.config, progress=progress)
    if job.prior is not None:
        settings = getattr(model, "least_squares", None)
        if settings and job.config.least_squares:
            out["dx"], out["dy"] = _least_squares(reference, target, span, block, out["dx"], out["dy"], settings)
        out["dx"], out["dy"] = job.prior.compose(block, out["dx"], out["dy"])
        if "sigma_dx" in out:
            # The prior's own error and, on gap-filled points, its spread (`sarflow.scene.coarse`).
            out["sigma_dx"], out["sigma_dy"] = job.prior.sigma_of_network(
                block, out["sigma_dx"], out["sigma_dy"], float(getattr(model, "prior_sigma_scale", 0.0)),
                float(getattr(model, "prior_sigma_power", 1.0)))
    empty = np.full(block.shape, np.nan, dtype=np.float32)
    return np.stack([out.get(name, empty) for name in job.bands])


def _least_squares(reference: np.ndarray, target: np.ndarray, span: Block, block: Block, rdx: np.ndarray,
                   rdy: np.ndarray, settings: dict) -> tuple[np.ndarray, np.ndarray]:
    """The network's residual over ``block`` fused with the least-squares residual of the window
    ``span`` (`sarflow.tracking.lsq`; the window's context keeps the estimate away from block edges).
    Pixels without a network estimate stay NaN."""
    from sarflow.tracking.lsq import LeastSquaresConfig, fuse, least_squares_residual

    config = LeastSquaresConfig.from_dict(settings)
    estimate = least_squares_residual(reference, target, config)
    rows = slice(block.row0 - span.row0, block.row1 - span.row0)
    cols = slice(block.col0 - span.col0, block.col1 - span.col0)
    estimate = type(estimate)(*(band[rows, cols] for band in estimate))
    dx, dy = fuse(rdx, rdy, estimate, config)
    missing = ~(np.isfinite(rdx) & np.isfinite(rdy))
    dx[missing] = np.nan
    dy[missing] = np.nan
    return dx, dy


def _bands_of(model) -> tuple[str, ...]:
    return ("dx", "dy", "sigma_dx", "sigma_dy") if getattr(model, "uncertainty", True) else ("dx", "dy")


# ----------------------------------------------------------------------------------- in memory

def coarse_prior(reference: np.ndarray, secondary: np.ndarray, *, search_radius: int, step: int = 32,
                 chip_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A smooth per-pixel prior from a coarse multi-kernel tracking pass (NaN-free).

    Rejected points are filled from their neighbours; the grid is median-filtered, then
    interpolated bilinearly to every pixel (see `sarflow.scene.coarse.coarse_prior_grid`).
    """
    config = CoarsePriorConfig(search_radius=search_radius, step=step, chip_size=chip_size,
                               block_size=max(step, 1024 // step * step))
    grid = coarse_prior_grid(ArraySource(reference), ArraySource(secondary), config=config)
    return grid.window(Block(0, reference.shape[0], 0, reference.shape[1]))


def warp_by_prior(secondary: np.ndarray, prior_dx: np.ndarray, prior_dy: np.ndarray) -> np.ndarray:
    """The secondary resampled onto the reference grid by the prior: ``out(r, c) = sec(r + dy, c + dx)``.

    With `sarflow.scene.coarse.RESAMPLE_KERNEL` (the windowed sinc); NaN where the four nearest
    secondary pixels are not all valid.
    """
    h, w = secondary.shape
    return resample(ArraySource(secondary), np.asarray(prior_dx, np.float32), np.asarray(prior_dy, np.float32),
                    Block(0, h, 0, w))


def _decide_prior(grid: PriorGrid | None, prior: str, threshold_px: float) -> PriorGrid | None:
    if grid is None or (prior == "auto" and grid.max_offset() < threshold_px):
        return None
    return grid


def predict_arrays(model, reference: np.ndarray, secondary: np.ndarray, *, config=None, prior: str = "auto",
                   prior_threshold_px: float = 3.0, search_radius: int = 64,
                   progress: Callable[[int, int], None] | None = None, return_prior: bool = False,
                   processes: int = 1) -> dict:
    """Network offsets of an in-memory pair, with the coarse-prior route for large motion.

    Parameters
    ----------
    model : torch.nn.Module
        A `sarflow.nn` network (moved to the configured device in place).
    reference, secondary : ndarray, shape (H, W)
        Amplitudes, NaN = nodata.
    prior : {"auto", "always", "none"}
        ``auto`` runs the coarse tracker and uses it when its largest offset exceeds
        ``prior_threshold_px``.
    progress : callable ``(done, total)``, optional
        Network tiles (a tile straddling two blocks counts in both).
    return_prior : bool
        Also return the prior itself per pixel (``prior_dx``, ``prior_dy``) where one was used: the
        baseline the network corrects.
    processes : int
        Worker processes (`sarflow.scene.processes`; 0: every core): the prior's blocks and, on the
        CPU, the network's blocks (the scene cut into about two blocks per process,
        `sarflow.scene.blocks.parallel_block_shape`) run on forked workers of one thread each. The
        results are those of one process. 1: everything in this process.

    Returns
    -------
    dict with ``dx``, ``dy`` (and ``sigma_dx``, ``sigma_dy``), float32 (H, W), and ``prior_used`` (bool).
    """
    _check_prior_mode(prior)
    if reference.shape != secondary.shape or reference.ndim != 2:
        raise InputError(f"reference and secondary must be 2-D images of one shape, got {reference.shape} "
                         f"and {secondary.shape}")
    config = config or InferenceConfig()
    processes = resolve_processes(processes)
    if config.resolved_device() != "cpu":
        processes = 1  # one process drives the accelerator (CUDA does not survive a fork)
    ref, sec = ArraySource(reference), ArraySource(secondary)
    statistics = log_statistics(reference, secondary)
    prior, coarse_config = prior_route(model, prior, search_radius)
    grid = None
    if prior != "none":
        grid = coarse_prior_grid(ref, sec, config=coarse_config, processes=processes)
    grid = _decide_prior(grid, prior, prior_threshold_px)
    model = prepare_model(model, config)
    lattice = lattice_for(model, reference.shape, config)
    h, w = reference.shape
    blocks = (Block(0, h, 0, w),)
    if processes > 1 and lattice.count >= 2 * processes:
        blocks = tuple(split_blocks((h, w), *parallel_block_shape(lattice, max(h, w), processes)))
    job = BlockJob(ref, sec, lattice, blocks, statistics, grid, config, _bands_of(model))
    if len(blocks) == 1:
        bands = compute_block(model, job, 0, tile_counter(progress, lattice.count))
    else:
        bands = shared_array((len(job.bands), h, w))
        counter = tile_counter(progress, sum(job.tiles(k) for k in range(len(blocks))))
        run_in_processes(_shared_block, (model, job, bands), range(len(blocks)), processes,
                         lambda k, tiles: counter(tiles))
    out = dict(zip(job.bands, bands))
    out["prior_used"] = grid is not None
    if return_prior and grid is not None:
        out["prior_dx"], out["prior_dy"] = grid.window(Block(0, reference.shape[0], 0, reference.shape[1]))
    return out


def _shared_block(state, index: int) -> int:
    """On a worker: block ``index`` written into the shared output bands; returns its tile count."""
    model, job, bands = state
    block = job.blocks[index]
    bands[:, block.row0:block.row1, block.col0:block.col1] = compute_block(model, job, index)
    return job.tiles(index)


def _file_block(state, index: int) -> np.ndarray:
    """On a worker: the bands of block ``index`` (returned to the job, which journals them)."""
    model, job = state
    return compute_block(model, job, index)


def prior_route(model, prior: str, search_radius: int) -> tuple[str, CoarsePriorConfig]:
    """The prior mode and coarse-pass settings a network needs.

    A network trained on the residual left by the tracker prior (``model.prior_input``, set by
    `sarflow.models.load_model` from its training configuration) always runs on it, with the
    prior of its training (`sarflow.training.synthetic.prior_config`: grid step 8, chips 32, 64
    and 128); other networks take ``prior`` as given, with the coarse pass for large motion.
    """
    _check_prior_mode(prior)
    if getattr(model, "prior_input", False):
        if prior == "none":
            raise InputError("this network measures the residual after the tracker prior (it was trained so); "
                             "it cannot run with prior 'none'")
        from sarflow.training.synthetic import prior_config

        return "always", prior_config(search_radius)
    return prior, CoarsePriorConfig(search_radius=search_radius)


def _check_prior_mode(prior: str) -> None:
    if prior not in ("auto", "always", "none"):
        raise InputError(f"prior must be 'auto', 'always' or 'none', got {prior!r}")


# ----------------------------------------------------------------------------------- windowed passes

def scene_statistics(reference, secondary) -> tuple[float, float]:
    """Log-amplitude mean and standard deviation of a pair, read window by window.

    Equals `sarflow.scene.inference.log_statistics` of the two images in memory, bit for bit. Also
    checks, on the way, that neither image is all nodata or constant.

    Raises
    ------
    NoValidDataError, ConstantImageError
    """
    sums = []
    for role, source in (("reference", reference), ("secondary", secondary)):
        count, low, high = 0, math.inf, -math.inf
        for win in statistics_windows(source.shape):
            data = source.read(win.row0, win.row1, win.col0, win.col1)
            sums.append(window_sums(data))
            valid = data[np.isfinite(data)]
            if valid.size:
                count += valid.size
                low, high = min(low, float(valid.min())), max(high, float(valid.max()))
        name = getattr(source, "path", "in memory")
        if count == 0:
            raise NoValidDataError(f"{role} image {name} has no valid pixel (all nodata or non-finite)")
        if low == high:
            raise ConstantImageError(f"{role} image {name} is constant ({low!r} everywhere it is valid): "
                                     "there is no texture to track")
    return combine_sums(sums)


# ----------------------------------------------------------------------------------- the job

@dataclass
class PredictSummary:
    """What a `predict` job wrote.

    Attributes
    ----------
    output : Path
    shape : (int, int)
        Product rows and columns (pixels of the reference or its window).
    bands : tuple of str
    prior_used : bool
    blocks : int
        Blocks of the scene; ``blocks_resumed`` of them were taken from an earlier run.
    block_side : int
        Largest block side the memory budget allows (or ``block_pixels``), pixels.
    block_shape : (int, int)
        Rows and columns of the blocks used: ``block_side`` a side, or smaller on a Dask cluster
        whose worker threads would otherwise outnumber the blocks
        (`sarflow.scene.blocks.parallel_block_shape`).
    tiles : int
        Network tiles run by this call.
    seconds : float
    skipped : bool
        True when ``resume`` found the output already complete and did nothing.
    """

    output: Path
    shape: tuple[int, int]
    bands: tuple[str, ...] = ()
    prior_used: bool = False
    blocks: int = 0
    blocks_resumed: int = 0
    block_side: int = 0
    block_shape: tuple[int, int] = (0, 0)
    tiles: int = 0
    seconds: float = 0.0
    skipped: bool = False


def model_digest(model) -> str:
    """SHA-256 of a network's configuration and weights (identifies it in journals and on workers)."""
    digest = hashlib.sha256()
    config = model.to_config() if hasattr(model, "to_config") else {"class": type(model).__name__}
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    extras = {name: getattr(model, name) for name in MODEL_ATTRIBUTES if hasattr(model, name)}
    if extras:
        digest.update(json.dumps(extras, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def _load(model, config: InferenceConfig):
    """A network from a name or weights path (or one already built), prepared for inference."""
    if isinstance(model, (str, Path)):
        from sarflow.models import load_model

        model = load_model(str(model), device=config.resolved_device())
    return prepare_model(model, config)


def _release_free_memory() -> None:
    """Hand memory freed by earlier passes back to the system (glibc keeps it), so RSS tells what is in use."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS then over-counts, which only makes blocks smaller
        pass


def plan_block_side(model, lattice: TileLattice, config: InferenceConfig, budget: int, *, margin: int,
                    processes: int = 1) -> int:
    """Block side for a memory budget (see `sarflow.scene.blocks.MemoryModel`).

    With ``processes`` forked workers, each holds a block and a batch's activations at once; what
    they inherit (interpreter, libraries, network, prior) is shared with this process and counted once.
    """
    from sarflow.scene.inference import activation_bytes

    processes = max(int(processes), 1)
    fixed = current_rss()
    if config.resolved_device() == "cpu":
        fixed += processes * activation_bytes(model, config, lattice.tile)
    return MemoryModel(fixed, MemoryModel.bytes_per_pixel * processes).block_side(budget, lattice, margin=margin)


def predict(reference: str | Path, secondary: str | Path, output: str | Path, *, model="ccressiamnet",
            config: InferenceConfig | None = None, prior: str = "auto", search_radius: int = 64,
            prior_threshold_px: float = 3.0, band: int = 1, netcdf: bool = False, overwrite: bool = False,
            resume: bool = False, max_memory: str | int | None = None, block_pixels: int | None = None,
            window: tuple[int, int, int, int] | None = None, workers: int = 0, scheduler: str | None = None,
            client=None, progress: Callable[[int, int], None] | None = None,
            dates: Sequence | None = None, processes: int = 0) -> PredictSummary:
    """Dense (per-pixel) offsets of a raster pair from a network, written as an offsets product.

    Bands: ``dx``, ``dy`` (pixels), ``sigma_dx``, ``sigma_dy`` (1-sigma uncertainty, pixels) when
    the network predicts it. NaN where either image is nodata.

    Parameters
    ----------
    reference, secondary : path
        Images (anything `sarflow.io.read_raster` opens); read in windows, never whole.
    output : path
        ``.tif`` (tiled GeoTIFF) or ``.nc`` (NetCDF).
    model : str, path or torch.nn.Module
        Shipped weights name, an exported weights file, or a network.
    config : InferenceConfig, optional
    prior : {"auto", "always", "none"}
        Coarse tracking pass for large motion (``auto``: used where it finds more than
        ``prior_threshold_px``).
    search_radius : int
        Search radius of that pass, pixels.
    band : int
    netcdf : bool
        Also write a NetCDF beside a GeoTIFF output.
    overwrite : bool
        Replace an existing output; refused otherwise, before any work.
    resume : bool
        Continue a killed run of the same job from its journal (``.OUT.partial/``); an output that an
        earlier run finished is left as it is (``skipped``).
    max_memory : str or int, optional
        Memory budget (``"2GB"``, bytes); the block size is chosen from it. Default
        `DEFAULT_MAX_MEMORY`.
    block_pixels : int, optional
        Block side in pixels, instead of the largest ``max_memory`` allows.
    window : (row, col, height, width), optional
        Process only this part of the pair (the product covers it, georeferenced).
    workers : int
        Run the blocks on a local Dask cluster of this many worker processes (0: in this process).
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``) to run the blocks on.
    client : distributed.Client, optional
        A Dask client to use (takes precedence over ``workers`` and ``scheduler``).
    progress : callable ``(done, total)``, optional
        Network tiles.
    dates : (reference, secondary), optional
        Acquisition dates, stored as the product's ``reference_date`` / ``secondary_date`` tags
        (where `sarflow velocity` looks for them); checked before any work.
    processes : int
        Local worker processes, forked from this one, one thread each (`sarflow.scene.processes`;
        1: all in this process): they track the prior's blocks and, without Dask and on the CPU,
        run the network's blocks (the memory budget is shared among them). 0: every core, the
        network's blocks only on scenes of `PROCESS_MIN_PIXELS` or more (on smaller ones the
        tiles that two blocks share cost more than the second core gains). The product is the
        same for any number.

    Returns
    -------
    PredictSummary

    Raises
    ------
    OutputExistsError
        The output exists and neither ``overwrite`` nor a finished ``resume``.
    InputError
        Bad inputs or settings (nothing is written).
    """
    start = time.perf_counter()
    config = config or InferenceConfig()
    _check_prior_mode(prior)
    from sarflow.products.velocity import pair_date_tags

    date_tags = {} if dates is None else pair_date_tags(dates)
    output = Path(output)
    if output.suffix.lower() not in (".tif", ".tiff", ".nc"):
        raise InputError(f"{output}: the output must end in .tif or .nc")
    sibling = output.with_suffix(".nc") if netcdf and output.suffix.lower() != ".nc" else None
    from sarflow.scene.journal import Journal, partial_folder

    if resume and not overwrite and output.exists() and not partial_folder(output).exists():
        return PredictSummary(output=output, shape=(0, 0), skipped=True)  # finished by an earlier run
    for path in (output, sibling):
        if path is not None:
            check_writable(path, overwrite=overwrite or resume)
    budget = parse_memory(max_memory if max_memory is not None else DEFAULT_MAX_MEMORY)

    from sarflow.io.rasters import check_same_grid, describe_raster

    ref_info = describe_raster(reference, band=band)
    sec_info = describe_raster(secondary, band=band)
    check_same_grid(ref_info, sec_info)
    ref_src = RasterSource.open(reference, band=band, window=window)
    sec_src = RasterSource.open(secondary, band=band, window=window)
    net = _load(model, config)
    local = resolve_processes(processes) if config.resolved_device() == "cpu" else 1
    # Every core by default only where the network's blocks are worth a worker each.
    network_local = local if processes or ref_src.shape[0] * ref_src.shape[1] >= PROCESS_MIN_PIXELS else 1
    lattice = lattice_for(net, ref_src.shape, config)
    bands = _bands_of(net)
    prior, prior_config = prior_route(net, prior, search_radius)
    if block_pixels is not None and block_pixels < 16:
        raise InputError(f"block_pixels must be at least 16 pixels, got {block_pixels}")
    job_record = {
        "reference": file_identity(str(reference)), "secondary": file_identity(str(secondary)), "band": band,
        "window": list(window) if window else None, "model": model_digest(net), "inference": config.__dict__,
        "prior": prior, "prior_config": prior_config.to_dict(), "prior_threshold_px": prior_threshold_px,
        "lattice": lattice.to_dict(), "bands": list(bands), "sarflow_version": __version__,
    }
    journal = Journal(output, job=job_record, resume=resume)

    def run(dask_client) -> PredictSummary:
        stored = journal.load_state("statistics")
        if stored is None:
            statistics = scene_statistics(ref_src, sec_src)
            journal.save_state("statistics", {"mean_std": np.array(statistics, dtype=np.float64)})
        else:
            statistics = tuple(float(v) for v in stored["mean_std"])
        grid = None
        if prior != "none":
            stored = journal.load_state("prior")
            if stored is None:
                # As many workers as the memory budget holds blocks of the coarse pass.
                room = budget - current_rss()
                prior_workers = max(1, min(local, room // prior_block_bytes(ref_src.shape, prior_config)))
                grid = coarse_prior_grid(ref_src, sec_src, config=prior_config, processes=prior_workers)
                journal.save_state("prior", grid.to_arrays())
            else:
                grid = PriorGrid.from_arrays(stored)
        grid = _decide_prior(grid, prior, prior_threshold_px)
        if journal.plan is None:
            # Planned now, with what the passes above left in this process counted in.
            _release_free_memory()
            margin = 0 if grid is None else int(math.ceil(grid.max_offset())) + 4
            slots = network_local if dask_client is None else 1
            side = int(block_pixels) if block_pixels is not None else plan_block_side(
                net, lattice, config, budget, margin=margin, processes=slots)
            shape = (side, side)
            if block_pixels is None and dask_client is not None:  # a block per worker thread (one runs on one)
                from sarflow.scene.dask import task_slots

                slots = task_slots(dask_client)
            if block_pixels is None and slots > 1:
                shape = parallel_block_shape(lattice, side, slots)
            journal.save_plan({"block_side": side, "block_shape": list(shape)})
        side = int(journal.plan["block_side"])
        block_shape = tuple(int(v) for v in journal.plan.get("block_shape", (side, side)))
        blocks = tuple(split_blocks(lattice.shape, *block_shape))
        job = BlockJob(ref_src, sec_src, lattice, blocks, statistics, grid, config, bands)

        finished = journal.finished()
        todo = [k for k in range(len(blocks)) if k not in finished]
        total = sum(job.tiles(k) for k in range(len(blocks)))
        done = sum(job.tiles(k) for k in finished)
        if progress is not None:
            progress(done, total)

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(done, total)

        if dask_client is not None:
            from sarflow.scene.dask import run_blocks

            run_blocks(net, job, todo, journal.save, client=dask_client, progress=lambda k: advance(job.tiles(k)))
        elif network_local > 1 and len(todo) > 1:
            def keep(k: int, bands: np.ndarray) -> None:
                journal.save(k, bands)
                advance(job.tiles(k))

            run_in_processes(_file_block, (net, job), todo, network_local, keep)
        else:
            for k in todo:
                journal.save(k, compute_block(net, job, k, advance))

        origin = Affine.identity() if ref_info.transform is None else ref_info.transform
        if window is not None:
            origin = origin @ Affine.translation(window[1], window[0])
        metadata = {
            "method": f"sarflow.predict: network {model if isinstance(model, (str, Path)) else type(model).__name__}",
            "parameters": {"inference": config.__dict__, "prior": prior, "prior_used": grid is not None,
                           "search_radius": search_radius, "prior_threshold_px": prior_threshold_px,
                           "tiles": lattice.to_dict(), "block_side": side, "block_shape": list(block_shape),
                           "window": list(window) if window else None},
            "reference": str(reference), "secondary": str(secondary), "sarflow_version": __version__,
            "elapsed_s": f"{time.perf_counter() - start:.3f}",
            **date_tags,
        }
        from sarflow.scene.output import write_blocks

        transform = grid_transform(origin, row0=0, col0=0, step=1)
        for path in (output, sibling):
            if path is not None:
                write_blocks(path, shape=lattice.shape, blocks=blocks, load=journal.load, bands=bands,
                             transform=transform, crs=ref_info.crs, metadata=metadata)
        journal.discard()
        return PredictSummary(output=output, shape=lattice.shape, bands=bands, prior_used=grid is not None,
                              blocks=len(blocks), blocks_resumed=len(finished), block_side=side,
                              block_shape=block_shape,
                              tiles=total - sum(job.tiles(k) for k in finished), seconds=time.perf_counter() - start)

    opened = []  # a client and local cluster opened here, closed at the end
    try:
        if client is None and (workers or scheduler):
            from sarflow.scene.dask import open_client

            client, cluster = open_client(workers=workers, scheduler=scheduler)
            opened = [client, cluster]
        return run(client)
    except SarflowError:
        if not journal.finished():  # refused before any block: nothing worth resuming
            journal.discard()
        raise
    finally:
        journal.release()
        for part in opened:
            if part is not None:
                part.close()


# ----------------------------------------------------------------------------------- many pairs

@dataclass(frozen=True)
class PairEntry:
    """One line of a pair list: the two images and the product to write."""

    reference: Path
    secondary: Path
    output: Path


def read_pair_list(path: str | Path, output_dir: str | Path, *, suffix: str = ".tif") -> list[PairEntry]:
    """Pairs from a text or CSV file of ``reference,secondary[,output]`` lines.

    Blank lines and lines starting with ``#`` are skipped, and a first line naming the columns
    (``reference,secondary...``) is a header. Relative image paths are resolved against the list's
    folder; outputs against ``output_dir``; a missing output is named
    ``REFSTEM__SECSTEM.tif``. Fields may also be separated by whitespace or semicolons.

    Raises
    ------
    InputError
        A missing file, a line without two images, or two pairs writing one output.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such pair list")
    base, out_dir = path.parent, Path(output_dir)
    entries: list[PairEntry] = []
    text = path.read_text()
    for number, row in enumerate(csv.reader(_split_lines(text)), start=1):
        fields = [f.strip() for f in row if f.strip()]
        if not fields or fields[0].startswith("#"):
            continue
        if number == 1 and fields[0].lower() in ("reference", "ref"):
            continue
        if len(fields) not in (2, 3):
            raise InputError(f"{path}, line {number}: expected 'reference,secondary[,output]', got {row}")
        ref, sec = (Path(f) if Path(f).is_absolute() else base / f for f in fields[:2])
        if len(fields) == 3:
            out = Path(fields[2]) if Path(fields[2]).is_absolute() else out_dir / fields[2]
        else:
            out = out_dir / f"{Path(fields[0]).stem}__{Path(fields[1]).stem}{suffix}"
        entries.append(PairEntry(ref, sec, out))
    if not entries:
        raise InputError(f"{path}: no pairs listed")
    outputs = [e.output.resolve() for e in entries]
    duplicates = sorted({str(o) for o in outputs if outputs.count(o) > 1})
    if duplicates:
        raise InputError(f"{path}: several pairs would write {duplicates[0]}; give each an output name")
    return entries


def _split_lines(text: str) -> list[str]:
    """Lines with whitespace- or semicolon-separated fields turned into commas."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if "," not in stripped:
            stripped = ",".join(stripped.replace(";", " ").split())
        lines.append(stripped.replace(";", ","))
    return lines


def predict_pairs(pairs: str | Path | Sequence[PairEntry], output_dir: str | Path, *, model="ccressiamnet",
                  config: InferenceConfig | None = None, overwrite: bool = False, resume: bool = False,
                  workers: int = 0, scheduler: str | None = None,
                  on_pair: Callable[[int, int, PairEntry], None] | None = None, **options) -> list[PredictSummary]:
    """`predict` for many pairs as one job: the network is loaded (and a Dask cluster started) once.

    Parameters
    ----------
    pairs : path or sequence of PairEntry
        A pair list (see `read_pair_list`) or its entries.
    output_dir : path
        Folder of the products (must exist).
    resume : bool
        Skip pairs whose product is complete and resume the one that was interrupted.
    on_pair : callable ``(index, count, entry)``, optional
        Called before each pair starts.
    **options
        Further `predict` arguments (prior, max_memory, progress, ...).

    Returns
    -------
    list of PredictSummary, one per pair (``skipped`` for products found complete).
    """
    config = config or InferenceConfig()
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise InputError(f"{output_dir}: the output folder does not exist (create it first)")
    entries = read_pair_list(pairs, output_dir) if isinstance(pairs, (str, Path)) else list(pairs)
    if not (overwrite or resume):
        for e in entries:  # refuse before any work
            check_writable(e.output, overwrite=False)
    from sarflow.io.rasters import describe_raster

    for e in entries:  # every listed image must open before the first pair starts
        describe_raster(e.reference, band=options.get("band", 1))
        describe_raster(e.secondary, band=options.get("band", 1))
    net = _load(model, config)
    client, cluster = None, None
    if workers or scheduler:
        from sarflow.scene.dask import open_client

        client, cluster = open_client(workers=workers, scheduler=scheduler)
    results = []
    try:
        for k, entry in enumerate(entries):
            if on_pair is not None:
                on_pair(k, len(entries), entry)
            results.append(predict(entry.reference, entry.secondary, entry.output, model=net, config=config,
                                   overwrite=overwrite, resume=resume, client=client, **options))
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    return results
