"""Dense offsets of a raster pair from a network: the job behind ``sarflow predict``.

Motion larger than the network handles (fast glaciers, tens of pixels) is taken in two steps: a
coarse pass of the multi-kernel tracker gives a prior field, the secondary is resampled onto the
reference by that prior, the network measures the residual, and the two are added.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sarflow._version import __version__
from sarflow.errors import InputError
from sarflow.io.products import OffsetProduct, grid_transform, write_offsets
from sarflow.io.rasters import open_pair

__all__ = ["predict", "coarse_prior", "warp_by_prior", "predict_arrays"]


def coarse_prior(reference: np.ndarray, secondary: np.ndarray, *, search_radius: int, step: int = 32,
                 chip_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A smooth per-pixel prior from a coarse multi-kernel tracking pass (NaN-free where the scene is valid).

    Rejected points are filled from their neighbours; the field is median-filtered, then interpolated
    bilinearly to every pixel.
    """
    from scipy import ndimage

    from sarflow.tracking import TrackConfig, track_offsets
    from sarflow.training.tiles import offsets_to_pixels

    h, w = reference.shape
    chip = min(chip_size, (min(h, w) // 2) // 2 * 2)
    config = TrackConfig(chip_sizes=(chip, 2 * chip) if 2 * chip <= min(h, w) else (chip,), step=step,
                         search_radius=search_radius, median_test=True)
    result = track_offsets(reference, secondary, config=config)
    fields = []
    for band in (result.dx, result.dy):
        fields.append(ndimage.median_filter(_fill_nearest(band), size=3, mode="nearest").astype(np.float32))
    pdx, pdy = offsets_to_pixels(fields[0], fields[1], row0=result.row0, col0=result.col0, step=result.step,
                                 shape=(h, w))
    # Outside the grid's hull: the nearest value.
    pdx, pdy = _fill_nearest(pdx), _fill_nearest(pdy)
    return pdx, pdy


def _fill_nearest(band: np.ndarray) -> np.ndarray:
    """NaNs replaced by the nearest finite value (zeros where there is none at all)."""
    from scipy import ndimage

    invalid = ~np.isfinite(band)
    if not invalid.any():
        return band
    if invalid.all():
        return np.zeros_like(band)
    idx = ndimage.distance_transform_edt(invalid, return_distances=False, return_indices=True)
    out = band.copy()
    out[invalid] = band[tuple(i[invalid] for i in idx)]
    return out


def warp_by_prior(secondary: np.ndarray, prior_dx: np.ndarray, prior_dy: np.ndarray) -> np.ndarray:
    """The secondary resampled onto the reference grid by the prior: ``out(r, c) = sec(r + dy, c + dx)``."""
    import cv2

    h, w = secondary.shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    valid = np.isfinite(secondary)
    filled = np.where(valid, secondary, 0).astype(np.float32)
    map_c, map_r = cols + prior_dx.astype(np.float32), rows + prior_dy.astype(np.float32)
    out = cv2.remap(filled, map_c, map_r, cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))
    mask = cv2.remap(valid.astype(np.float32), map_c, map_r, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=0.0)
    out[mask < 0.999] = np.nan
    return np.maximum(out, 0)


def predict_arrays(model, reference: np.ndarray, secondary: np.ndarray, *, config=None, prior: str = "auto",
                   prior_threshold_px: float = 3.0, search_radius: int = 64,
                   progress: Callable[[int, int], None] | None = None) -> dict:
    """Network offsets of an in-memory pair, with the coarse-prior route for large motion.

    Parameters
    ----------
    prior : {"auto", "always", "none"}
        ``auto`` runs the coarse tracker and uses it when its largest offset exceeds
        ``prior_threshold_px``.

    Returns
    -------
    dict with ``dx``, ``dy`` (and ``sigma_dx``, ``sigma_dy``), ``prior_used`` (bool).
    """
    from sarflow.scene.inference import InferenceConfig, log_statistics, predict_offsets

    if prior not in ("auto", "always", "none"):
        raise InputError(f"prior must be 'auto', 'always' or 'none', got {prior!r}")
    config = config or InferenceConfig()
    stats = log_statistics(reference, secondary)
    pdx = pdy = None
    if prior != "none":
        pdx, pdy = coarse_prior(reference, secondary, search_radius=search_radius)
        if prior == "auto" and float(np.nanmax(np.hypot(pdx, pdy))) < prior_threshold_px:
            pdx = pdy = None
    target = secondary if pdx is None else warp_by_prior(secondary, pdx, pdy)
    out = predict_offsets(model, reference, target, config=config, statistics=stats, progress=progress)
    if pdx is not None:
        out["dx"] = out["dx"] + pdx
        out["dy"] = out["dy"] + pdy
    out["prior_used"] = pdx is not None
    return out


def predict(reference: str | Path, secondary: str | Path, output: str | Path, *, model: str = "ccressiamnet",
            config=None, prior: str = "auto", search_radius: int = 64, band: int = 1, netcdf: bool = False,
            progress: Callable[[int, int], None] | None = None) -> OffsetProduct:
    """Dense (per-pixel) offsets of a raster pair from a network, written as an offsets product.

    Bands: ``dx``, ``dy`` (pixels), ``sigma_dx``, ``sigma_dy`` (1-sigma uncertainty, pixels) when
    the network predicts it. NaN where either image is nodata.
    """
    from sarflow.models import load_model
    from sarflow.scene.inference import InferenceConfig

    config = config or InferenceConfig()
    output = Path(output)
    if output.suffix.lower() not in (".tif", ".tiff", ".nc"):
        raise InputError(f"{output}: the output must end in .tif or .nc")
    start = time.perf_counter()
    ref, sec = open_pair(reference, secondary, band=band)
    import torch

    device = "cuda" if config.device == "auto" and torch.cuda.is_available() else (
        "cpu" if config.device == "auto" else config.device)
    net = load_model(model, device=device)
    out = predict_arrays(net, ref.data, sec.data, config=config, prior=prior, search_radius=search_radius,
                         progress=progress)
    quality = {k: out[k] for k in ("sigma_dx", "sigma_dy") if k in out}
    product = OffsetProduct(
        dx=out["dx"], dy=out["dy"], quality=quality,
        transform=grid_transform(ref.transform, row0=0, col0=0, step=1), crs=ref.crs,
        metadata={
            "method": f"sarflow.predict: network {model}",
            "parameters": {"inference": config.__dict__, "prior": prior, "prior_used": bool(out["prior_used"]),
                           "search_radius": search_radius},
            "reference": str(reference), "secondary": str(secondary), "sarflow_version": __version__,
            "elapsed_s": f"{time.perf_counter() - start:.3f}",
        },
    )
    write_offsets(product, output)
    if netcdf and output.suffix.lower() != ".nc":
        write_offsets(product, output.with_suffix(".nc"))
    return product
