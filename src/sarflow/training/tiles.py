"""Tile datasets on disk: real image pairs with labels, for training and validation.

Two ways to label real pairs, as a user with real imagery would:

``track``
    The paper's route: the pair's offsets measured by the multi-kernel tracker, resampled from its
    grid to every pixel; points the tracker rejected, or whose error estimate exceeds
    ``max_sigma_px``, are masked out of the loss.
``simulate``
    The pair's reference amplitude serves as backscatter and a random synthetic motion (drawn from a
    `SyntheticRecipe`) moves it: real texture, exact truth.

A dataset is one HDF5 file with datasets ``reference``, ``secondary`` (N, P, P) float32 (NaN =
nodata), ``target`` (N, 2, P, P) float32 and ``mask`` (N, P, P) uint8, and attributes describing how
it was made.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sarflow._version import __version__
from sarflow.errors import InputError, RasterFormatError
from sarflow.io.atomic import atomic_path

__all__ = ["read_pair_list", "make_dataset", "load_tiles", "TileBatches", "DatasetSummary", "offsets_to_pixels"]


def read_pair_list(path: str | Path) -> list[tuple[str, str]]:
    """Pairs from a text or CSV file: one ``reference,secondary`` (or whitespace separated) per line.

    Relative paths are taken relative to the list file; ``#`` starts a comment; a header line
    ``reference,secondary`` is skipped.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such pair list")
    pairs = []
    with open(path, newline="") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            line = ",".join(row).split("#", 1)[0].strip()
            if not line:
                continue
            parts = [p.strip() for p in (line.split(",") if "," in line else line.split())]
            parts = [p for p in parts if p]
            if [p.lower() for p in parts] == ["reference", "secondary"]:
                continue
            if len(parts) != 2:
                raise InputError(f"{path}:{number}: expected 'reference,secondary', got {line!r}")
            resolved = [str(p if Path(p).is_absolute() or ":/" in p else path.parent / p) for p in parts]
            pairs.append((resolved[0], resolved[1]))
    if not pairs:
        raise InputError(f"{path}: lists no pair")
    return pairs


