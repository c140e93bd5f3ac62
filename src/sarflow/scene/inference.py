"""Tiled network inference over images of any size, with smooth blending of overlapping tiles.

Tiles overlap by at least the network's receptive field, and each tile's prediction is weighted by a
window that is flat in the middle and falls smoothly to zero over the overlap, so seams do not show
and, away from the scene's edges, the blended result equals what one tile covering everything would
give. The images are normalised once with statistics of the whole scene (not per tile), so every
tile sees the same scaling.

The tiles form a lattice fixed by the scene (`sarflow.scene.blocks.TileLattice`); `predict_block`
computes the part of the result inside one block of the scene from the windows its tiles need, so
a scene job can run block by block in bounded memory, in any order, on any machine, and still
produce what `predict_offsets` gives for the whole scene in memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from sarflow.errors import InputError
from sarflow.scene.blocks import Block, TileLattice

__all__ = [
    "InferenceConfig",
    "log_statistics",
    "window_sums",
    "combine_sums",
    "normalise_with",
    "blend_window",
    "lattice_for",
    "prepare_model",
    "activation_bytes",
    "predict_block",
    "predict_offsets",
    "tile_counter",
    "STATISTICS_WINDOW",
]

#: Side of the windows the normalisation statistics are summed over (also in memory), pixels.
STATISTICS_WINDOW = 1024


@dataclass(frozen=True)
class InferenceConfig:
    """Tiling and numerics of network inference.

    Attributes
    ----------
    tile_size : int
        Tile side in pixels (the network sees tiles of this size).
    overlap : int or None
        Overlap between neighbouring tiles in pixels; None uses the overlap measured for the
        network's weights at export (``tile_overlap``), or else its receptive field (capped at
        half a tile).
    batch_size : int
        Tiles per forward pass.
    precision : {"bf16", "fp32"}
        bfloat16 autocast or float32.
    channels_last : bool
        Channels-last memory format for the network and its inputs (faster convolutions on CPUs).
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    least_squares : bool
        Apply the least-squares refinement that the model's weights carry
        (`sarflow.tracking.lsq`, on the tracker-prior route); False leaves it out.
    """

    tile_size: int = 512
    overlap: int | None = None
    batch_size: int = 4
    precision: str = "bf16"
    channels_last: bool = True
    device: str = "auto"
    least_squares: bool = True

    def __post_init__(self):
        if self.tile_size < 32:
            raise InputError(f"tile_size must be at least 32, got {self.tile_size}")
        if self.overlap is not None and not 0 <= self.overlap < self.tile_size // 2 + 1:
            raise InputError(f"overlap must lie in [0, tile_size / 2], got {self.overlap}")
        if self.precision not in ("bf16", "fp32"):
            raise InputError(f"precision must be 'bf16' or 'fp32', got {self.precision!r}")
        if self.batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise InputError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")

    def resolved_device(self) -> str:
        """``"cuda"`` or ``"cpu"`` for ``"auto"``; the device asked for otherwise."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


# ----------------------------------------------------------------------------------- statistics

def window_sums(block: np.ndarray, eps: float = 1e-6) -> tuple[float, float, int]:
    """Sum, sum of squares and count of the log amplitude of the finite pixels of one window."""
    values = block[np.isfinite(block)]
    values = np.log(np.maximum(values.astype(np.float64), 0) + eps)
    return float(values.sum()), float((values * values).sum()), int(values.size)


def combine_sums(sums: list[tuple[float, float, int]]) -> tuple[float, float]:
    """Mean and standard deviation from per-window sums; exactly rounded, so independent of their order."""
    count = sum(s[2] for s in sums)
    if count == 0:
        raise InputError("no valid pixel to normalise")
    mean = math.fsum(s[0] for s in sums) / count
    mean_sq = math.fsum(s[1] for s in sums) / count
    return float(mean), float(math.sqrt(max(mean_sq - mean * mean, 1e-12)))


