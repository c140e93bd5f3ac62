"""Track a whole pair from files to an offsets product: the job behind ``sarflow track``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from affine import Affine

from sarflow._version import __version__
from sarflow.errors import InputError, RasterFormatError, SarflowError
from sarflow.io.atomic import check_writable
from sarflow.io.products import OffsetProduct, grid_transform, read_offsets, write_offsets
from sarflow.io.rasters import open_pair
from sarflow.products.velocity import pair_date_tags

__all__ = ["track", "resample_prior"]


def resample_prior(prior: OffsetProduct, *, rows: np.ndarray, cols: np.ndarray,
                   reference_transform: Affine | None) -> tuple[np.ndarray, np.ndarray]:
    """Bring a prior offsets product onto the tracking grid (bilinear, NaN-aware).

    Parameters
    ----------
    prior : OffsetProduct
        Offsets in pixels of the same image pair, on any grid of the reference.
    rows, cols : ndarray, shape (h,), (w,)
        Reference pixel indices of the tracking grid.
    reference_transform : Affine or None
        The reference image's transform (pixel coordinates when None).

    Returns
    -------
    dx, dy : ndarray, shape (h, w)
        NaN where the prior has no value nearby.
    """
    base = Affine.identity() if reference_transform is None else reference_transform
    # Map coordinates of the tracking points (pixel centres), then the prior's fractional cell indices.
    cc, rr = np.meshgrid(np.asarray(cols, dtype=np.float64) + 0.5, np.asarray(rows, dtype=np.float64) + 0.5)
    x, y = base @ (cc, rr)
    inv = ~prior.transform
    pc, pr = inv @ (x, y)
    pr, pc = pr - 0.5, pc - 0.5  # cell-centre indices
    out = []
    for band in (prior.dx, prior.dy):
        out.append(_bilinear_nan(band, pr, pc))
    return out[0], out[1]


def _bilinear_nan(grid: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    h, w = grid.shape
    valid = np.isfinite(grid)
    filled = np.where(valid, grid, 0.0)
    r0 = np.clip(np.floor(r).astype(int), 0, max(h - 2, 0))
    c0 = np.clip(np.floor(c).astype(int), 0, max(w - 2, 0))
    fr = np.clip(r - r0, 0.0, 1.0)
    fc = np.clip(c - c0, 0.0, 1.0)
    r1 = np.minimum(r0 + 1, h - 1)
    c1 = np.minimum(c0 + 1, w - 1)
    num = np.zeros(r.shape)
    den = np.zeros(r.shape)
    for rr, cc, wgt in ((r0, c0, (1 - fr) * (1 - fc)), (r0, c1, (1 - fr) * fc), (r1, c0, fr * (1 - fc)),
                        (r1, c1, fr * fc)):
        num += wgt * filled[rr, cc]
        den += wgt * valid[rr, cc]
    inside = (r >= -0.5) & (r <= h - 0.5) & (c >= -0.5) & (c <= w - 0.5)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where((den > 0.25) & inside, num / den, np.nan)
    return out.astype(np.float32)


def track(
    reference: str | Path,
    secondary: str | Path,
    output: str | Path,
    *,
    config=None,
    prior: str | Path | None = None,
    band: int = 1,
    netcdf: bool = False,
    progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
    resume: bool = False,
    max_memory: str | int | None = None,
    block_pixels: int | None = None,
    dates: Sequence | None = None,
) -> OffsetProduct:
    """Multi-kernel offset tracking of a raster pair, written as an offsets product.

    Parameters
    ----------
    reference, secondary : path
        Images (any source `sarflow.io.read_raster` accepts; complex data is tracked as amplitude).
    output : path
        ``.tif`` (GeoTIFF) or ``.nc`` (NetCDF).
    config : sarflow.tracking.TrackConfig, optional
    prior : path, optional
        An offsets product (``dx``, ``dy`` bands, pixels of this pair) to centre the search on, e.g.
        a coarse pass for fast glaciers.
    band : int
        Band of multi-band inputs.
    netcdf : bool
        Also write a NetCDF beside a GeoTIFF output (same name, ``.nc``).
    progress : callable ``(done, total)``, optional
    overwrite : bool
        Replace an existing output; without it an existing output is refused before any work.
    resume : bool
        Continue an interrupted block-by-block run of the same job (its ``.OUT.partial`` folder).
    max_memory : str or int, optional
        Memory budget (``"4GB"`` by default); a scene whose tracking would exceed it is tracked in
        blocks (`sarflow.scene.track_blocks`), reading only a window of the pair at a time.
    block_pixels : int, optional
        Track in blocks of about this many pixels a side whatever the scene's size.
    dates : (reference, secondary), optional
        Acquisition dates, stored as the product's ``reference_date`` / ``secondary_date`` tags
        (where `sarflow velocity` looks for them); checked before any work.

    Returns
    -------
    OffsetProduct
        What was written.

    Raises
    ------
    OutputExistsError
        The output (or its NetCDF sibling) exists and ``overwrite`` is False.
    InputError
        A missing output folder, unreadable or mismatched images, impossible settings, a prior
        that does not fit the pair. Nothing is written then.
    """
    from sarflow.tracking import TrackConfig, track_offsets

    config = TrackConfig() if config is None else config
    date_tags = {} if dates is None else pair_date_tags(dates)
    output = Path(output)
    if output.suffix.lower() not in (".tif", ".tiff", ".nc"):
        raise InputError(f"{output}: the output must end in .tif or .nc")
    sibling = output.with_suffix(".nc") if netcdf and output.suffix.lower() != ".nc" else None
    for path in (output, sibling):
        if path is not None:
            check_writable(path, overwrite=overwrite)
    start = time.perf_counter()
    from sarflow.io.rasters import check_same_grid, describe_raster
    from sarflow.scene.blocks import DEFAULT_MAX_MEMORY, parse_memory
    from sarflow.scene.track_blocks import needs_blocks, track_in_blocks

    budget = parse_memory(max_memory if max_memory is not None else DEFAULT_MAX_MEMORY)
    ref_info = describe_raster(reference, band=band)
    check_same_grid(ref_info, describe_raster(secondary, band=band))
    blocked = resume or block_pixels is not None or needs_blocks(ref_info.shape, budget)
    if not blocked:
        ref, sec = open_pair(reference, secondary, band=band)

    prior_dx = prior_dy = None
    if prior is not None:
        from sarflow.tracking import grid_coordinates

        prior_product = _read_prior(prior)
        if prior_product.crs is not None and ref_info.crs is not None and prior_product.crs != ref_info.crs:
            raise InputError(f"prior {prior} is in {prior_product.crs.to_string()} but the reference is in "
                             f"{ref_info.crs.to_string()}; reproject the prior first")
        rows, cols = grid_coordinates(ref_info.shape, config.step)
        prior_dx, prior_dy = resample_prior(prior_product, rows=rows, cols=cols,
                                            reference_transform=ref_info.transform)
        if not np.isfinite(prior_dx).any():
            raise InputError(f"prior {prior} does not overlap the reference image")

    journal = None
    if blocked:
        from sarflow.scene.journal import file_identity

        points = None if block_pixels is None else max(1, block_pixels // config.step // config.coarse_factor) * \
            config.coarse_factor
        result, journal = track_in_blocks(reference, secondary, output, config=config, band=band, prior_dx=prior_dx,
                                          prior_dy=prior_dy, budget=budget, block_points=points, resume=resume,
                                          prior_identity=None if prior is None else file_identity(str(prior)),
                                          progress=progress)
    else:
        result = track_offsets(ref.data, sec.data, config=config, prior_dx=prior_dx, prior_dy=prior_dy,
                               progress=progress)
    transform = grid_transform(ref_info.transform, row0=result.row0, col0=result.col0, step=result.step)
    product = OffsetProduct(
        dx=result.dx,
        dy=result.dy,
        quality=dict(result.quality),
        transform=transform,
        crs=ref_info.crs,
        metadata={
            "method": "sarflow.track: multi-kernel normalized cross-correlation",
            "parameters": config.to_dict(),
            "reference": str(reference),
            "secondary": str(secondary),
            "prior": "" if prior is None else str(prior),
            "sarflow_version": __version__,
            "grid": f"estimate (i, j) at reference pixel ({result.row0} + {result.step} i, "
                    f"{result.col0} + {result.step} j)",
            "elapsed_s": f"{time.perf_counter() - start:.3f}",
            **date_tags,
        },
    )
    write_offsets(product, output)
    if sibling is not None:
        try:
            write_offsets(product, sibling)
        except BaseException:
            output.unlink(missing_ok=True)  # both files or neither
            raise
    if journal is not None:
        journal.discard()
    return product


def _read_prior(path: str | Path) -> OffsetProduct:
    """`read_offsets`, with any reader failure reported as a `RasterFormatError` naming the file."""
    try:
        return read_offsets(path)
    except SarflowError:
        raise
    except Exception as exc:
        raise RasterFormatError(f"prior {path}: cannot be read as an offsets product ({exc})") from exc
