"""Reading amplitude rasters: any single band rasterio opens, or an HDF5 dataset.

Sources
-------
* A path rasterio can open (GeoTIFF, VRT, ENVI or ISCE raw data described by a VRT, ...).
* ``FILE.h5:/path/to/dataset`` for a dataset inside an HDF5 file (also ``.hdf5``, ``.he5``, ``.nc``),
  read with h5py. Such data carries no georeferencing: pixel coordinates are used.

Whatever the source, complex data (single-look complex, SLC) becomes amplitude ``|z|``, and
nodata or non-finite pixels become NaN: they are never numbers downstream. ``Raster.valid``
gives the boolean mask of usable pixels.

Files are untrusted: every failure of GDAL, rasterio or h5py becomes a `RasterFormatError` naming
the file; a header declaring more than `MAX_PIXELS` pixels, or storage blocks far larger than its
image, is refused when described; and a read's size (all interleaved bands included) is checked
against the memory available before any pixel buffer is allocated (`check_read_size`).
"""

from __future__ import annotations

import os
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from affine import Affine

from sarflow.errors import (
    ConstantImageError,
    GridMismatchError,
    InputError,
    NoValidDataError,
    RasterFormatError,
    SarflowError,
)

__all__ = ["RasterInfo", "Raster", "Window", "describe_raster", "read_raster", "open_pair", "check_same_grid",
           "check_read_size", "available_memory_bytes", "quiet_georeference", "split_hdf5_source", "MAX_PIXELS"]

_HDF5_SOURCE = re.compile(r"^(?P<file>.+\.(?:h5|hdf5|he5|hdf|nc)):(?P<dataset>/.*)$", re.IGNORECASE)

#: A window of a raster, in pixels: (row_offset, col_offset, height, width).
Window = tuple[int, int, int, int]


@dataclass(frozen=True)
class RasterInfo:
    """What is known about one band of a raster without reading its pixels.

    Attributes
    ----------
    source : str
        The source string as given (a path, or ``FILE.h5:/dataset``).
    shape : (int, int)
        Rows and columns.
    dtype : str
        Stored data type (``complex64`` for an SLC).
    crs : rasterio.crs.CRS or None
        Coordinate reference system, None when the source has none.
    transform : affine.Affine or None
        Pixel-to-map transform (GDAL convention: pixel corners), None for pure pixel geometry.
    nodata : float or None
        The stored nodata value of the band, if any.
    band : int
        The 1-based band index read.
    bands_per_read : int
        Bands the storage delivers together with this one: all of them in a pixel-interleaved
        file, else 1. Reading the band touches this many times its own size.
    """

    source: str
    shape: tuple[int, int]
    dtype: str
    crs: object | None
    transform: Affine | None
    nodata: float | None
    band: int = 1
    bands_per_read: int = 1

    @property
    def is_complex(self) -> bool:
        return np.dtype(self.dtype).kind == "c"

    @property
    def name(self) -> str:
        """A short name for messages and metadata."""
        return self.source


