"""Score an offsets product from files: the job behind ``sarflow evaluate``.

Three kinds of reference, one set of figures (see `sarflow.evaluation.evaluate_offsets`):

* a truth raster (bands ``dx``, ``dy``, e.g. ``truth.tif`` of ``sarflow simulate``): errors;
* a second estimate (``against``): their agreement, for real data without truth;
* a mask of stable ground (``stable``): the offsets there, which should be zero.

Grids need not match: the reference is sampled at the estimate's points, which both rasters'
transforms locate (an estimate on a step-8 grid against a per-pixel truth reads the truth at the
centre of each estimate's pixel). Rasters must share a CRS, or all be in the reference image's
pixel coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine

from sarflow.errors import GridMismatchError, InputError, NoValidDataError, RasterFormatError
from sarflow.evaluation import (
    check_same_crs,
    compare_estimates,
    evaluate_offsets,
    grid_bounds,
    sample_onto,
    stable_ground_statistics,
)
from sarflow.io.products import OffsetProduct, read_offsets

__all__ = ["evaluate", "evaluate_products", "read_product", "read_mask", "sample_product", "mask_on_grid",
           "product_sigma", "MaskGrid"]


@dataclass(frozen=True)
class MaskGrid:
    """A mask raster with the grid that places it.

    Attributes
    ----------
    values : ndarray, shape (H, W), float64
        1 inside, 0 outside, NaN where the raster has no data.
    transform : Affine
        Cell-corner to map (or pixel) coordinates; the identity when the raster has none.
    crs : rasterio CRS or None
    source : str
    georeferenced : bool
        False when the raster carries no transform (it is then placed by its shape).
    """

    values: np.ndarray
    transform: Affine
    crs: object | None
    source: str
    georeferenced: bool


def read_product(path: str | Path, *, role: str) -> OffsetProduct:
    """Read an offsets product (or truth raster) and refuse one with no finite offset.

    Raises
    ------
    RasterFormatError
        Missing file, unreadable raster, no bands described ``dx`` and ``dy``; the message starts
        with ``role``.
    NoValidDataError
        Every ``dx`` / ``dy`` value is NaN.
    """
    try:
        product = read_offsets(path)
    except RasterFormatError as exc:
        raise RasterFormatError(f"{role}: {exc}") from exc
    if not (np.isfinite(product.dx) & np.isfinite(product.dy)).any():
        raise NoValidDataError(f"{role} {path} has no valid offset (dx, dy are NaN everywhere)")
    return product


def read_mask(path: str | Path, *, role: str = "mask") -> MaskGrid:
    """Read a mask raster: non-zero = inside, zero = outside, nodata = neither."""
    from sarflow.io.rasters import read_raster

    try:
        raster = read_raster(path)
    except RasterFormatError as exc:
        raise RasterFormatError(f"{role}: {exc}") from exc
    data = raster.data.astype(np.float64)
    values = np.where(np.isfinite(data), (data != 0).astype(np.float64), np.nan)
    if not np.isfinite(values).any():
        raise NoValidDataError(f"{role} {path} has no valid pixel (all nodata)")
    georef = raster.transform is not None
    return MaskGrid(values, raster.transform if georef else Affine.identity(), raster.crs, str(path),
                    georeferenced=georef)


def _bounds_text(transform, shape) -> str:
    xmin, ymin, xmax, ymax = grid_bounds(transform, shape)
    return f"x {xmin:.10g} to {xmax:.10g}, y {ymin:.10g} to {ymax:.10g}"


def sample_product(source: OffsetProduct, onto: OffsetProduct, *, source_name: str, onto_name: str
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``dx``, ``dy`` of ``source`` at the points of ``onto`` (bilinear; NaN outside ``source``).

    Raises
    ------
    GridMismatchError
        Different CRS, or no point of ``onto`` inside ``source``.
    """
    check_same_crs(onto.crs, source.crs, name_a=onto_name, name_b=source_name)
    dx, inside = sample_onto(source.dx, source.transform, onto.transform, onto.shape)
    if not inside.any():
        raise GridMismatchError(
            f"{onto_name} and {source_name} do not overlap: {onto_name} covers "
            f"{_bounds_text(onto.transform, onto.shape)}; {source_name} covers "
            f"{_bounds_text(source.transform, source.shape)}"
        )
    dy, _ = sample_onto(source.dy, source.transform, onto.transform, onto.shape)
    return dx, dy


