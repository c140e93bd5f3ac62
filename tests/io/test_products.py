import json

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from sarflow.errors import InputError, RasterFormatError
from sarflow.io import OffsetProduct, atomic_path, grid_transform, read_offsets, write_offsets

UTM7 = CRS.from_epsg(32607)
REF_TRANSFORM = Affine(15.0, 0.0, 600000.0, 0.0, -15.0, 6700000.0)


def make_product(crs=UTM7, transform=None):
    rng = np.random.default_rng(0)
    dx = rng.normal(size=(6, 8)).astype(np.float32)
    dy = rng.normal(size=(6, 8)).astype(np.float32)
    dx[0, 0] = np.nan
    ncc = rng.uniform(size=(6, 8)).astype(np.float32)
    if transform is None:
        transform = grid_transform(REF_TRANSFORM if crs else None, row0=16, col0=16, step=8)
    return OffsetProduct(dx=dx, dy=dy, quality={"ncc": ncc}, transform=transform, crs=crs,
                         metadata={"method": "test", "parameters": {"step": 8}, "reference": "a.tif"})


def test_grid_transform_places_cell_centres_on_reference_pixel_centres():
    t = grid_transform(REF_TRANSFORM, row0=16, col0=24, step=8)
    # Centre of product cell (i=2, j=3) is the centre of reference pixel (16 + 16, 24 + 24).
    assert t @ (3 + 0.5, 2 + 0.5) == pytest.approx(REF_TRANSFORM @ (48 + 0.5, 32 + 0.5))
    assert t.a == 8 * REF_TRANSFORM.a and t.e == 8 * REF_TRANSFORM.e


def test_grid_transform_in_pixel_coordinates_without_georeferencing():
    t = grid_transform(None, row0=4, col0=4, step=8)
    assert t @ (0.5, 0.5) == pytest.approx((4.5, 4.5))


@pytest.mark.parametrize("suffix", [".tif", ".nc"])
def test_round_trip_keeps_bands_grid_and_metadata(tmp_path, suffix):
    product = make_product()
    path = write_offsets(product, tmp_path / f"off{suffix}")
    back = read_offsets(path)
    np.testing.assert_array_equal(back.dx, product.dx)  # NaN positions included
    np.testing.assert_array_equal(back.dy, product.dy)
    assert list(back.quality) == ["ncc"]
    np.testing.assert_array_equal(back.quality["ncc"], product.quality["ncc"])
    assert back.transform.almost_equals(product.transform)
    assert back.crs == UTM7
    assert back.metadata["method"] == "test"
    assert json.loads(back.metadata["parameters"]) == {"step": 8}
    assert "sarflow_version" in back.metadata


@pytest.mark.parametrize("suffix", [".tif", ".nc"])
def test_round_trip_in_pixel_coordinates(tmp_path, suffix):
    product = make_product(crs=None)
    back = read_offsets(write_offsets(product, tmp_path / f"off{suffix}"))
    assert back.crs is None
    assert back.transform.almost_equals(product.transform)


def test_geotiff_band_descriptions_units_and_nodata(tmp_path):
    path = write_offsets(make_product(), tmp_path / "off.tif")
    with rasterio.open(path) as src:
        assert src.descriptions == ("dx", "dy", "ncc")
        assert src.units == ("pixel", "pixel", "1")
        assert src.dtypes == ("float32",) * 3
        assert np.isnan(src.nodata)


def test_netcdf_cf_attributes(tmp_path):
    import xarray as xr

    path = write_offsets(make_product(), tmp_path / "off.nc")
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert ds.attrs["Conventions"].startswith("CF-")
        assert ds["dx"].attrs["units"] == "pixel"
        assert ds["dx"].attrs["grid_mapping"] == "spatial_ref"
        assert ds["x"].attrs["standard_name"] == "projection_x_coordinate"
        assert "crs_wkt" in ds["spatial_ref"].attrs
        # Cell centres: first x is the centre of reference column 16.
        assert float(ds["x"][0]) == pytest.approx(600000.0 + 16.5 * 15.0)


def test_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.tif"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_keeps_previous_file(tmp_path):
    target = tmp_path / "out.tif"
    write_offsets(make_product(), target)
    before = target.read_bytes()
    bad = make_product()
    bad.quality["ncc"] = object()  # fails while writing
    with pytest.raises(Exception):
        write_offsets(bad, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]


def test_unknown_format(tmp_path):
    with pytest.raises(InputError, match="unknown output format"):
        write_offsets(make_product(), tmp_path / "off.xyz")


def test_mismatched_band_shapes():
    with pytest.raises(InputError, match="quality band 'ncc' has shape"):
        OffsetProduct(dx=np.zeros((3, 3)), dy=np.zeros((3, 3)), quality={"ncc": np.zeros((2, 3))})


def test_read_offsets_needs_dx_dy_bands(tmp_path):
    path = tmp_path / "plain.tif"
    with rasterio.open(path, "w", driver="GTiff", height=4, width=4, count=1, dtype="float32") as dst:
        dst.write(np.zeros((4, 4), np.float32), 1)
    with pytest.raises(RasterFormatError, match="no bands described 'dx' and 'dy'"):
        read_offsets(path)