@dataclass(frozen=True)
class Raster:
    """One band read into memory as amplitude.

    Attributes
    ----------
    data : ndarray, shape (H, W), float32
        Amplitude; NaN where the source had nodata or non-finite values.
    info : RasterInfo
        Metadata of the whole band (shape is the full band's, not the window's).
    window : (row_off, col_off, height, width) or None
        The part that was read; None for the whole band.
    """

    data: np.ndarray
    info: RasterInfo
    window: Window | None = None

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask, True where the pixel holds a usable value."""
        return np.isfinite(self.data)

    @property
    def transform(self) -> Affine | None:
        """Transform of the data actually held (shifted to the window's origin)."""
        if self.info.transform is None:
            return None
        if self.window is None:
            return self.info.transform
        return self.info.transform @ Affine.translation(self.window[1], self.window[0])

    @property
    def crs(self):
        return self.info.crs


@contextmanager
def quiet_georeference():
    """Silence rasterio's warning about rasters without georeferencing: radar geometry is normal here."""
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        yield


def split_hdf5_source(source: str) -> tuple[str, str] | None:
    """``(file, dataset)`` of an HDF5 / NetCDF source written ``FILE.h5:/path/to/dataset``; None for others."""
    match = _HDF5_SOURCE.match(source)
    if match is None:
        return None
    return match.group("file"), match.group("dataset")


def _identity_is_pixel(transform: Affine | None) -> Affine | None:
    # rasterio reports the identity transform for files with no georeferencing.
    if transform is None or transform == Affine.identity():
        return None
    return transform


def describe_raster(source: str | Path, *, band: int = 1) -> RasterInfo:
    """Read the metadata of one band.

    Parameters
    ----------
    source : str or path
        A raster path, or ``FILE.h5:/path/to/dataset``.
    band : int
        1-based band index (rasters with several bands).

    Raises
    ------
    RasterFormatError
        The file is missing, unreadable, damaged (also a header declaring more than `MAX_PIXELS`
        pixels, or storage blocks far larger than the image), or the band / dataset does not exist.
    """
    source = str(source)
    hdf5 = split_hdf5_source(source)
    if hdf5 is not None:
        return _describe_hdf5(source, *hdf5)
    import rasterio

    if "://" not in source and not source.startswith("/vsi"):
        _check_input_file(Path(source), source)
    try:
        with quiet_georeference(), rasterio.Env(), rasterio.open(source) as ds:
            if not 1 <= band <= ds.count:
                raise RasterFormatError(f"{source}: band {band} requested but the raster has {ds.count} band(s)")
            _check_raw_size(ds, source)
            bands_per_read = ds.count if ds.count > 1 and ds.interleaving is not None and (
                ds.interleaving.name == "pixel") else 1
            _check_plausible_shape((ds.height, ds.width), source)
            _check_block_size(ds.block_shapes[band - 1], (ds.height, ds.width), ds.dtypes[band - 1], bands_per_read,
                              source)
            transform = _identity_is_pixel(ds.transform)
            return RasterInfo(
                source=source,
                shape=(ds.height, ds.width),
                dtype=ds.dtypes[band - 1],
                # A CRS without a transform (e.g. a VRT with a dummy geotransform) places nothing.
                crs=ds.crs if ds.crs and transform is not None else None,
                transform=transform,
                nodata=ds.nodatavals[band - 1],
                band=band,
                bands_per_read=bands_per_read,
            )
    except SarflowError:
        raise
    except Exception as exc:  # GDAL reports damaged headers with many exception types
        raise RasterFormatError(f"{source}: cannot be opened as a raster ({_short(exc)})") from exc


def _short(exc: BaseException) -> str:
    """An exception's message on one line, for error messages (GDAL's own cause when rasterio defers to it)."""
    cause = exc.__cause__ or exc.__context__
    if "See previous exception" in str(exc) and cause is not None:
        exc = cause
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _gib(n_bytes: float) -> str:
    gib = n_bytes / 2**30
    return f"{gib:,.0f} GiB" if gib >= 10 else f"{gib:.2g} GiB"


def _check_input_file(path: Path, source: str) -> None:
    """Raise `RasterFormatError` unless ``path`` is an existing, readable file."""
    if not path.exists():
        raise RasterFormatError(f"{source}: no such file")
    if path.is_dir():
        raise RasterFormatError(f"{source}: is a folder, not a raster file")
    if not os.access(path, os.R_OK):
        raise RasterFormatError(f"{source}: cannot be read (permission denied)")


#: Share of the currently available memory that one read may take (stored values + float32 amplitude).
READ_MEMORY_SHARE = 0.8


def available_memory_bytes() -> int | None:
    """Memory available to new allocations, bytes (Linux ``MemAvailable``; None where unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _itemsize(dtype: str) -> int:
    try:
        return np.dtype(dtype).itemsize
    except TypeError:  # GDAL types numpy lacks, e.g. complex_int16
        return {"complex_int16": 4}.get(dtype, 16)


#: Most pixels an image may declare: 2**36 (a quarter of a million pixels a side, 256 GiB of float32),
#: beyond any real scene. Scenes larger than memory are processed in blocks, so the memory check
#: alone would let a header claiming 10^6 x 10^6 pixels start a run that never ends.
MAX_PIXELS = 2**36


def _check_plausible_shape(shape: tuple[int, int], source: str) -> None:
    rows, cols = (int(v) for v in shape)
    if rows <= 0 or cols <= 0:
        raise RasterFormatError(f"{source}: declares an empty image ({rows} x {cols} pixels)")
    if rows * cols > MAX_PIXELS:
        raise RasterFormatError(
            f"{source}: declares {rows} x {cols} pixels, more than the {MAX_PIXELS:,} any real scene has "
            "(2^36); the header is damaged"
        )


#: Blocks (tiles, strips, HDF5 chunks) up to this size are always plausible, bytes.
_PLAUSIBLE_BLOCK_BYTES = 64 * 2**20


def _check_block_size(block: tuple[int, int], shape: tuple[int, int], dtype: str, bands: int, source: str) -> None:
    """Refuse a storage block far larger than the image it tiles: a damaged header, and a huge allocation.

    The smallest read decodes a whole block, so a 32 x 32 image declaring 65535 x 65535 tiles would
    have the library allocate gigabytes before noticing anything.
    """
    rows, cols = (int(v) for v in block)
    block_bytes = max(rows, 1) * max(cols, 1) * _itemsize(dtype) * bands
    image_bytes = int(shape[0]) * int(shape[1]) * _itemsize(dtype) * bands
    if block_bytes > max(2 * image_bytes, _PLAUSIBLE_BLOCK_BYTES):
        raise RasterFormatError(
            f"{source}: declares storage blocks of {rows} x {cols} pixels for an image of {shape[0]} x {shape[1]}; "
            "the header is damaged"
        )


def check_read_size(shape: tuple[int, int], dtype: str, source: str, *, bands_per_read: int = 1) -> None:
    """Refuse to read a raster (or window) whose declared size does not fit in memory.

    A damaged or hostile header (a tiny GeoTIFF, a VRT or an ENVI header claiming 10^6 x 10^6 pixels)
    is caught here, from its metadata, before any pixel buffer is allocated.

    Parameters
    ----------
    shape : (int, int)
        Rows and columns to be read.
    dtype : str
        Stored data type.
    source : str
        For the message.
    bands_per_read : int
        Bands stored interleaved with this one (`RasterInfo.bands_per_read`), all read with it.

    Raises
    ------
    RasterFormatError
        An empty shape.
    InputError
        The stored values plus their float32 amplitude exceed `READ_MEMORY_SHARE` of the available
        memory.
    """
    rows, cols = (int(v) for v in shape)
    if rows <= 0 or cols <= 0:
        raise RasterFormatError(f"{source}: declares an empty image ({rows} x {cols} pixels)")
    need = rows * cols * (_itemsize(dtype) * max(int(bands_per_read), 1) + 4)
    available = available_memory_bytes()
    if available is not None and need > READ_MEMORY_SHARE * available:
        bands = f" in {bands_per_read} interleaved bands" if bands_per_read > 1 else ""
        raise InputError(
            f"{source}: declares {rows} x {cols} pixels of {dtype}{bands} ({_gib(need)} to read), more than "
            f"the {_gib(READ_MEMORY_SHARE * available)} of memory available; check its header, or cut "
            "the scene into smaller pieces"
        )


_RAW_DRIVERS = {"ENVI", "ISCE", "EHdr", "GenBin", "PAux", "MFF", "ROI_PAC"}


def _check_raw_size(ds, source: str) -> None:
    """Refuse headerless raw data shorter than its header or VRT promises.

    GDAL reads the missing part of a truncated raw file as zeros without complaint; a truncated
    image must be an error, not a scene with a black bottom.
    """
    if ds.driver == "VRT":
        _check_vrt_raw_bands(Path(source))
        return
    if ds.driver not in _RAW_DRIVERS:
        return
    data_files = [Path(f) for f in ds.files if Path(f).suffix.lower() not in (".hdr", ".xml", ".vrt", ".aux")]
    if not data_files:
        return
    itemsize = np.dtype(ds.dtypes[0]).itemsize
    expected = ds.height * ds.width * ds.count * itemsize
    actual = data_files[0].stat().st_size
    if actual < expected:
        raise RasterFormatError(
            f"{source}: the data file {data_files[0].name} holds {actual} bytes but its header describes "
            f"{expected}; the file is truncated or corrupt"
        )


def _check_vrt_raw_bands(path: Path) -> None:
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise RasterFormatError(f"{path}: the VRT is not valid XML ({exc})") from exc
    try:
        height, width = int(root.get("rasterYSize")), int(root.get("rasterXSize"))
    except (TypeError, ValueError) as exc:
        raise RasterFormatError(f"{path}: the VRT does not declare a valid raster size") from exc
    for band in root.iter("VRTRasterBand"):
        if band.get("subClass") != "VRTRawRasterBand":
            continue
        src = band.find("SourceFilename")
        if src is None or not src.text:
            continue
        data = Path(src.text)
        if src.get("relativeToVRT", "0") == "1" or not data.is_absolute():
            data = path.parent / data
        item = _GDAL_SIZES.get(band.get("dataType", "Byte"), 1)
        try:
            image_offset = int((band.findtext("ImageOffset") or "0").strip())
            pixel_offset = int((band.findtext("PixelOffset") or str(item)).strip())
            line_offset = int((band.findtext("LineOffset") or str(item * width)).strip())
        except ValueError as exc:
            raise RasterFormatError(f"{path}: a raw band's offsets are not integers ({exc})") from exc
        expected = image_offset + (height - 1) * abs(line_offset) + (width - 1) * abs(pixel_offset) + item
        actual = data.stat().st_size if data.exists() else 0
        if actual < expected:
            raise RasterFormatError(
                f"{path}: the raw data file {data.name} holds {actual} bytes but the VRT describes "
                f"{expected}; the file is truncated or corrupt"
            )


_GDAL_SIZES = {"Byte": 1, "Int8": 1, "UInt16": 2, "Int16": 2, "UInt32": 4, "Int32": 4, "Float32": 4, "Float64": 8,
               "CInt16": 4, "CInt32": 8, "CFloat32": 8, "CFloat64": 16, "UInt64": 8, "Int64": 8, "Float16": 2}


def _describe_hdf5(source: str, path: str, dataset: str) -> RasterInfo:
    import h5py

    _check_input_file(Path(path), path)
    try:
        with h5py.File(path, "r") as f:
            if dataset not in f:
                raise RasterFormatError(f"{source}: no dataset {dataset!r} in {path}")
            ds = f[dataset]
            if not isinstance(ds, h5py.Dataset):
                raise RasterFormatError(f"{source}: {dataset!r} is a group, not a dataset")
            if ds.ndim != 2:
                raise RasterFormatError(f"{source}: dataset has shape {ds.shape}; a 2-D image is needed")
            dtype = ds.dtype
            if dtype.names and set(dtype.names) >= {"r", "i"}:  # compound complex (e.g. NISAR complex32)
                dtype = np.dtype(np.complex64)
            if dtype.kind not in "biufc":
                raise RasterFormatError(f"{source}: dataset holds {ds.dtype} values; a numeric image is needed")
            _check_plausible_shape(ds.shape, source)
            if ds.chunks is not None:
                _check_block_size(ds.chunks, ds.shape, str(dtype), 1, source)
            fill = ds.fillvalue
            if isinstance(fill, np.void):  # compound fill value: take its real part
                fill = fill["r"] if "r" in (ds.dtype.names or ()) else None
            nodata = ds.attrs.get("_FillValue", fill if fill is not None and fill != 0 else None)
            nodata = np.asarray(nodata).reshape(-1)[0] if nodata is not None and np.size(nodata) else None
            return RasterInfo(
                source=source,
                shape=(int(ds.shape[0]), int(ds.shape[1])),
                dtype=str(dtype),
                crs=None,
                transform=None,
                nodata=None if nodata is None else complex(nodata).real if np.iscomplexobj(nodata) else float(nodata),
                band=1,
            )
    except SarflowError:
        raise
    except Exception as exc:  # h5py reports damaged files as OSError, KeyError, RuntimeError, ValueError...
        raise RasterFormatError(f"{source}: cannot be read as HDF5 ({_short(exc)})") from exc


def _to_amplitude(values: np.ndarray, nodata: float | None) -> np.ndarray:
    """Amplitude as float32 with NaN for nodata and non-finite pixels."""
    if values.dtype.names and set(values.dtype.names) >= {"r", "i"}:
        values = values["r"].astype(np.float32) + 1j * values["i"].astype(np.float32)
    invalid = None
    if nodata is not None and np.isfinite(nodata):
        invalid = values == nodata
    # Values beyond the float32 range become inf, then NaN below: no amplitude is that large.
    with np.errstate(over="ignore", invalid="ignore"):
        if np.iscomplexobj(values):
            out = np.abs(values).astype(np.float32, copy=False)
        else:
            out = values.astype(np.float32, copy=True)
    if invalid is not None:
        out[invalid] = np.nan
    out[~np.isfinite(out)] = np.nan
    return out


def _check_window(window: Window | None, shape: tuple[int, int], source: str) -> Window | None:
    if window is None:
        return None
    row, col, height, width = (int(v) for v in window)
    if height <= 0 or width <= 0 or row < 0 or col < 0 or row + height > shape[0] or col + width > shape[1]:
        raise InputError(f"{source}: window {window} lies outside the raster of shape {shape}")
    return row, col, height, width


def read_raster(source: str | Path, *, band: int = 1, window: Window | None = None) -> Raster:
    """Read one band (or a window of it) as float32 amplitude.

    Parameters
    ----------
    source : str or path
        A raster path, or ``FILE.h5:/path/to/dataset``.
    band : int
        1-based band index.
    window : (row_off, col_off, height, width), optional
        Read only this part.

    Returns
    -------
    Raster
        ``data`` of shape (height, width), NaN where invalid.

    Raises
    ------
    RasterFormatError
        Unreadable, truncated or corrupt file, or a damaged header.
    InputError
        A window outside the raster, or more pixels declared than fit in the memory available.
    """
    info = describe_raster(source, band=band)
    win = _check_window(window, info.shape, info.source)
    check_read_size(info.shape if win is None else win[2:], info.dtype, info.source,
                    bands_per_read=info.bands_per_read)
    hdf5 = split_hdf5_source(info.source)
    try:
        if hdf5 is not None:
            import h5py

            with h5py.File(hdf5[0], "r") as f:
                ds = f[hdf5[1]]
                if win is None:
                    values = ds[()]
                else:
                    values = ds[win[0] : win[0] + win[2], win[1] : win[1] + win[3]]
        else:
            import rasterio
            from rasterio.windows import Window as RioWindow

            with quiet_georeference(), rasterio.Env(), rasterio.open(info.source) as ds:
                rio_win = None if win is None else RioWindow(win[1], win[0], win[3], win[2])
                values = ds.read(band, window=rio_win)
    except SarflowError:
        raise
    except MemoryError as exc:
        rows, cols = info.shape if win is None else win[2:]
        raise InputError(f"{info.source}: not enough memory to read {rows} x {cols} pixels") from exc
    except Exception as exc:  # GDAL / HDF5 report truncation with many exception types
        raise RasterFormatError(
            f"{info.source}: reading the pixels failed; the file may be truncated or corrupt ({_short(exc)})"
        ) from exc
    return Raster(data=_to_amplitude(values, info.nodata), info=info, window=win)


def check_same_grid(reference: RasterInfo, secondary: RasterInfo) -> None:
    """Raise `GridMismatchError` unless both rasters share shape, transform and CRS.

    The transform and CRS are compared only when both rasters have them.
    """
    if reference.shape != secondary.shape:
        raise GridMismatchError(
            f"reference and secondary differ in shape: {reference.shape} ({reference.source}) vs "
            f"{secondary.shape} ({secondary.source}); co-register or crop them to one grid first"
        )
    if reference.crs is not None and secondary.crs is not None and reference.crs != secondary.crs:
        raise GridMismatchError(
            f"reference and secondary differ in CRS: {reference.crs.to_string()} ({reference.source}) vs "
            f"{secondary.crs.to_string()} ({secondary.source}); reproject one onto the other's grid first"
        )
    if reference.transform is not None and secondary.transform is not None:
        if not reference.transform.almost_equals(secondary.transform, precision=1e-9 * _scale(reference.transform)):
            raise GridMismatchError(
                f"reference and secondary differ in transform: {tuple(reference.transform)[:6]} "
                f"({reference.source}) vs {tuple(secondary.transform)[:6]} ({secondary.source}); "
                "resample them onto one grid first"
            )


def _scale(transform: Affine) -> float:
    return max(abs(transform.a), abs(transform.e), abs(transform.c), abs(transform.f), 1.0)


def check_image(raster: Raster, *, role: str) -> None:
    """Raise if an image is entirely invalid or constant (nothing to match)."""
    valid = raster.valid
    if not valid.any():
        raise NoValidDataError(f"{role} image {raster.info.source} has no valid pixel (all nodata or non-finite)")
    values = raster.data[valid]
    if float(values.max()) == float(values.min()):
        raise ConstantImageError(
            f"{role} image {raster.info.source} is constant ({float(values[0])!r} everywhere it is valid): "
            "there is no texture to track"
        )


def open_pair(reference: str | Path, secondary: str | Path, *, band: int = 1) -> tuple[Raster, Raster]:
    """Read a reference / secondary pair and check that it can be tracked.

    Checks: declared sizes that fit in memory; same shape; same transform and CRS when both have
    them; neither image all-nodata nor constant.

    Raises
    ------
    GridMismatchError, NoValidDataError, ConstantImageError, RasterFormatError
    InputError
        A header declaring more pixels than fit in the memory available.
    """
    info_ref = describe_raster(reference, band=band)
    info_sec = describe_raster(secondary, band=band)
    for info in (info_ref, info_sec):  # a header claiming an absurd size is the first thing to report
        check_read_size(info.shape, info.dtype, info.source, bands_per_read=info.bands_per_read)
    check_same_grid(info_ref, info_sec)
    ref = read_raster(reference, band=band)
    sec = read_raster(secondary, band=band)
    check_image(ref, role="reference")
    check_image(sec, role="secondary")
    # The secondary inherits the reference's georeferencing when it has none of its own.
    if sec.info.transform is None and ref.info.transform is not None:
        sec = replace(sec, info=replace(sec.info, transform=ref.info.transform, crs=ref.info.crs))
    return ref, sec