def statistics_windows(shape: tuple[int, int]) -> Iterator[Block]:
    """The windows the statistics are summed over (row-major, `STATISTICS_WINDOW` a side)."""
    h, w = shape
    for r in range(0, h, STATISTICS_WINDOW):
        for c in range(0, w, STATISTICS_WINDOW):
            yield Block(r, min(r + STATISTICS_WINDOW, h), c, min(c + STATISTICS_WINDOW, w))


def log_statistics(*images: np.ndarray, eps: float = 1e-6) -> tuple[float, float]:
    """Mean and standard deviation of log amplitude over the valid pixels of all images together.

    Summed window by window (`STATISTICS_WINDOW`) and combined exactly, so a windowed pass over
    files (`sarflow.scene.predict.scene_statistics`) gives the same two numbers bit for bit.
    """
    sums = []
    for image in images:
        for win in statistics_windows(image.shape):
            sums.append(window_sums(image[win.slices()], eps))
    return combine_sums(sums)


def normalise_with(image: np.ndarray, mean: float, std: float, eps: float = 1e-6) -> np.ndarray:
    """Log amplitude standardised with given statistics; invalid pixels become 0."""
    with np.errstate(invalid="ignore"):
        out = (np.log(np.maximum(image, 0) + eps) - mean) / std
    return np.where(np.isfinite(out), out, 0.0).astype(np.float32)


def blend_window(size: int, overlap: int) -> np.ndarray:
    """1-D weights: a raised-cosine ramp over ``overlap`` pixels at each end, 1 in between (never 0)."""
    w = np.ones(size, dtype=np.float64)
    if overlap > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap) + 0.5) / overlap)
        w[:overlap] = ramp
        w[-overlap:] = ramp[::-1]
    return w


# ----------------------------------------------------------------------------------- model

def lattice_for(model, shape: tuple[int, int], config: InferenceConfig) -> TileLattice:
    """The tile lattice of a scene of ``shape`` for ``model``.

    The overlap is the configured one, else the one measured for the network's weights at export
    (``model.tile_overlap``, `sarflow.scene.context.measure_overlap`), else its theoretical
    receptive field; always at most half a tile.
    """
    overlap = config.overlap if config.overlap is not None else getattr(model, "tile_overlap", None)
    return TileLattice.build(shape, tile_size=config.tile_size, overlap=overlap,
                             receptive_field=int(getattr(model, "receptive_field", 64)),
                             divisor=int(getattr(model, "divisor", 1)))


