"""Tiled network inference over images of any size, with smooth blending of overlapping tiles.

Tiles overlap by at least the network's receptive field, and each tile's prediction is weighted by a
window that is flat in the middle and falls smoothly to zero over the overlap, so seams do not show
and, away from the scene's edges, the blended result equals what one tile covering everything would
give. The images are normalised once with statistics of the whole scene (not per tile), so every
tile sees the same scaling.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from sarflow.errors import InputError

__all__ = ["InferenceConfig", "log_statistics", "normalise_with", "blend_window", "predict_offsets"]


@dataclass(frozen=True)
class InferenceConfig:
    """Tiling and numerics of network inference.

    Attributes
    ----------
    tile_size : int
        Tile side in pixels (the network sees tiles of this size).
    overlap : int or None
        Overlap between neighbouring tiles in pixels; None uses the network's receptive field
        (capped at half a tile).
    batch_size : int
        Tiles per forward pass.
    precision : {"bf16", "fp32"}
        bfloat16 autocast or float32.
    channels_last : bool
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    """

    tile_size: int = 512
    overlap: int | None = None
    batch_size: int = 4
    precision: str = "bf16"
    channels_last: bool = True
    device: str = "auto"

    def __post_init__(self):
        if self.tile_size < 32:
            raise InputError(f"tile_size must be at least 32, got {self.tile_size}")
        if self.overlap is not None and not 0 <= self.overlap < self.tile_size // 2 + 1:
            raise InputError(f"overlap must lie in [0, tile_size / 2], got {self.overlap}")
        if self.precision not in ("bf16", "fp32"):
            raise InputError(f"precision must be 'bf16' or 'fp32', got {self.precision!r}")


def log_statistics(*images: np.ndarray, eps: float = 1e-6) -> tuple[float, float]:
    """Mean and standard deviation of log amplitude over the valid pixels of all images together."""
    total, total_sq, count = 0.0, 0.0, 0
    for image in images:
        for rows in range(0, image.shape[0], 1024):
            block = image[rows : rows + 1024]
            valid = np.isfinite(block)
            values = np.log(np.maximum(block[valid].astype(np.float64), 0) + eps)
            total += values.sum()
            total_sq += (values**2).sum()
            count += values.size
    if count == 0:
        raise InputError("no valid pixel to normalise")
    mean = total / count
    std = math.sqrt(max(total_sq / count - mean * mean, 1e-12))
    return float(mean), float(std)


def normalise_with(image: np.ndarray, mean: float, std: float, eps: float = 1e-6) -> np.ndarray:
    """Log amplitude standardised with given statistics; invalid pixels become 0."""
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


def _tiling(length: int, tile: int, overlap: int, divisor: int) -> tuple[list[int], int]:
    """Tile starts along one axis and the padded length they cover.

    Starts are multiples of the network's ``divisor`` (its strided layers then see every tile on the
    same sampling lattice as the whole scene), at most ``tile - overlap`` apart.
    """
    if length <= tile:
        return [0], tile
    stride = max(divisor, (tile - overlap) // divisor * divisor)
    count = -(-(length - tile) // stride) + 1
    return [k * stride for k in range(count)], (count - 1) * stride + tile


def predict_offsets(model, reference: np.ndarray, secondary: np.ndarray, *, config: InferenceConfig = InferenceConfig(),
                    statistics: tuple[float, float] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """Dense offsets of a pair from a network, tile by tile.

    Parameters
    ----------
    model : torch.nn.Module
        A `sarflow.nn` network (``forward(reference, secondary) -> FlowOutput``).
    reference, secondary : ndarray, shape (H, W)
        Amplitude images, NaN = nodata.
    statistics : (mean, std), optional
        Log-amplitude normalisation; computed from both images when None.

    Returns
    -------
    dict
        ``dx``, ``dy`` (H, W) float32 in pixels, NaN where either image is invalid; ``sigma_dx``,
        ``sigma_dy`` (1-sigma, pixels) when the network predicts its uncertainty.
    """
    if reference.shape != secondary.shape or reference.ndim != 2:
        raise InputError(f"reference and secondary must be 2-D images of one shape, got {reference.shape} "
                         f"and {secondary.shape}")
    device = torch.device("cuda" if config.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if config.device == "auto" else config.device))
    h, w = reference.shape
    mean, std = statistics if statistics is not None else log_statistics(reference, secondary)
    valid = np.isfinite(reference) & np.isfinite(secondary)
    receptive = int(getattr(model, "receptive_field", 64))
    divisor = int(getattr(model, "divisor", 1))
    tile = max(divisor, config.tile_size // divisor * divisor)
    overlap = config.overlap if config.overlap is not None else min(receptive, tile // 2)
    overlap = min(overlap, tile // 2)
    row_starts, hp = _tiling(h, tile, overlap, divisor)
    col_starts, wp = _tiling(w, tile, overlap, divisor)
    th, tw = (tile if len(row_starts) > 1 else h), (tile if len(col_starts) > 1 else w)
    hp, wp = max(hp, h) if len(row_starts) > 1 else h, max(wp, w) if len(col_starts) > 1 else w
    if (hp, wp) != (h, w):
        # Pad with nodata so every tile has the full size (nodata reads as 0 after normalisation).
        reference = np.pad(reference, ((0, hp - h), (0, wp - w)), constant_values=np.nan)
        secondary = np.pad(secondary, ((0, hp - h), (0, wp - w)), constant_values=np.nan)
    valid_padded = np.isfinite(reference) & np.isfinite(secondary)
    boxes = [(r, c) for r in row_starts for c in col_starts]
    win = np.outer(blend_window(th, overlap if len(row_starts) > 1 else 0),
                   blend_window(tw, overlap if len(col_starts) > 1 else 0)).astype(np.float32)
    acc = np.zeros((2, hp, wp), dtype=np.float64)
    acc_var = None
    weight = np.zeros((hp, wp), dtype=np.float64)
    model = model.to(device).eval()
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")
    with torch.inference_mode():
        for start in range(0, len(boxes), config.batch_size):
            chunk = boxes[start : start + config.batch_size]
            # Tiles whose pixels are all invalid are skipped: their output stays NaN.
            chunk = [(r, c) for r, c in chunk if valid_padded[r : r + th, c : c + tw].any()]
            if chunk:
                ref_t = np.stack([normalise_with(reference[r : r + th, c : c + tw], mean, std) for r, c in chunk])
                sec_t = np.stack([normalise_with(secondary[r : r + th, c : c + tw], mean, std) for r, c in chunk])
                ref_x = torch.from_numpy(ref_t[:, None]).to(device)
                sec_x = torch.from_numpy(sec_t[:, None]).to(device)
                if config.channels_last:
                    ref_x = ref_x.contiguous(memory_format=torch.channels_last)
                    sec_x = sec_x.contiguous(memory_format=torch.channels_last)
                with autocast:
                    out = model(ref_x, sec_x)
                offsets = out.offsets.float().cpu().numpy()
                log_var = None if out.log_var is None else out.log_var.float().cpu().numpy()
                if log_var is not None and acc_var is None:
                    acc_var = np.zeros((2, hp, wp), dtype=np.float64)
                for k, (r, c) in enumerate(chunk):
                    sl = (slice(r, r + th), slice(c, c + tw))
                    acc[(slice(None), *sl)] += offsets[k] * win
                    weight[sl] += win
                    if log_var is not None:
                        acc_var[(slice(None), *sl)] += np.exp(log_var[k]) * win
            if progress is not None:
                progress(min(start + config.batch_size, len(boxes)), len(boxes))
    acc, weight = acc[:, :h, :w], weight[:h, :w]
    if acc_var is not None:
        acc_var = acc_var[:, :h, :w]
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = (acc[0] / weight).astype(np.float32)
        dy = (acc[1] / weight).astype(np.float32)
    dx[~valid] = np.nan
    dy[~valid] = np.nan
    result = {"dx": dx, "dy": dy}
    if acc_var is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            result["sigma_dx"] = np.where(valid, np.sqrt(acc_var[0] / weight), np.nan).astype(np.float32)
            result["sigma_dy"] = np.where(valid, np.sqrt(acc_var[1] / weight), np.nan).astype(np.float32)
    return result