def mask_on_grid(mask: MaskGrid, onto: OffsetProduct, *, onto_name: str, role: str,
                 grids: tuple[tuple[tuple[int, int], Affine], ...] = ()) -> np.ndarray:
    """The mask at the points of ``onto`` (nearest cell; NaN outside the mask raster).

    A georeferenced mask is placed by its transform (its CRS must be ``onto``'s). One without
    georeferencing lies on the first of ``grids`` (``(shape, transform)`` pairs, e.g. the truth's or
    the reference image's) or of ``onto`` with its shape, else on the reference image's pixels
    where ``onto`` has no CRS either.
    """
    if mask.georeferenced:
        check_same_crs(onto.crs, mask.crs, name_a=onto_name, name_b=f"{role} {mask.source}")
        transform = mask.transform
    else:
        same = [t for shape, t in (*grids, (onto.shape, onto.transform)) if tuple(shape) == mask.values.shape]
        if same:
            transform = same[0]
        elif onto.crs is None:
            transform = mask.transform
        else:
            raise GridMismatchError(
                f"{role} {mask.source} has no georeferencing and its shape {mask.values.shape} matches no grid "
                f"it could lie on ({onto_name} is {onto.shape[0]} x {onto.shape[1]}); give it the transform and CRS "
                "of the estimate or of the reference image"
            )
    values, inside = sample_onto(mask.values, transform, onto.transform, onto.shape, method="nearest")
    if not inside.any():
        raise GridMismatchError(f"{role} {mask.source} does not overlap {onto_name}")
    return values


def product_sigma(product: OffsetProduct) -> tuple[np.ndarray, np.ndarray] | None:
    """1-sigma uncertainty of each component, pixels: ``sigma_dx`` / ``sigma_dy`` or ``sigma_px``."""
    q = product.quality
    if "sigma_dx" in q and "sigma_dy" in q:
        return q["sigma_dx"], q["sigma_dy"]
    if "sigma_px" in q:
        return q["sigma_px"], q["sigma_px"]
    return None


def evaluate_products(estimate: OffsetProduct, truth: OffsetProduct | None = None, *,
                      second: OffsetProduct | None = None, mask: MaskGrid | None = None,
                      stable: MaskGrid | None = None, names: dict[str, str] | None = None,
                      grids: tuple[tuple[tuple[int, int], Affine], ...] = ()) -> dict:
    """Metrics of an in-memory estimate against a truth, a second estimate, or stable ground.

    Parameters
    ----------
    estimate : OffsetProduct
    truth : OffsetProduct, optional
        Sampled at the estimate's points.
    second : OffsetProduct, optional
        Instead of a truth: another estimate of the same pair (agreement figures).
    mask : MaskGrid, optional
        Inside (e.g. moving ground) / outside breakdown.
    stable : MaskGrid, optional
        Stable ground: adds ``stable_ground`` (and ``stable_ground_second``); with neither truth nor
        second, these are the main figures.
    names : dict, optional
        Names for messages: keys ``estimate``, ``truth``, ``second``.
    grids : tuple of (shape, transform), optional
        Grids besides the truth's that masks without georeferencing may lie on (see `mask_on_grid`).

    Returns
    -------
    dict
        ``compared_with`` (``truth``, ``second estimate`` or ``zero offsets on stable ground``),
        the figures of `sarflow.evaluation.evaluate_offsets` (or `compare_estimates`, or
        `stable_ground_statistics`), ``calibration`` when the estimate has a sigma band and a truth
        is given, ``stable_ground`` when asked for.
    """
    names = {"estimate": "estimate", "truth": "truth", "second": "second estimate", **(names or {})}
    if truth is not None and second is not None:
        raise InputError("give a truth or a second estimate, not both")
    if truth is None and second is None and stable is None:
        raise InputError("nothing to evaluate against: give a truth, a second estimate or a stable-ground mask")
    est_name = names["estimate"]
    grids = (*(((truth.shape, truth.transform),) if truth is not None else ()), *grids)
    mask_values = None if mask is None else mask_on_grid(mask, estimate, onto_name=est_name, role="mask",
                                                         grids=grids)
    stable_values = None if stable is None else mask_on_grid(stable, estimate, onto_name=est_name,
                                                             role="stable mask", grids=grids)
    if stable_values is not None and not (stable_values == 1).any():
        raise InputError(f"stable mask {stable.source} marks no point of {est_name} as stable ground")
    if truth is not None:
        tdx, tdy = sample_product(truth, estimate, source_name=names["truth"], onto_name=est_name)
        both = np.isfinite(tdx) & np.isfinite(tdy) & np.isfinite(estimate.dx) & np.isfinite(estimate.dy)
        if not both.any():
            raise NoValidDataError(f"no point where both {est_name} and {names['truth']} have a value")
        sigma = product_sigma(estimate)
        out = {"compared_with": "truth",
               **evaluate_offsets(estimate.dx, estimate.dy, tdx, tdy, mask=mask_values,
                                  sigma_dx=None if sigma is None else sigma[0],
                                  sigma_dy=None if sigma is None else sigma[1])}
    elif second is not None:
        sdx, sdy = sample_product(second, estimate, source_name=names["second"], onto_name=est_name)
        both = np.isfinite(sdx) & np.isfinite(sdy) & np.isfinite(estimate.dx) & np.isfinite(estimate.dy)
        if not both.any():
            raise NoValidDataError(f"no point where both {est_name} and {names['second']} have a value")
        out = {"compared_with": "second estimate",
               **compare_estimates(estimate.dx, estimate.dy, sdx, sdy, mask=mask_values)}
    else:
        out = {"compared_with": "zero offsets on stable ground",
               **stable_ground_statistics(estimate.dx, estimate.dy, stable_values)}
        if mask_values is not None:
            zero = np.where(stable_values == 1, 0.0, np.nan)
            out["mask"] = evaluate_offsets(estimate.dx, estimate.dy, zero, zero, mask=mask_values,
                                           bands=None)["mask"]
        return out
    if stable_values is not None:
        out["stable_ground"] = stable_ground_statistics(estimate.dx, estimate.dy, stable_values)
        if second is not None:
            on_second = mask_on_grid(stable, second, onto_name=names["second"], role="stable mask", grids=grids)
            out["stable_ground_second"] = stable_ground_statistics(second.dx, second.dy, on_second)
    return out


