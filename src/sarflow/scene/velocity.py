"""Velocity from an offsets product, files in and out: the job behind ``sarflow velocity``.

Also callable at the end of a tracking or prediction job, with the product still in memory::

    velocity(product, velocity_path(output), dates=dates, netcdf=netcdf, overwrite=overwrite)

Dates are looked for in this order: given (``dates`` or ``days``); the offsets product's tags
(``reference_date`` / ``secondary_date``, see `sarflow.products.velocity.PAIR_DATE_TAGS`); the
tags of the two images the product names (``reference``, ``secondary`` tags), see
`sarflow.products.velocity.IMAGE_DATE_TAGS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from sarflow.errors import InputError
from sarflow.io.atomic import check_writable
from sarflow.io.products import OffsetProduct, read_offsets, write_geotiff, write_netcdf
from sarflow.products.velocity import (
    IMAGE_DATE_TAGS,
    VelocityProduct,
    canonical_units,
    dates_from_tags,
    pair_dates_from_tags,
    velocity_from_offsets,
)

__all__ = ["velocity", "write_velocity", "velocity_path", "check_velocity_outputs", "dates_from_images", "summary"]

_SUFFIXES = {".tif": "gtiff", ".tiff": "gtiff", ".nc": "netcdf"}


def velocity_path(offsets_output: str | Path) -> Path:
    """Where a job writing ``offsets_output`` puts its velocity: ``off.tif`` -> ``off_velocity.tif``."""
    p = Path(offsets_output)
    return p.with_name(f"{p.stem}_velocity{p.suffix}")


def _outputs(output: Path, *, netcdf: bool, quicklook: str | Path | None) -> list[Path]:
    if output.suffix.lower() not in _SUFFIXES:
        raise InputError(f"{output}: the velocity output must end in .tif or .nc")
    paths = [output]
    if netcdf and output.suffix.lower() != ".nc":
        paths.append(output.with_suffix(".nc"))
    if quicklook is not None:
        q = Path(quicklook)
        if q.suffix.lower() != ".png":
            raise InputError(f"{q}: the quick-look must end in .png")
        paths.append(q)
    return paths


def check_velocity_outputs(output: str | Path, *, netcdf: bool = False, quicklook: str | Path | None = None,
                           overwrite: bool = False) -> list[Path]:
    """Every file a `velocity` call would write, each checked writable (call before any work).

    Raises `sarflow.errors.OutputExistsError` for an existing file unless ``overwrite``, and
    `sarflow.errors.InputError` for a bad suffix or a missing folder.
    """
    paths = _outputs(Path(output), netcdf=netcdf, quicklook=quicklook)
    for p in paths:
        check_writable(p, overwrite=overwrite)
    return paths


def _read_tags(source: str, *, base: Path | None) -> dict[str, str] | None:
    """Dataset tags of an image named in a product, tried as given then beside the product."""
    import rasterio

    from sarflow.io.rasters import quiet_georeference

    candidates = [Path(source)]
    if base is not None and not Path(source).is_absolute():
        candidates.append(base / source)
    for path in candidates:
        if not path.is_file():
            continue
        try:
            with quiet_georeference(), rasterio.open(path) as src:
                return dict(src.tags())
        except Exception:  # an unreadable image only means no dates from it
            return None
    return None


def dates_from_images(metadata: Mapping[str, str], *, base: str | Path | None = None
                      ) -> tuple[tuple[object, object], str] | None:
    """Acquisition times from the tags of the images an offsets product names, or None.

    Parameters
    ----------
    metadata : mapping
        The product's tags; its ``reference`` and ``secondary`` entries name the images.
    base : path, optional
        Folder to resolve relative image names against when they do not exist as given (the
        product's folder).

    Returns
    -------
    ((reference_time, secondary_time), source) or None
        None unless both images are found and both carry one of `IMAGE_DATE_TAGS`.
    """
    found = []
    for role in ("reference", "secondary"):
        source = metadata.get(role)
        if not source:
            return None
        tags = _read_tags(str(source), base=None if base is None else Path(base))
        hit = dates_from_tags(tags) if tags else None
        if hit is None:
            return None
        found.append(hit)
    (t1, k1), (t2, k2) = found
    keys = k1 if k1 == k2 else f"{k1}, {k2}"
    return (t1, t2), f"image tags {keys} of {metadata['reference']}, {metadata['secondary']}"


def _missing_dates_message(metadata: Mapping[str, str]) -> str:
    images = [str(metadata[k]) for k in ("reference", "secondary") if metadata.get(k)]
    where = (f" and its images ({', '.join(images)}) were not found or carry none of {', '.join(IMAGE_DATE_TAGS)}"
             if images else " and names no images")
    return ("no acquisition dates: give them (--dates REFERENCE_DATE SECONDARY_DATE, e.g. --dates 2020-01-01 "
            "2020-01-13) or the time span (--days 12); the offsets product carries no reference_date / "
            f"secondary_date tags{where}")


def write_velocity(product: VelocityProduct, path: str | Path, *, units: str = "m/yr",
                   tags: Mapping[str, str] | None = None) -> Path:
    """Write a velocity product as GeoTIFF (``.tif``) or CF NetCDF (``.nc``), atomically.

    Bands (`VelocityProduct.bands`) carry their units (``m/yr`` or ``m/day``; ``degree`` for
    ``direction``); the grid keeps the offsets' transform and CRS; tags / global attributes say how
    it was made (dates, source of the dates, spacing, conventions). NetCDF needs an unrotated grid.
    """
    path = Path(path)
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: the velocity output must end in .tif or .nc")
    name, _ = canonical_units(units)
    bands = product.bands(name)
    band_units = product.band_units(name)
    meta = {**product.metadata, "velocity_units": name, **dict(tags or {})}
    if fmt == "gtiff":
        return write_geotiff(path, bands, transform=product.transform, crs=product.crs, tags=meta, units=band_units)
    return write_netcdf(path, bands, transform=product.transform, crs=product.crs, attrs=meta, units=band_units,
                        long_names=product.long_names(), title="sarflow velocity")


def velocity(
    offsets: str | Path | OffsetProduct,
    output: str | Path,
    *,
    dates: Sequence | None = None,
    days: float | None = None,
    pixel_spacing: Sequence[float] | None = None,
    incidence_deg: float | None = None,
    grid_step: float | None = None,
    units: str = "m/yr",
    netcdf: bool = False,
    quicklook: str | Path | None = None,
    overwrite: bool = False,
) -> VelocityProduct:
    """Velocity, direction and uncertainty of an offsets product, written as a velocity product.

    Parameters
    ----------
    offsets : path or OffsetProduct
        An offsets product (``sarflow track`` / ``sarflow predict`` output, or any raster with
        bands ``dx``, ``dy`` in pixels), or one in memory.
    output : path
        ``.tif`` (GeoTIFF) or ``.nc`` (CF NetCDF, unrotated grids only).
    dates, days, pixel_spacing, incidence_deg, grid_step
        As `sarflow.products.velocity_from_offsets`; without ``dates`` or ``days`` the dates come
        from the product's tags or its images' tags (module docstring).
    units : {"m/yr", "m/day"}
        Units of the velocity bands written.
    netcdf : bool
        Also write a NetCDF beside a GeoTIFF output (same name, ``.nc``).
    quicklook : path, optional
        A PNG: speed with a colour bar, flow arrows, grey where there is no estimate.
    overwrite : bool
        Replace existing outputs; otherwise an existing one is refused before any work.

    Returns
    -------
    VelocityProduct
        What was written (m/day inside; ``units`` in the files).
    """
    output = Path(output)
    paths = check_velocity_outputs(output, netcdf=netcdf, quicklook=quicklook, overwrite=overwrite)
    units, _ = canonical_units(units)
    base = None
    if isinstance(offsets, OffsetProduct):
        product = offsets
    else:
        base = Path(offsets).parent
        product = read_offsets(offsets)
    t = product.transform
    if any(p.suffix.lower() == ".nc" for p in paths) and (t.b != 0 or t.d != 0):
        raise InputError("NetCDF output needs a north-up (unrotated) grid and this product's grid is rotated; "
                         "write a GeoTIFF instead")

    dates_source = None
    if dates is None and days is None and pair_dates_from_tags(product.metadata) is None:
        found = dates_from_images(product.metadata, base=base)
        if found is None:
            raise InputError(_missing_dates_message(product.metadata))
        dates, dates_source = found
    result = velocity_from_offsets(product, dates=dates, days=days, pixel_spacing=pixel_spacing,
                                   incidence_deg=incidence_deg, grid_step=grid_step)
    if dates_source is not None:
        result.metadata["dates_source"] = dates_source
    tags = {} if isinstance(offsets, OffsetProduct) else {"offsets": str(offsets)}

    for path in paths:
        if path.suffix.lower() == ".png":
            from sarflow.io.quicklook import save_velocity_quicklook

            save_velocity_quicklook(path, result.bands(units)["v"], result.dx, result.dy, units=units,
                                    dates=result.dates_text(), title=output.name)
        else:
            write_velocity(result, path, units=units, tags=tags)
    return result


def summary(product: VelocityProduct, *, units: str = "m/yr") -> str:
    """One line for a report: the median speed and the share of points with a velocity."""
    name, factor = canonical_units(units)
    v = product.v
    ok = np.isfinite(v)
    median = f"{np.median(v[ok]) * factor:.4g} {name}" if ok.any() else "none"
    return f"median speed {median} over {ok.mean():.1%} of points, {product.dates_text()}"
