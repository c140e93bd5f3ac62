"""Fuzzing the raster readers: a short seeded run of benchmarks/fuzz_readers.py, and its past finds.

The harness feeds mutated bytes of small valid GeoTIFF and HDF5 files to `read_raster` /
`open_pair` in a worker process; only an image or a `SarflowError` may come out. Longer runs:
``python benchmarks/fuzz_readers.py --seconds 300``. The regression tests below rebuild, by hand,
the kinds of file earlier runs found escaping (HDF5 damage surfacing as KeyError / RuntimeError,
headers that made GDAL decode gigabytes for a 32 x 32 image).
"""

from __future__ import annotations

import importlib.util
import struct
import sys
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import rasterio

from sarflow.errors import InputError, RasterFormatError, SarflowError
from sarflow.io.rasters import read_raster

HARNESS_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_readers.py"


@pytest.fixture(scope="module")
def harness():
    """The benchmark script, imported as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("fuzz_readers", HARNESS_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_readers"] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("fuzz_readers", None)


def test_seeded_fuzz_run_has_no_escape(harness):
    """200 seeded mutations: every read ends in an image or a SarflowError; no crash, no hang."""
    report = harness.fuzz(iterations=200, seed=0, timeout=30.0)
    assert report.iterations == 200
    assert report.escapes == [], report.escapes
    totals = {k: sum(c[k] for c in report.outcomes.values()) for k in ("ok", "refused")}
    # The mutations reach both outcomes: some files still read, most are refused.
    assert totals["ok"] > 0 and totals["refused"] > 0
    assert totals["ok"] + totals["refused"] == 200


def test_harness_reports_a_foreign_exception(harness, tmp_path, monkeypatch):
    """The oracle itself: an exception other than SarflowError is classified as an escape."""
    import sarflow.io.rasters as rasters

    def broken(source, **kwargs):
        raise ValueError("not a sarflow error")

    monkeypatch.setattr(rasters, "read_raster", broken)
    path = tmp_path / "x.tif"
    path.write_bytes(b"II*\x00")
    assert harness.read_outcome(path)["outcome"] == "escape"


def test_mutations_are_reproducible(harness):
    data = bytes(range(256)) * 8
    first = harness.mutate(data, np.random.default_rng(3))
    assert first == harness.mutate(data, np.random.default_rng(3))
    assert first != data


# ----------------------------------------------------------------------------- regressions

def _tiff(path: Path, data: np.ndarray, **options) -> bytearray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path, "w", driver="GTiff", height=data.shape[-2], width=data.shape[-1], count=1,
                           dtype=data.dtype, **options) as ds:
            ds.write(data, 1)
    return bytearray(path.read_bytes())


def _entries(data: bytearray) -> dict[int, int]:
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    return {struct.unpack_from("<H", data, ifd + 2 + 12 * k)[0]: ifd + 2 + 12 * k for k in range(count)}


def test_tiles_far_larger_than_the_image_are_refused_from_the_header(tmp_path):
    """A 32 x 32 GeoTIFF declaring 65535 x 65535 tiles: GDAL would allocate 16 GiB to decode one."""
    data = _tiff(tmp_path / "t.tif", np.ones((32, 32), np.float32), tiled=True, blockxsize=16, blockysize=16,
                 compress="deflate")
    entries = _entries(data)
    for tag in (322, 323):  # TileWidth, TileLength, as LONG
        struct.pack_into("<HHII", data, entries[tag], tag, 4, 1, 65535)
    path = tmp_path / "huge-tiles.tif"
    path.write_bytes(bytes(data))
    with pytest.raises(RasterFormatError, match=r"huge-tiles\.tif: declares storage blocks of 65535 x 65535"):
        read_raster(path)


def test_one_band_of_many_interleaved_counts_them_all(tmp_path):
    """65535 pixel-interleaved bands: reading band 1 would read all of them (256 GiB); refused up front."""
    data = _tiff(tmp_path / "t.tif", np.ones((32, 32), np.int16))
    entries = _entries(data)
    struct.pack_into("<HHIH", data, entries[277], 277, 3, 1, 65535)  # SamplesPerPixel
    struct.pack_into("<HHII", data, entries[256], 256, 4, 1, 65535)  # ImageWidth
    path = tmp_path / "many-bands.tif"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"many-bands\.tif: declares 32 x 65535 pixels of int16 in 65535 interleaved"):
        read_raster(path)


def test_damaged_hdf5_object_header_is_a_format_error(tmp_path):
    """h5py reports this as KeyError; the reader names the file instead."""
    path = tmp_path / "damaged.h5"
    with h5py.File(path, "w") as f:
        address = h5py.h5o.get_info(f.create_dataset("data", data=np.ones((32, 32), np.float32)).id).addr
    data = bytearray(path.read_bytes())
    data[address] = 7  # object header version
    path.write_bytes(bytes(data))
    with pytest.raises(RasterFormatError, match=r"damaged\.h5:/data: cannot be read as HDF5"):
        read_raster(f"{path}:/data")


def test_non_numeric_hdf5_dataset_is_refused(tmp_path):
    path = tmp_path / "strings.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("names", data=np.array([[b"a", b"b"], [b"c", b"d"]]))
    with pytest.raises(RasterFormatError, match="a numeric image is needed"):
        read_raster(f"{path}:/names")


def test_float64_beyond_float32_range_becomes_nodata(tmp_path):
    """No overflow warning, no inf: values no amplitude can have are no-data."""
    values = np.full((8, 8), 2.0)
    values[0, 0] = 1e300
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=values)
    raster = read_raster(f"{path}:/data")
    assert np.isnan(raster.data[0, 0]) and (raster.data[1:] == 2.0).all()


def test_every_reader_failure_is_a_sarflow_error(tmp_path):
    for content in (b"", b"II*\x00" + bytes(100), b"\x89HDF\r\n\x1a\n" + bytes(100)):
        for name in ("f.tif", "f.h5:/data"):
            path = tmp_path / name.split(":")[0]
            path.write_bytes(content)
            with pytest.raises(SarflowError):
                read_raster(str(tmp_path / name))
