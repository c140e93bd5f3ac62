"""Offsets products: GeoTIFF and CF NetCDF, written atomically, read back losslessly.

A product holds ``dx`` and ``dy`` (pixels, DEVELOPERS' convention: a feature at row r, column c
of the reference lies at (r + dy, c + dx) in the secondary), then quality bands, on a grid whose
transform places every estimate in the reference's coordinates: the centre of product cell
(i, j) is the centre of reference pixel (row0 + i * step, col0 + j * step).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from affine import Affine

from sarflow._version import __version__
from sarflow.errors import InputError, RasterFormatError
from sarflow.io.atomic import atomic_path
from sarflow.io.rasters import quiet_georeference

__all__ = ["OffsetProduct", "grid_transform", "write_offsets", "read_offsets", "write_geotiff", "write_netcdf",
           "BAND_UNITS"]

#: Units of the bands sarflow writes; bands not listed are dimensionless ("1").
BAND_UNITS = {
    "dx": "pixel",
    "dy": "pixel",
    "sigma_px": "pixel",
    "sigma_dx": "pixel",
    "sigma_dy": "pixel",
    "chip_size": "pixel",
}

_LONG_NAMES = {
    "dx": "offset along columns (range), reference to secondary",
    "dy": "offset along rows (azimuth), reference to secondary",
}


def grid_transform(reference_transform: Affine | None, *, row0: float, col0: float, step: float) -> Affine:
    """Transform of a product grid sampled every ``step`` pixels from reference pixel (row0, col0).

    The centre of product cell (i, j) maps to the centre of reference pixel
    (row0 + i*step, col0 + j*step) in the reference's map coordinates, or in its pixel coordinates
    (column, row of pixel corners, GDAL convention) when the reference has no transform.
    """
    if step <= 0:
        raise InputError(f"step must be positive, got {step}")
    base = Affine.identity() if reference_transform is None else reference_transform
    # Cell (i, j) spans [col0 + 0.5 - step/2 + j*step, ...) in reference pixel-corner coordinates.
    return base @ Affine.translation(col0 + 0.5 - step / 2.0, row0 + 0.5 - step / 2.0) @ Affine.scale(step)


@dataclass
class OffsetProduct:
    """An offsets map with quality bands and provenance.

    Attributes
    ----------
    dx, dy : ndarray, shape (h, w), float32
        Offsets in pixels; NaN where there is no estimate.
    quality : dict of str -> ndarray (h, w)
        Further bands in the order they are written (e.g. ``ncc``, ``snr``, ``sigma_px``).
    transform : Affine
        Product grid to reference map coordinates (or pixel coordinates, ``crs`` None).
    crs : rasterio CRS or None
    metadata : dict of str -> str
        Provenance: ``method``, ``parameters`` (JSON), ``sarflow_version``, ``reference``,
        ``secondary`` and anything else worth recording.
    """

    dx: np.ndarray
    dy: np.ndarray
    quality: dict[str, np.ndarray] = field(default_factory=dict)
    transform: Affine = field(default_factory=Affine.identity)
    crs: object | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dx = np.asarray(self.dx, dtype=np.float32)
        self.dy = np.asarray(self.dy, dtype=np.float32)
        if self.dx.ndim != 2 or self.dx.shape != self.dy.shape:
            raise InputError(f"dx and dy must be 2-D arrays of one shape, got {self.dx.shape} and {self.dy.shape}")
        for name, band in self.quality.items():
            if np.shape(band) != self.dx.shape:
                raise InputError(f"quality band {name!r} has shape {np.shape(band)}, expected {self.dx.shape}")
            if name in ("dx", "dy"):
                raise InputError("quality bands cannot be named 'dx' or 'dy'")

    @property
    def shape(self) -> tuple[int, int]:
        return self.dx.shape

    def bands(self) -> dict[str, np.ndarray]:
        """All bands in file order: dx, dy, then quality."""
        return {"dx": self.dx, "dy": self.dy, **self.quality}


def _format_for(path: Path, format: str | None) -> str:
    if format is not None:
        fmt = format.lower()
    else:
        suffix = path.suffix.lower()
        fmt = {".tif": "gtiff", ".tiff": "gtiff", ".nc": "netcdf", ".nc4": "netcdf"}.get(suffix, "")
    if fmt in ("gtiff", "geotiff", "tif"):
        return "gtiff"
    if fmt in ("netcdf", "nc"):
        return "netcdf"
    raise InputError(f"{path}: unknown output format; use a .tif or .nc name, or format='gtiff' / 'netcdf'")


def _full_metadata(product: OffsetProduct) -> dict[str, str]:
    meta = {"sarflow_version": __version__, "offset_convention": _CONVENTION}
    meta.update({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in product.metadata.items()})
    return meta


_CONVENTION = "a feature at reference (row, col) lies at (row + dy, col + dx) in the secondary"


def write_offsets(product: OffsetProduct, path: str | Path, *, format: str | None = None) -> Path:
    """Write a product as GeoTIFF (``.tif``) or CF NetCDF (``.nc``), atomically.

    Returns the final path. The file appears only once it is complete.
    """
    path = Path(path)
    fmt = _format_for(path, format)
    with atomic_path(path) as tmp:
        if fmt == "gtiff":
            _write_gtiff(product, tmp)
        else:
            _write_netcdf(product, tmp)
    return path


def _write_gtiff(product: OffsetProduct, path: Path) -> None:
    bands = product.bands()
    _write_gtiff_bands(path, bands, transform=product.transform, crs=product.crs, tags=_full_metadata(product),
                       units={name: BAND_UNITS.get(name, "1") for name in bands})


def _write_gtiff_bands(path: Path, bands: dict[str, np.ndarray], *, transform: Affine | None, crs,
                       tags: dict[str, str], units: dict[str, str]) -> None:
    import rasterio

    first = next(iter(bands.values()))
    h, w = np.shape(first)
    profile = {
        "driver": "GTiff",
        "height": h,
        "width": w,
        "count": len(bands),
        "dtype": "float32",
        "nodata": np.nan,
        "transform": transform if transform is not None else Affine.identity(),
        "crs": crs,
        "compress": "deflate",
        "predictor": 3,
        "tiled": h >= 256 and w >= 256,
    }
    if profile["tiled"]:
        profile.update(blockxsize=256, blockysize=256)
    with quiet_georeference(), rasterio.open(path, "w", **profile) as dst:
        for i, (name, band) in enumerate(bands.items(), start=1):
            band = np.asarray(band, dtype=np.float32)
            if band.shape != (h, w):
                raise InputError(f"band {name!r} has shape {band.shape}, expected {(h, w)}")
            dst.write(band, i)
            dst.set_band_description(i, name)
            dst.update_tags(i, units=units.get(name, "1"))
        dst.units = tuple(units.get(name, "1") for name in bands)
        dst.update_tags(**tags)


def write_geotiff(path: str | Path, bands: dict[str, np.ndarray], *, transform: Affine | None = None, crs=None,
                  tags: dict[str, str] | None = None, units: dict[str, str] | None = None) -> Path:
    """Write named float32 bands to a GeoTIFF atomically (NaN = nodata); return the path.

    Used for images (``amplitude``) and truth fields (``dx``, ``dy``) alike. ``tags`` values that
    are not strings are stored as JSON.
    """
    if not bands:
        raise InputError("write_geotiff needs at least one band")
    path = Path(path)
    tags = {"sarflow_version": __version__, **{k: v if isinstance(v, str) else json.dumps(v)
                                                for k, v in (tags or {}).items()}}
    with atomic_path(path) as tmp:
        _write_gtiff_bands(tmp, bands, transform=transform, crs=crs, tags=tags,
                           units={**BAND_UNITS, **(units or {})})
    return path


def _netcdf_coords(transform: Affine, shape: tuple[int, int]):
    h, w = shape
    t = transform
    if t.b != 0 or t.d != 0:
        raise InputError("NetCDF output needs a north-up (unrotated) grid; write a GeoTIFF instead")
    x = t.c + t.a * (np.arange(w) + 0.5)
    y = t.f + t.e * (np.arange(h) + 0.5)
    return x, y


def _write_netcdf(product: OffsetProduct, path: Path) -> None:
    bands = product.bands()
    _write_netcdf_bands(path, bands, transform=product.transform, crs=product.crs, attrs=_full_metadata(product),
                        units={name: BAND_UNITS.get(name, "1") for name in bands},
                        long_names={name: _LONG_NAMES.get(name, name.replace("_", " ")) for name in bands},
                        title="sarflow offsets")


def _write_netcdf_bands(path: Path, bands: dict[str, np.ndarray], *, transform: Affine, crs, attrs: dict[str, str],
                        units: dict[str, str], long_names: dict[str, str], title: str) -> None:
    import xarray as xr

    first = np.asarray(next(iter(bands.values())))
    x, y = _netcdf_coords(transform, first.shape)
    geo = crs is not None
    if geo and crs.is_geographic:
        x_attrs = {"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east", "axis": "X"}
        y_attrs = {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north", "axis": "Y"}
    elif geo:
        x_attrs = {"standard_name": "projection_x_coordinate", "long_name": "x coordinate of projection",
                   "units": _crs_units(crs), "axis": "X"}
        y_attrs = {"standard_name": "projection_y_coordinate", "long_name": "y coordinate of projection",
                   "units": _crs_units(crs), "axis": "Y"}
    else:
        x_attrs = {"long_name": "reference image column (pixel-corner coordinates)", "units": "pixel", "axis": "X"}
        y_attrs = {"long_name": "reference image row (pixel-corner coordinates)", "units": "pixel", "axis": "Y"}
    data_vars = {}
    for name, band in bands.items():
        band = np.asarray(band, dtype=np.float32)
        if band.shape != first.shape:
            raise InputError(f"band {name!r} has shape {band.shape}, expected {first.shape}")
        var_attrs = {"units": units.get(name, "1"), "long_name": long_names.get(name, name.replace("_", " "))}
        if geo:
            var_attrs["grid_mapping"] = "spatial_ref"
        data_vars[name] = (("y", "x"), band, var_attrs)
    ds = xr.Dataset(data_vars, coords={"x": ("x", x, x_attrs), "y": ("y", y, y_attrs)})
    if geo:
        ds["spatial_ref"] = xr.DataArray(np.int32(0), attrs=_grid_mapping_attrs(crs, transform))
    ds.attrs.update({"Conventions": "CF-1.8", "title": title, **attrs})
    ds.attrs["transform"] = json.dumps(list(transform)[:6])
    encoding = {name: {"_FillValue": np.float32(np.nan), "zlib": True, "complevel": 4} for name in bands}
    ds.to_netcdf(path, engine="h5netcdf", encoding=encoding)


def write_netcdf(path: str | Path, bands: dict[str, np.ndarray], *, transform: Affine | None = None, crs=None,
                 attrs: dict[str, str] | None = None, units: dict[str, str] | None = None,
                 long_names: dict[str, str] | None = None, title: str = "sarflow") -> Path:
    """Write named float32 bands (y, x) to a CF NetCDF atomically (NaN = _FillValue); return the path.

    The NetCDF counterpart of `write_geotiff`: cell-centre ``x`` / ``y`` coordinates from the
    (unrotated) ``transform``, a ``spatial_ref`` grid mapping when ``crs`` is given, ``units`` and
    ``long_name`` per variable, ``attrs`` as global attributes (non-strings stored as JSON).
    """
    if not bands:
        raise InputError("write_netcdf needs at least one band")
    path = Path(path)
    transform = Affine.identity() if transform is None else transform
    attrs = {"sarflow_version": __version__, **{k: v if isinstance(v, str) else json.dumps(v)
                                                 for k, v in (attrs or {}).items()}}
    with atomic_path(path) as tmp:
        _write_netcdf_bands(tmp, bands, transform=transform, crs=crs, attrs=attrs,
                            units={**BAND_UNITS, **(units or {})}, long_names=dict(long_names or {}), title=title)
    return path


def _crs_units(crs) -> str:
    try:
        unit = crs.linear_units
    except Exception:  # pragma: no cover - depends on the CRS
        unit = "unknown"
    return "m" if unit in ("metre", "meter", "m") else ("degrees" if crs.is_geographic else unit)


def _grid_mapping_attrs(crs, transform: Affine) -> dict:
    t = transform
    attrs = {"crs_wkt": crs.to_wkt(), "spatial_ref": crs.to_wkt(),
             "GeoTransform": " ".join(str(v) for v in (t.c, t.a, t.b, t.f, t.d, t.e))}
    try:
        from pyproj import CRS as ProjCRS

        attrs.update({k: v for k, v in ProjCRS.from_wkt(crs.to_wkt()).to_cf().items() if k != "crs_wkt"})
    except Exception:  # pyproj is a rasterio dependency; CF names are a convenience
        pass
    return attrs


def read_offsets(path: str | Path) -> OffsetProduct:
    """Read a product written by `write_offsets` (or any raster with bands described dx, dy)."""
    path = Path(path)
    if not path.exists():
        raise RasterFormatError(f"{path}: no such file")
    if _format_for(path, None) == "netcdf":
        return _read_netcdf(path)
    return _read_gtiff(path)


def _read_gtiff(path: Path) -> OffsetProduct:
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with quiet_georeference(), rasterio.open(path) as src:
            names = [d or f"band{i}" for i, d in enumerate(src.descriptions, start=1)]
            if "dx" not in names or "dy" not in names:
                raise RasterFormatError(f"{path}: no bands described 'dx' and 'dy' (found {names})")
            data = {name: src.read(i).astype(np.float32) for i, name in enumerate(names, start=1)}
            transform, crs, tags = src.transform, src.crs, src.tags()
    except RasterioIOError as exc:
        raise RasterFormatError(f"{path}: cannot be read ({exc})") from exc
    dx, dy = data.pop("dx"), data.pop("dy")
    return OffsetProduct(dx=dx, dy=dy, quality=data, transform=transform, crs=crs if crs else None, metadata=tags)


def _read_netcdf(path: Path) -> OffsetProduct:
    import xarray as xr

    try:
        with xr.open_dataset(path, engine="h5netcdf", mask_and_scale=True) as ds:
            ds = ds.load()
    except Exception as exc:
        raise RasterFormatError(f"{path}: cannot be read as NetCDF ({exc})") from exc
    if "dx" not in ds or "dy" not in ds:
        raise RasterFormatError(f"{path}: no variables 'dx' and 'dy'")
    crs = None
    if "spatial_ref" in ds:
        from rasterio.crs import CRS

        crs = CRS.from_wkt(ds["spatial_ref"].attrs["crs_wkt"])
    transform = Affine(*json.loads(ds.attrs["transform"])) if "transform" in ds.attrs else Affine.identity()
    names = [n for n in ds.data_vars if n not in ("spatial_ref",) and ds[n].dims == ("y", "x")]
    quality = {n: ds[n].values.astype(np.float32) for n in names if n not in ("dx", "dy")}
    meta = {k: str(v) for k, v in ds.attrs.items() if k not in ("Conventions", "title", "transform")}
    return OffsetProduct(dx=ds["dx"].values, dy=ds["dy"].values, quality=quality, transform=transform, crs=crs,
                         metadata=meta)
