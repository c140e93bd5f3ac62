"""Products assembled block by block: a tiled GeoTIFF or a chunked CF NetCDF, never whole in memory.

The layout is that of `sarflow.io.write_offsets` (band descriptions and units, the offsets
convention and provenance in the tags, NaN for nodata), so `sarflow.io.read_offsets` reads
either back; only one block's bands are in memory at a time, and the file appears under its name
only once complete.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from affine import Affine

from sarflow._version import __version__
from sarflow.errors import InputError
from sarflow.io.atomic import atomic_path
from sarflow.io.products import BAND_UNITS
from sarflow.scene.blocks import Block

__all__ = ["write_blocks", "GDAL_CACHE_MB"]

#: GDAL's block cache while jobs read and write (its default, 5 % of the machine's memory, would
#: count against the memory budget).
GDAL_CACHE_MB = 64

_CONVENTION = "a feature at reference (row, col) lies at (row + dy, col + dx) in the secondary"
_LONG_NAMES = {
    "dx": "offset along columns (range), reference to secondary",
    "dy": "offset along rows (azimuth), reference to secondary",
}


def _tags(metadata: dict) -> dict[str, str]:
    tags = {"sarflow_version": __version__, "offset_convention": _CONVENTION}
    tags.update({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()})
    return tags


def write_blocks(path: str | Path, *, shape: tuple[int, int], blocks: Sequence[Block],
                 load: Callable[[int], np.ndarray], bands: Sequence[str], transform: Affine | None, crs,
                 metadata: dict) -> Path:
    """Write a product from its blocks, one block in memory at a time; atomic.

    Parameters
    ----------
    path : path
        ``.tif`` (tiled, deflate-compressed GeoTIFF) or ``.nc`` (CF NetCDF, chunked, zlib).
    shape : (int, int)
        Product rows and columns.
    blocks : sequence of Block
        Covering the product exactly once.
    load : callable ``(index) -> ndarray (len(bands), rows, cols)``
        Block ``index``'s bands.
    bands : sequence of str
        Band names in file order (``dx``, ``dy`` first).
    transform : Affine or None
        Product grid to map (or pixel) coordinates.
    crs : rasterio CRS or None
    metadata : dict
        Provenance tags (non-strings stored as JSON).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".tif", ".tiff", ".nc"):
        raise InputError(f"{path}: the output must end in .tif or .nc")
    transform = Affine.identity() if transform is None else transform
    with atomic_path(path) as tmp:
        if suffix == ".nc":
            _write_netcdf(tmp, shape, blocks, load, list(bands), transform, crs, _tags(metadata))
        else:
            _write_gtiff(tmp, shape, blocks, load, list(bands), transform, crs, _tags(metadata))
    return path


def _write_gtiff(path, shape, blocks, load, bands, transform, crs, tags) -> None:
    import rasterio

    from sarflow.io.rasters import quiet_georeference

    h, w = shape
    tiled = h >= 256 and w >= 256
    profile = {"driver": "GTiff", "height": h, "width": w, "count": len(bands), "dtype": "float32",
               "nodata": np.nan, "transform": transform, "crs": crs, "compress": "deflate", "predictor": 3,
               "tiled": tiled, "BIGTIFF": "IF_SAFER"}
    if tiled:
        profile.update(blockxsize=256, blockysize=256)
    from sarflow.scene.processes import local_cores

    # Tiles compressed on every core: the same bytes, written in 1.9 s against 3.6 s on two cores
    # (4 bands of 4096 x 4096).
    profile["num_threads"] = str(local_cores())
    units = [BAND_UNITS.get(name, "1") for name in bands]
    with quiet_georeference(), rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), rasterio.open(path, "w", **profile) as dst:
        for k, block in enumerate(blocks):
            data = np.asarray(load(k), dtype=np.float32)
            if data.shape != (len(bands), *block.shape):
                raise InputError(f"block {k} holds {data.shape}, expected {(len(bands), *block.shape)}")
            window = rasterio.windows.Window(block.col0, block.row0, block.shape[1], block.shape[0])
            dst.write(data, window=window)
        for i, name in enumerate(bands, start=1):
            dst.set_band_description(i, name)
            dst.update_tags(i, units=units[i - 1])
        dst.units = tuple(units)
        dst.update_tags(**tags)


def _write_netcdf(path, shape, blocks, load, bands, transform, crs, tags) -> None:
    import h5netcdf.legacyapi as netcdf

    h, w = shape
    if transform.b != 0 or transform.d != 0:
        raise InputError("NetCDF output needs a north-up (unrotated) grid; write a GeoTIFF instead")
    x = transform.c + transform.a * (np.arange(w) + 0.5)
    y = transform.f + transform.e * (np.arange(h) + 0.5)
    geo = crs is not None
    if geo and crs.is_geographic:
        x_attrs = {"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east", "axis": "X"}
        y_attrs = {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north", "axis": "Y"}
    elif geo:
        unit = "m" if getattr(crs, "linear_units", "") in ("metre", "meter", "m") else str(crs.linear_units)
        x_attrs = {"standard_name": "projection_x_coordinate", "long_name": "x coordinate of projection",
                   "units": unit, "axis": "X"}
        y_attrs = {"standard_name": "projection_y_coordinate", "long_name": "y coordinate of projection",
                   "units": unit, "axis": "Y"}
    else:
        x_attrs = {"long_name": "reference image column (pixel-corner coordinates)", "units": "pixel", "axis": "X"}
        y_attrs = {"long_name": "reference image row (pixel-corner coordinates)", "units": "pixel", "axis": "Y"}
    chunks = (min(256, h), min(256, w))
    with netcdf.Dataset(path, "w") as ds:
        ds.createDimension("y", h)
        ds.createDimension("x", w)
        for name, values, attrs in (("x", x, x_attrs), ("y", y, y_attrs)):
            var = ds.createVariable(name, "f8", (name,))
            var[:] = values
            var.attrs.update(attrs)
        variables = []
        for name in bands:
            var = ds.createVariable(name, "f4", ("y", "x"), zlib=True, complevel=4, chunksizes=chunks,
                                    fill_value=np.float32(np.nan))
            attrs = {"units": BAND_UNITS.get(name, "1"), "long_name": _LONG_NAMES.get(name, name.replace("_", " "))}
            if geo:
                attrs["grid_mapping"] = "spatial_ref"
            var.attrs.update(attrs)
            variables.append(var)
        if geo:
            ref = ds.createVariable("spatial_ref", "i4", ())
            ref.attrs.update(_grid_mapping(crs, transform))
        ds.attrs.update({"Conventions": "CF-1.8", "title": "sarflow offsets", **tags,
                         "transform": json.dumps(list(transform)[:6])})
        for k, block in enumerate(blocks):
            data = np.asarray(load(k), dtype=np.float32)
            if data.shape != (len(bands), *block.shape):
                raise InputError(f"block {k} holds {data.shape}, expected {(len(bands), *block.shape)}")
            for var, band in zip(variables, data):
                var[block.row0 : block.row1, block.col0 : block.col1] = band


def _grid_mapping(crs, transform: Affine) -> dict:
    t = transform
    attrs = {"crs_wkt": crs.to_wkt(), "spatial_ref": crs.to_wkt(),
             "GeoTransform": " ".join(str(v) for v in (t.c, t.a, t.b, t.f, t.d, t.e))}
    try:
        from pyproj import CRS as ProjCRS

        attrs.update({k: v for k, v in ProjCRS.from_wkt(crs.to_wkt()).to_cf().items() if k != "crs_wkt"})
    except Exception:  # pyproj comes with rasterio; the CF names are a convenience
        pass
    return attrs
