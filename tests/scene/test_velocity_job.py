import json

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

from sarflow.errors import InputError, OutputExistsError
from sarflow.io import OffsetProduct, grid_transform, write_geotiff, write_offsets
from sarflow.scene.velocity import dates_from_images, velocity, velocity_path

UTM7 = CRS.from_epsg(32607)
IMAGE_TRANSFORM = Affine(15.0, 0.0, 600000.0, 0.0, -15.0, 6700000.0)


def tracked_product(*, crs=UTM7, rotated=False, metadata=None):
    """A track-like product: 6 x 8 cells every 4 pixels of a 15 m image; 2 px east, 1 px north."""
    base = IMAGE_TRANSFORM if crs is not None else None
    transform = grid_transform(base, row0=8, col0=8, step=4)
    if rotated:
        transform = transform @ Affine.rotation(20.0)
    dx = np.full((6, 8), 2.0, np.float32)
    dy = np.full((6, 8), -1.0, np.float32)
    dx[0, 0] = np.nan
    sigma = np.full((6, 8), 0.1, np.float32)
    meta = {"method": "sarflow.track: test", "parameters": {"step": 4}, "reference": "reference.tif",
            "secondary": "secondary.tif"}
    meta.update(metadata or {})
    return OffsetProduct(dx=dx, dy=dy, quality={"sigma_px": sigma}, transform=transform, crs=crs, metadata=meta)


def test_geotiff_round_trip_names_units_grid_and_tags(tmp_path):
    product = tracked_product()
    off = write_offsets(product, tmp_path / "off.tif")
    vel = velocity(off, tmp_path / "vel.tif", dates=("2016-07-18", "2016-08-03"))
    with rasterio.open(tmp_path / "vel.tif") as src:
        assert src.descriptions == ("vx", "vy", "v", "direction", "v_error", "vx_error", "vy_error")
        assert src.units == ("m/yr",) * 3 + ("degree",) + ("m/yr",) * 3
        assert src.crs == UTM7
        assert src.transform.almost_equals(product.transform)
        tags = src.tags()
        vx, vy, v, direction = (src.read(i) for i in (1, 2, 3, 4))
    assert tags["velocity_units"] == "m/yr"
    assert tags["reference_date"] == "2016-07-18T00:00:00" and tags["secondary_date"] == "2016-08-03T00:00:00"
    assert tags["time_span_days"] == "16.0" and tags["grid_step"] == "4.0"
    assert tags["offsets"] == str(off) and tags["reference"] == "reference.tif"
    # 2 px of 15 m east, 1 px north, over 16 days.
    np.testing.assert_allclose(vx[1:, :], 30.0 / 16 * 365.25, rtol=1e-6)
    np.testing.assert_allclose(vy[1:, :], 15.0 / 16 * 365.25, rtol=1e-6)
    assert np.isnan(v[0, 0]) and np.isnan(direction[0, 0])
    np.testing.assert_allclose(v[1, 1], vel.v_per_year[1, 1], rtol=1e-6)


def test_netcdf_round_trip_names_units_and_crs(tmp_path):
    vel = velocity(tracked_product(), tmp_path / "vel.nc", days=16, units="m/day")
    with xr.open_dataset(tmp_path / "vel.nc", engine="h5netcdf") as ds:
        assert [n for n in ds.data_vars if n != "spatial_ref"] == ["vx", "vy", "v", "direction", "v_error",
                                                                     "vx_error", "vy_error"]
        assert ds["vx"].attrs["units"] == "m/day" and ds["direction"].attrs["units"] == "degree"
        assert ds["v"].attrs["grid_mapping"] == "spatial_ref"
        assert CRS.from_wkt(ds["spatial_ref"].attrs["crs_wkt"]) == UTM7
        assert ds.attrs["title"] == "sarflow velocity" and ds.attrs["Conventions"].startswith("CF-")
        assert ds.attrs["dates_source"] == "given time span"
        assert ds["x"].attrs["standard_name"] == "projection_x_coordinate"
        np.testing.assert_allclose(ds["v"].values, vel.v, rtol=1e-6)
        assert np.isnan(ds["vx"].values[0, 0])
        # Cell centres: first x is the centre of image column 8.
        assert float(ds["x"][0]) == pytest.approx(600000.0 + 8.5 * 15.0)


def test_radar_geometry_netcdf_and_geotiff(tmp_path):
    product = tracked_product(crs=None, metadata={"parameters": {"step": 4}})
    velocity(product, tmp_path / "vel.tif", days=12, pixel_spacing=(2.3, 14.0), incidence_deg=35.0, netcdf=True)
    with rasterio.open(tmp_path / "vel.tif") as src:
        assert src.descriptions[:4] == ("v_range", "v_azimuth", "v", "direction")
        assert src.crs is None
    with xr.open_dataset(tmp_path / "vel.nc", engine="h5netcdf") as ds:
        assert "v_range_error" in ds and "spatial_ref" not in ds
        assert ds["x"].attrs["units"] == "pixel"
        ground = 2.3 / np.sin(np.radians(35.0))
        np.testing.assert_allclose(ds["v_range"].values[1:], 2 * ground / 12 * 365.25, rtol=1e-6)