def prepare_model(model, config: InferenceConfig):
    """The network on the configured device, in evaluation mode and memory format (in place)."""
    import torch

    model = model.to(config.resolved_device()).eval()
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def activation_bytes(model, config: InferenceConfig, tile: tuple[int, int]) -> int:
    """Memory the network needs for one batch of tiles, bytes (an upper estimate).

    Inference frees each feature map once used, so the peak is a few of the widest maps at once.
    Measured over many batches (`benchmarks/bench_scene_memory.py`), CC-ResSiamNet's process grew by
    8.2 times its widest layer output under bfloat16 autocast (the float32 copies autocast keeps
    count too) and about 5 times in float32; 9 times is used, plus the batch's inputs and outputs
    and 64 MB for the convolution library's scratch space.
    """
    import torch

    divisor = int(getattr(model, "divisor", 1))
    side = max(divisor * 2, 32 // divisor * divisor)
    widest = 0

    def hook(module, args, output):
        nonlocal widest
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        for t in outputs:
            if isinstance(t, torch.Tensor):
                widest = max(widest, t.numel() * t.element_size())

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    device = next(model.parameters()).device
    try:
        x = torch.zeros(1, 1, side, side, device=device)
        autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")
        with torch.inference_mode(), autocast:
            model(x, x)
    finally:
        for handle in handles:
            handle.remove()
    per_pixel = widest / (side * side)
    pixels = config.batch_size * tile[0] * tile[1]
    return int(9 * per_pixel * pixels + 4 * 8 * pixels + 64 * 2**20)


# ----------------------------------------------------------------------------------- inference

def predict_block(model, lattice: TileLattice, block: Block, reference: np.ndarray, secondary: np.ndarray, *,
                  statistics: tuple[float, float], config: InferenceConfig = InferenceConfig(),
                  progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """Network offsets inside one block of a scene, from the windows its tiles cover.

    Parameters
    ----------
    model : torch.nn.Module
        A `sarflow.nn` network, already prepared (`prepare_model`).
    lattice : TileLattice
        The scene's tiles.
    block : Block
        The pixels to compute.
    reference, secondary : ndarray, shape ``lattice.span(block).shape``
        Amplitudes over the span of the block's tiles (NaN = nodata, also outside the scene).
    statistics : (mean, std)
        Log-amplitude normalisation of the whole scene.
    progress : callable ``(tiles_done)``, optional
        Called after each batch with the number of tiles it covered (skipped ones included).

    Returns
    -------
    dict
        ``dx``, ``dy`` (block shape, float32, pixels), NaN where either image is invalid;
        ``sigma_dx``, ``sigma_dy`` when the network predicts its uncertainty.
    """
    import torch

    span = lattice.span(block)
    if reference.shape != span.shape or secondary.shape != span.shape:
        raise InputError(f"the windows must cover the block's tiles {span.shape}, got {reference.shape} and "
                         f"{secondary.shape}")
    mean, std = statistics
    if not model.training:
        # The same function with every convolution -> BatchNorm pair folded (one pass less over
        # every feature map); a copy per call, so the caller's network never changes.
        from sarflow.nn.fuse import fold_batch_norms

        model = fold_batch_norms(model)
    th, tw = lattice.tile
    tiles = lattice.tiles_touching(block)
    win = lattice.weights()
    valid_span = np.isfinite(reference) & np.isfinite(secondary)
    # Normalised once over the span (tiles overlap, so per tile would repeat the logarithms).
    reference = normalise_with(reference, mean, std)
    secondary = normalise_with(secondary, mean, std)
    shape = block.shape
    acc = np.zeros((2, *shape), dtype=np.float32)
    acc_var = None
    weight = np.zeros(shape, dtype=np.float32)
    # Calibration fitted at export; 0: the network's own sigma gets no weight (only the prior's).
    sigma_scale = float(getattr(model, "sigma_scale", 1.0))
    device = next(model.parameters()).device
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")
    has_sigma = False
    with torch.inference_mode():
        for start in range(0, len(tiles), config.batch_size):
            chunk = tiles[start : start + config.batch_size]
            # Tiles whose pixels are all invalid are skipped: their output stays NaN.
            local = [(r - span.row0, c - span.col0) for r, c in chunk]
            keep = [k for k, (r, c) in enumerate(local) if valid_span[r : r + th, c : c + tw].any()]
            if keep:
                ref_t = np.stack([reference[local[k][0] : local[k][0] + th, local[k][1] : local[k][1] + tw]
                                  for k in keep])
                sec_t = np.stack([secondary[local[k][0] : local[k][0] + th, local[k][1] : local[k][1] + tw]
                                  for k in keep])
                ref_x = torch.from_numpy(ref_t[:, None]).to(device)
                sec_x = torch.from_numpy(sec_t[:, None]).to(device)
                if config.channels_last:
                    ref_x = ref_x.contiguous(memory_format=torch.channels_last)
                    sec_x = sec_x.contiguous(memory_format=torch.channels_last)
                with autocast:
                    out = model(ref_x, sec_x)
                offsets = out.offsets.float().cpu().numpy()
                has_sigma = has_sigma or out.log_var is not None
                log_var = None if out.log_var is None or sigma_scale == 0 else out.log_var.float().cpu().numpy()
                if log_var is not None and acc_var is None:
                    acc_var = np.zeros((2, *shape), dtype=np.float32)
                for n, k in enumerate(keep):
                    r, c = chunk[k]
                    # The part of the tile inside the block, in tile and in block coordinates.
                    r0, r1 = max(r, block.row0), min(r + th, block.row1)
                    c0, c1 = max(c, block.col0), min(c + tw, block.col1)
                    in_tile = (slice(r0 - r, r1 - r), slice(c0 - c, c1 - c))
                    in_block = (slice(r0 - block.row0, r1 - block.row0), slice(c0 - block.col0, c1 - block.col0))
                    w = win[in_tile]
                    acc[(slice(None), *in_block)] += offsets[n][(slice(None), *in_tile)] * w
                    weight[in_block] += w
                    if log_var is not None:
                        acc_var[(slice(None), *in_block)] += np.exp(log_var[n][(slice(None), *in_tile)]) * w
            if progress is not None:
                progress(len(chunk))
    valid = valid_span[block.slices(span)]
    with np.errstate(invalid="ignore", divide="ignore"):
        result = {"dx": np.where(valid, acc[0] / weight, np.nan).astype(np.float32),
                  "dy": np.where(valid, acc[1] / weight, np.nan).astype(np.float32)}
        if acc_var is not None:
            result["sigma_dx"] = np.where(valid, sigma_scale * np.sqrt(acc_var[0] / weight), np.nan).astype(np.float32)
            result["sigma_dy"] = np.where(valid, sigma_scale * np.sqrt(acc_var[1] / weight), np.nan).astype(np.float32)
        elif has_sigma:  # a sigma the calibration gave no weight: zero (what the scale makes of it)
            result["sigma_dx"] = np.where(valid & (weight > 0), 0.0, np.nan).astype(np.float32)
            result["sigma_dy"] = result["sigma_dx"].copy()
    return result


def predict_offsets(model, reference: np.ndarray, secondary: np.ndarray, *, config: InferenceConfig = InferenceConfig(),
                    statistics: tuple[float, float] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """Dense offsets of an in-memory pair from a network, tile by tile.

    Parameters
    ----------
    model : torch.nn.Module
        A `sarflow.nn` network (``forward(reference, secondary) -> FlowOutput``); moved to the
        configured device and memory format in place.
    reference, secondary : ndarray, shape (H, W)
        Amplitude images, NaN = nodata.
    statistics : (mean, std), optional
        Log-amplitude normalisation; computed from both images when None.
    progress : callable ``(done, total)``, optional
        Tiles done and in all.

    Returns
    -------
    dict
        ``dx``, ``dy`` (H, W) float32 in pixels, NaN where either image is invalid; ``sigma_dx``,
        ``sigma_dy`` (1-sigma, pixels) when the network predicts its uncertainty.
    """
    from sarflow.scene.blocks import ArraySource

    if reference.shape != secondary.shape or reference.ndim != 2:
        raise InputError(f"reference and secondary must be 2-D images of one shape, got {reference.shape} "
                         f"and {secondary.shape}")
    statistics = statistics if statistics is not None else log_statistics(reference, secondary)
    model = prepare_model(model, config)
    lattice = lattice_for(model, reference.shape, config)
    block = Block(0, reference.shape[0], 0, reference.shape[1])
    span = lattice.span(block)
    windows = [ArraySource(a).read(span.row0, span.row1, span.col0, span.col1) for a in (reference, secondary)]
    return predict_block(model, lattice, block, windows[0], windows[1], statistics=statistics, config=config,
                         progress=tile_counter(progress, lattice.count))


def tile_counter(progress: Callable[[int, int], None] | None, total: int) -> Callable[[int], None]:
    """A per-batch callback ``(tiles)`` that reports ``(tiles done so far, total)`` to ``progress``."""
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    return advance