def offsets_to_pixels(dx: np.ndarray, dy: np.ndarray, *, row0: int, col0: int, step: int,
                      shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear resampling of grid offsets (point (i, j) at pixel (row0 + i step, col0 + j step)) to every pixel.

    NaN where any of the four surrounding grid points is NaN, and outside the grid's hull.
    """
    import cv2

    h, w = shape
    rows = (np.arange(h, dtype=np.float32) - row0) / step
    cols = (np.arange(w, dtype=np.float32) - col0) / step
    map_r = np.broadcast_to(rows[:, None], (h, w)).astype(np.float32)
    map_c = np.broadcast_to(cols[None, :], (h, w)).astype(np.float32)
    # Replicate at the border (an exact grid point on the last row/column keeps its value), then blank
    # everything outside the grid's hull.
    outside = (map_r < 0) | (map_r > dx.shape[0] - 1) | (map_c < 0) | (map_c > dx.shape[1] - 1)
    out = []
    for band in (dx, dy):
        res = cv2.remap(np.ascontiguousarray(band, dtype=np.float32), map_c, map_r, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
        res[outside] = np.nan
        out.append(res)
    return out[0], out[1]


@dataclass
class DatasetSummary:
    path: Path
    tiles: int
    pairs: int
    labels: str
    valid_share: float


def _tiles(shape, size, stride):
    h, w = shape
    if h < size or w < size:
        return []
    rows = list(range(0, h - size + 1, stride))
    cols = list(range(0, w - size + 1, stride))
    if rows[-1] != h - size:
        rows.append(h - size)
    if cols[-1] != w - size:
        cols.append(w - size)
    return [(r, c) for r in rows for c in cols]


def make_dataset(pairs: list[tuple[str, str]], output: str | Path, *, labels: str = "track", tile_size: int = 256,
                 stride: int | None = None, min_valid: float = 0.5, track_config=None, max_sigma_px: float = 0.5,
                 recipe=None, seed: int = 0, progress=None) -> DatasetSummary:
    """Cut labelled tiles from real image pairs into one HDF5 dataset.

    Parameters
    ----------
    pairs : list of (reference, secondary)
    output : path
        ``.h5`` file, written atomically.
    labels : {"track", "simulate"}
    tile_size, stride : int
        Tile size and spacing in pixels (stride defaults to the tile size).
    min_valid : float
        Smallest share of labelled pixels for a tile to be kept.
    track_config : TrackConfig, optional
        Tracker settings for ``labels="track"`` (its step sets the label resolution); chips larger
        than a pair's image are left out for that pair.
    max_sigma_px : float
        Tracker points with a larger error estimate are not used as labels.
    recipe : SyntheticRecipe, optional
        Motion distribution for ``labels="simulate"``.
    """
    import h5py

    from sarflow.io.rasters import open_pair

    if labels not in ("track", "simulate"):
        raise InputError(f"labels must be 'track' or 'simulate', got {labels!r}")
    stride = stride or tile_size
    out = {"reference": [], "secondary": [], "target": [], "mask": []}
    rng = np.random.default_rng(seed)
    for k, (ref_path, sec_path) in enumerate(pairs):
        ref, sec = open_pair(ref_path, sec_path)
        if labels == "track":
            ref_img, sec_img, target, mask = _label_by_tracking(ref.data, sec.data, track_config, max_sigma_px)
        else:
            ref_img, sec_img, target, mask = _label_by_simulation(ref.data, recipe, int(rng.integers(1 << 62)))
        for r, c in _tiles(ref_img.shape, tile_size, stride):
            win = (slice(r, r + tile_size), slice(c, c + tile_size))
            m = mask[win]
            if m.mean() < min_valid:
                continue
            out["reference"].append(ref_img[win])
            out["secondary"].append(sec_img[win])
            out["target"].append(target[(slice(None), *win)])
            out["mask"].append(m.astype(np.uint8))
        if progress is not None:
            progress(k + 1, len(pairs))
    if not out["reference"]:
        raise InputError("no tile had enough labelled pixels; lower min_valid or tile_size, or check the pairs")
    output = Path(output)
    with atomic_path(output) as tmp:
        with h5py.File(tmp, "w") as f:
            for name, arrays in out.items():
                f.create_dataset(name, data=np.stack(arrays), compression="gzip", compression_opts=4,
                                 chunks=(1, *np.shape(arrays[0])))
            f.attrs["labels"] = labels
            f.attrs["pairs"] = json.dumps([list(p) for p in pairs])
            f.attrs["tile_size"] = tile_size
            f.attrs["sarflow_version"] = __version__
            if track_config is not None:
                f.attrs["track_config"] = json.dumps(track_config.to_dict())
            if recipe is not None:
                f.attrs["recipe"] = json.dumps(recipe.to_dict())
    valid = float(np.mean([m.mean() for m in out["mask"]]))
    return DatasetSummary(path=output, tiles=len(out["reference"]), pairs=len(pairs), labels=labels,
                          valid_share=valid)


def _label_by_tracking(reference, secondary, track_config, max_sigma_px):
    from sarflow.tracking import TrackConfig, track_offsets

    config = track_config or TrackConfig(step=4)
    # Chips larger than this pair's image are left out for it (a small pair keeps the chips that fit).
    fitting = tuple(c for c in config.chip_sizes if c <= min(reference.shape))
    if fitting and fitting != tuple(config.chip_sizes):
        config = replace(config, chip_sizes=fitting)
    result = track_offsets(reference, secondary, config=config)
    good = np.isfinite(result.dx) & (result.quality["sigma_px"] <= max_sigma_px)
    dx = np.where(good, result.dx, np.nan)
    dy = np.where(good, result.dy, np.nan)
    pdx, pdy = offsets_to_pixels(dx, dy, row0=result.row0, col0=result.col0, step=result.step,
                                 shape=reference.shape)
    target = np.stack([pdx, pdy]).astype(np.float32)
    mask = np.isfinite(target).all(axis=0) & np.isfinite(reference) & np.isfinite(secondary)
    return reference, secondary, np.nan_to_num(target), mask


def _label_by_simulation(reference, recipe, seed):
    from sarflow.simulation.pair import simulate_pair
    from sarflow.simulation.textures import texture_from_image
    from sarflow.training.synthetic import SyntheticRecipe, _make_field

    recipe = recipe or SyntheticRecipe()
    rng = np.random.default_rng(seed)
    shape = reference.shape
    kind = str(rng.choice(["smooth", "glacier", "fault", "volcano", "landslide"]))
    field, _ = _make_field(kind, rng, recipe, min(shape))
    texture = texture_from_image(reference, shape)
    pair = simulate_pair(field, shape=shape, texture=texture, seed=int(rng.integers(1 << 62)), exact_motion=False)
    target = np.stack([pair.dx, pair.dy]).astype(np.float32)
    mask = np.isfinite(reference) & np.isfinite(pair.secondary)
    ref_img = np.where(np.isfinite(reference), pair.reference, np.nan).astype(np.float32)
    return ref_img, pair.secondary, target, mask


def load_tiles(path: str | Path) -> dict:
    """Open a tile dataset; returns a dict with the h5py datasets' lengths checked (lazy reading)."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise RasterFormatError(f"{path}: no such tile dataset")
    try:
        with h5py.File(path, "r") as f:
            n = f["reference"].shape[0]
            for name in ("secondary", "target", "mask"):
                if f[name].shape[0] != n:
                    raise RasterFormatError(f"{path}: {name} holds {f[name].shape[0]} tiles, reference {n}")
            return {"path": str(path), "count": int(n), "tile_size": int(f["reference"].shape[-1])}
    except (OSError, KeyError) as exc:
        raise RasterFormatError(f"{path}: not a sarflow tile dataset ({exc})") from exc


def read_tiles(path: str | Path, indices) -> dict:
    """Tiles ``indices`` as torch tensors: reference, secondary (B,1,P,P), target (B,2,P,P), mask (B,1,P,P)."""
    import h5py
    import torch

    indices = np.asarray(indices)
    order = np.argsort(indices)
    with h5py.File(path, "r") as f:
        sorted_idx = indices[order]
        parts = {name: f[name][np.unique(sorted_idx)] for name in ("reference", "secondary", "target", "mask")}
    # h5py needs increasing unique indices; restore the requested order (with repeats).
    uniq = np.unique(sorted_idx)
    where = np.searchsorted(uniq, indices)
    return {
        "reference": torch.from_numpy(parts["reference"][where][:, None].astype(np.float32)),
        "secondary": torch.from_numpy(parts["secondary"][where][:, None].astype(np.float32)),
        "target": torch.from_numpy(parts["target"][where].astype(np.float32)),
        "mask": torch.from_numpy(parts["mask"][where][:, None].astype(bool)),
    }


class TileBatches:
    """Batch ``k`` of a run drawn from a tile dataset (the first ``skip`` tiles are kept for validation)."""

    def __init__(self, tiles: dict, seed: int, batch_size: int, start: int, stop: int, *, skip: int = 0):
        if tiles["count"] <= skip:
            raise InputError(f"the tile dataset holds {tiles['count']} tiles, not more than the {skip} kept for "
                             "validation; make a larger dataset or lower validation_size")
        self.tiles, self.seed, self.batch_size, self.start, self.stop, self.skip = tiles, seed, batch_size, start, stop, skip

    def __len__(self):
        return self.stop - self.start

    def __getitem__(self, k):
        rng = np.random.default_rng([self.seed, self.start + k, 0x711E])
        idx = rng.integers(self.skip, self.tiles["count"], size=self.batch_size)
        return read_tiles(self.tiles["path"], idx)