def test_geographic_netcdf_has_longitude_latitude(tmp_path):
    t = Affine(0.001, 0.0, -140.0, 0.0, -0.001, 60.0)
    product = OffsetProduct(dx=np.ones((3, 4)), dy=np.zeros((3, 4)), transform=t, crs=CRS.from_epsg(4326),
                            metadata={"grid_step": "1"})
    velocity(product, tmp_path / "vel.nc", days=1)
    with xr.open_dataset(tmp_path / "vel.nc", engine="h5netcdf") as ds:
        assert ds["x"].attrs["standard_name"] == "longitude" and ds["y"].attrs["units"] == "degrees_north"
        assert ds["vx"].attrs["long_name"] == "eastward velocity"


def test_existing_output_refused_before_any_work(tmp_path):
    out = tmp_path / "vel.tif"
    out.write_bytes(b"previous")
    with pytest.raises(OutputExistsError, match="pass --overwrite"):
        velocity(tmp_path / "missing.tif", out, days=1)  # refused before the input is even read
    assert out.read_bytes() == b"previous"
    png = tmp_path / "vel.png"
    png.write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="vel.png exists"):
        velocity(tracked_product(), tmp_path / "other.tif", days=1, quicklook=png)
    assert not (tmp_path / "other.tif").exists()
    velocity(tracked_product(), out, days=1, quicklook=png, overwrite=True)
    with rasterio.open(out) as src:
        assert src.count == 7
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_output_names(tmp_path):
    with pytest.raises(InputError, match="must end in .tif or .nc"):
        velocity(tracked_product(), tmp_path / "vel.png", days=1)
    with pytest.raises(InputError, match="quick-look must end in .png"):
        velocity(tracked_product(), tmp_path / "vel.tif", days=1, quicklook=tmp_path / "q.jpg")
    with pytest.raises(InputError, match="does not exist"):
        velocity(tracked_product(), tmp_path / "no" / "vel.tif", days=1)


def test_rotated_grid_with_netcdf_refused_before_writing(tmp_path):
    with pytest.raises(InputError, match="rotated; write a GeoTIFF"):
        velocity(tracked_product(rotated=True), tmp_path / "vel.tif", days=1, netcdf=True)
    assert list(tmp_path.iterdir()) == []
    vel = velocity(tracked_product(rotated=True), tmp_path / "vel.tif", days=1)
    # Rotating the pixel axes counter-clockwise on the (rows-down) image turns motion clockwise on the map.
    np.testing.assert_allclose(vel.direction_deg[1, 1], np.degrees(np.arctan2(30, 15)) + 20, rtol=1e-6)
    np.testing.assert_allclose(vel.v[1, 1], np.hypot(30, 15), rtol=1e-6)


def _images_with_tags(folder, key, first, second):
    for name, value in (("reference.tif", first), ("secondary.tif", second)):
        write_geotiff(folder / name, {"amplitude": np.ones((4, 4), np.float32)}, transform=IMAGE_TRANSFORM, crs=UTM7,
                      tags={key: value})


def test_dates_from_the_images_named_in_the_product(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    _images_with_tags(data, "ACQUISITION_START_TIME", "2020-01-01T05:00:00", "2020-01-13T05:00:00")
    off = write_offsets(tracked_product(), data / "off.tif")
    monkeypatch.chdir(tmp_path)  # the relative image names resolve beside the product
    vel = velocity(off, tmp_path / "vel.tif")
    assert vel.days == 12.0
    assert vel.metadata["dates_source"].startswith("image tags ACQUISITION_START_TIME of reference.tif")
    with rasterio.open(tmp_path / "vel.tif") as src:
        assert src.tags()["reference_date"] == "2020-01-01T05:00:00"
    found = dates_from_images({"reference": "reference.tif", "secondary": "secondary.tif"}, base=data)
    assert found[0][1].day == 13


def test_product_dates_win_over_image_dates(tmp_path):
    _images_with_tags(tmp_path, "ACQUISITION_DATE", "2020-01-01", "2020-01-13")
    product = tracked_product(metadata={"reference_date": "2020-01-01", "secondary_date": "2020-01-07"})
    vel = velocity(write_offsets(product, tmp_path / "off.tif"), tmp_path / "vel.tif")
    assert vel.days == 6.0 and vel.metadata["dates_source"].startswith("product tags")


def test_missing_dates_names_what_was_looked_at(tmp_path):
    write_geotiff(tmp_path / "reference.tif", {"amplitude": np.ones((4, 4), np.float32)}, tags={"date": "reference"})
    off = write_offsets(tracked_product(), tmp_path / "off.tif")
    with pytest.raises(InputError, match=r"no acquisition dates.*images \(reference.tif, secondary.tif\) were not "
                                         r"found or carry none of ACQUISITION_START_TIME"):
        velocity(off, tmp_path / "vel.tif")
    assert not (tmp_path / "vel.tif").exists()


def test_velocity_path_beside_the_offsets():
    assert str(velocity_path("out/off.tif")) == "out/off_velocity.tif"
    assert json.dumps(str(velocity_path("o.nc"))) == '"o_velocity.nc"'