def evaluate(estimate_path: str | Path, truth_path: str | Path | None = None, *, mask: str | Path | None = None,
             stable: str | Path | None = None, against: str | Path | None = None) -> dict:
    """Score an offsets product against a truth, a second estimate or stable ground.

    Parameters
    ----------
    estimate_path : path
        Offsets product (``dx``, ``dy`` bands, pixels; GeoTIFF or NetCDF), any grid.
    truth_path : path, optional
        Truth raster with bands described ``dx`` and ``dy`` (pixels), e.g. the ``truth.tif`` of
        ``sarflow simulate``, on any grid of the same CRS.
    mask : path, optional
        Raster, non-zero inside (e.g. moving ground), zero outside, nodata neither: figures
        inside and outside it. Without georeferencing it is taken to lie on the grid of the truth or
        of the estimate, whichever has its shape.
    stable : path, optional
        Raster, non-zero on ground that does not move. With a truth or ``against``: adds
        ``stable_ground``; alone: the figures are those of the offsets there (which should be zero).
    against : path, optional
        A second offsets product of the same pair, instead of a truth: agreement figures.

    Returns
    -------
    dict
        JSON-ready; ``inputs`` (the paths), ``compared_with``, then ``rmse``, ``mae``, ``median``,
        ``p95``, ``coverage``, ... over all valid points (pixels) with ``dx`` / ``dy``,
        ``bands``, ``mask``, ``stable_ground`` and ``calibration`` nested (see
        `evaluate_products`).

    Raises
    ------
    RasterFormatError
        A missing or unreadable file; a truth without ``dx`` / ``dy`` bands.
    GridMismatchError
        Different CRS; grids that do not overlap.
    NoValidDataError
        An all-NaN estimate or truth; no point both cover.
    InputError
        Nothing to compare with, or both a truth and ``against``.
    """
    if truth_path is not None and against is not None:
        raise InputError("give either a truth or a second estimate (--against), not both")
    if truth_path is None and against is None and stable is None:
        raise InputError("nothing to evaluate against: give a truth raster, a second estimate (--against) or a "
                         "stable-ground mask (--stable)")
    estimate = read_product(estimate_path, role="estimate")
    truth = None if truth_path is None else read_product(truth_path, role="truth")
    second = None if against is None else read_product(against, role="second estimate")
    mask_grid = None if mask is None else read_mask(mask, role="mask")
    stable_grid = None if stable is None else read_mask(stable, role="stable mask")
    names = {"estimate": f"estimate {estimate_path}", "truth": f"truth {truth_path}",
             "second": f"second estimate {against}"}
    metrics = evaluate_products(estimate, truth, second=second, mask=mask_grid, stable=stable_grid, names=names)
    inputs = {"estimate": str(estimate_path)}
    for key, value in (("truth", truth_path), ("against", against), ("mask", mask), ("stable", stable)):
        if value is not None:
            inputs[key] = str(value)
    inputs["estimate_shape"] = list(estimate.shape)
    return {"inputs": inputs, **metrics}
