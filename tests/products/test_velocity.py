import math
from datetime import date, datetime

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from sarflow.errors import InputError
from sarflow.io import OffsetProduct
from sarflow.products import (
    DAYS_PER_YEAR,
    acquisition_span,
    date_tags,
    dates_from_tags,
    metres_per_degree,
    parse_date,
    velocity_from_offsets,
)

UTM33 = CRS.from_epsg(32633)
NORTH_UP_10M = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 6000000.0)
DATES = ("2020-01-01", "2020-01-13")


def uniform(dx, dy, *, shape=(5, 6), transform=NORTH_UP_10M, crs=UTM33, quality=None, metadata=None):
    return OffsetProduct(dx=np.full(shape, dx, np.float32), dy=np.full(shape, dy, np.float32),
                         quality=quality or {}, transform=transform, crs=crs,
                         metadata={"grid_step": "1"} if metadata is None else metadata)


# --- known answers ------------------------------------------------------------------------------


def test_uniform_shift_known_answer():
    vel = velocity_from_offsets(uniform(2.0, 0.0), dates=DATES)
    assert vel.days == 12.0
    np.testing.assert_allclose(vel.displacement_m, 20.0)
    np.testing.assert_allclose(vel.v, 20.0 / 12.0)
    assert vel.v[0, 0] == pytest.approx(1.667, abs=5e-4)
    np.testing.assert_allclose(vel.v_per_year, 608.75)
    np.testing.assert_allclose(vel.bands("m/yr")["v"], 608.75, rtol=1e-6)
    np.testing.assert_allclose(vel.bands("m/day")["vx"], 20.0 / 12.0, rtol=1e-6)
    np.testing.assert_allclose(vel.vy, 0.0, atol=1e-12)
    np.testing.assert_allclose(vel.direction_deg, 90.0)  # eastward
    assert vel.component_names == ("vx", "vy")


def test_north_up_grid_negative_dy_is_northward():
    vel = velocity_from_offsets(uniform(0.0, -1.0), days=10)
    np.testing.assert_allclose(vel.vy, 1.0)  # rows grow southward: dy = -1 px is 10 m north
    np.testing.assert_allclose(vel.vx, 0.0, atol=1e-12)
    np.testing.assert_allclose(vel.direction_deg, 0.0)
    south = velocity_from_offsets(uniform(0.0, 1.0), days=10)
    np.testing.assert_allclose(south.direction_deg, 180.0)
    west = velocity_from_offsets(uniform(-1.0, 0.0), days=10)
    np.testing.assert_allclose(west.direction_deg, 270.0)


def test_south_up_grid_flips_the_meaning_of_dy():
    flipped = Affine(10.0, 0.0, 500000.0, 0.0, 10.0, 5990000.0)  # rows grow northward
    vel = velocity_from_offsets(uniform(0.0, 1.0, transform=flipped), days=10)
    np.testing.assert_allclose(vel.vy, 1.0)
    np.testing.assert_allclose(vel.direction_deg, 0.0)


def test_rotated_transform_maps_pixel_vectors_through_the_linear_part():
    rotated = Affine.translation(500000.0, 6000000.0) @ Affine.rotation(30.0) @ Affine.scale(10.0, -10.0)
    along_columns = velocity_from_offsets(uniform(2.0, 0.0, transform=rotated), days=12)
    # Columns point 30 degrees counter-clockwise from east: azimuth 60 degrees, speed unchanged.
    np.testing.assert_allclose(along_columns.v, 20.0 / 12.0)
    np.testing.assert_allclose(along_columns.direction_deg, 60.0)
    np.testing.assert_allclose(along_columns.vx, 20.0 / 12.0 * math.cos(math.radians(30.0)))
    np.testing.assert_allclose(along_columns.vy, 20.0 / 12.0 * math.sin(math.radians(30.0)))
    up_rows = velocity_from_offsets(uniform(0.0, -1.0, transform=rotated), days=12)
    np.testing.assert_allclose(up_rows.direction_deg, 330.0)
    np.testing.assert_allclose(up_rows.v, 10.0 / 12.0)


def test_offsets_are_in_image_pixels_not_product_cells():
    # A tracking grid every 8 pixels of a 10 m image: 80 m cells, but 2 px is still 20 m.
    coarse = Affine(80.0, 0.0, 500000.0, 0.0, -80.0, 6000000.0)
    tracked = uniform(2.0, 0.0, transform=coarse, metadata={"method": "sarflow.track: ...",
                                                             "parameters": '{"step": 8, "chip_sizes": [32]}'})
    vel = velocity_from_offsets(tracked, dates=DATES)
    np.testing.assert_allclose(vel.displacement_m, 20.0)
    assert vel.metadata["grid_step"] == "8.0"
    predicted = uniform(2.0, 0.0, metadata={"method": "sarflow.predict: network m.pt"})
    np.testing.assert_allclose(velocity_from_offsets(predicted, dates=DATES).displacement_m, 20.0)
    np.testing.assert_allclose(velocity_from_offsets(uniform(2.0, 0.0, transform=coarse, metadata={}),
                                                     dates=DATES, grid_step=8).displacement_m, 20.0)


def test_unknown_grid_step_is_refused():
    with pytest.raises(InputError, match="--grid-step N"):
        velocity_from_offsets(uniform(1.0, 0.0, metadata={}), dates=DATES)
    with pytest.raises(InputError, match="positive number of image pixels"):
        velocity_from_offsets(uniform(1.0, 0.0), dates=DATES, grid_step=0)


def test_projected_crs_in_feet_converts_to_metres():
    feet = uniform(1.0, 0.0, crs=CRS.from_epsg(2263), transform=Affine(10.0, 0, 1e6, 0, -10.0, 2e5))
    vel = velocity_from_offsets(feet, days=1)
    np.testing.assert_allclose(vel.vx, 10.0 * 0.3048006096, rtol=1e-9)


def test_metres_per_degree_on_wgs84():
    per_lon, per_lat = metres_per_degree(np.array([0.0, 60.0]))
    np.testing.assert_allclose(per_lon, [111319.49, 55799.98], atol=0.5)
    np.testing.assert_allclose(per_lat, [110574.28, 111412.24], atol=0.5)


def test_geographic_grid_uses_metres_per_degree_at_each_cell():
    # 0.001 degree pixels around 60 N: one column is ~55.8 m east, one row ~111.4 m south.
    t = Affine(0.001, 0.0, 10.0, 0.0, -0.001, 60.0025)
    vel = velocity_from_offsets(uniform(1.0, -1.0, crs=CRS.from_epsg(4326), transform=t), days=1)
    lat = 60.0025 - 0.001 * (np.arange(5) + 0.5)
    per_lon, per_lat = metres_per_degree(lat)
    np.testing.assert_allclose(vel.vx, 0.001 * per_lon[:, None] * np.ones((1, 6)), rtol=1e-9)
    np.testing.assert_allclose(vel.vy, 0.001 * per_lat[:, None] * np.ones((1, 6)), rtol=1e-9)
    np.testing.assert_allclose(vel.vx[2, 0], 55.80, atol=0.05)
    expected_direction = np.degrees(np.arctan2(vel.vx, vel.vy))
    np.testing.assert_allclose(vel.direction_deg, expected_direction)
    assert 26 < vel.direction_deg[0, 0] < 27  # east-north-east: a degree of longitude is half as long


def test_geographic_grid_near_a_pole_is_refused():
    t = Affine(0.01, 0.0, 0.0, 0.0, -0.01, 89.5)
    with pytest.raises(InputError, match="polar stereographic"):
        velocity_from_offsets(uniform(1.0, 0.0, crs=CRS.from_epsg(4326), transform=t), days=1)


def test_radar_geometry_with_slant_range_and_incidence():
    product = uniform(1.0, 2.0, crs=None, transform=Affine.identity(), metadata={})
    vel = velocity_from_offsets(product, days=12, pixel_spacing=(2.3, 14.1))
    assert vel.geometry == "radar" and vel.component_names == ("v_range", "v_azimuth")
    np.testing.assert_allclose(vel.vx, 2.3 / 12)
    np.testing.assert_allclose(vel.vy, 2 * 14.1 / 12)
    ground = velocity_from_offsets(product, days=12, pixel_spacing=(2.3, 14.1), incidence_deg=30.0)
    np.testing.assert_allclose(ground.vx, 2.3 / math.sin(math.radians(30.0)) / 12)  # 4.6 m ground range
    assert list(ground.bands())[:4] == ["v_range", "v_azimuth", "v", "direction"]
    np.testing.assert_allclose(velocity_from_offsets(uniform(0.0, 1.0, crs=None, metadata={}), days=1,
                                                     pixel_spacing=(5, 5)).direction_deg, 90.0)
    np.testing.assert_allclose(velocity_from_offsets(uniform(-1.0, 0.0, crs=None, metadata={}), days=1,
                                                     pixel_spacing=(5, 5)).direction_deg, 180.0)


# --- units, NaN, uncertainty --------------------------------------------------------------------


def test_band_units_and_names():
    quality = {"sigma_px": np.full((5, 6), 0.1, np.float32)}
    vel = velocity_from_offsets(uniform(1.0, 1.0, quality=quality), days=5)
    assert list(vel.bands()) == ["vx", "vy", "v", "direction", "v_error", "vx_error", "vy_error"]
    assert vel.band_units("m/yr") == {"vx": "m/yr", "vy": "m/yr", "v": "m/yr", "direction": "degree",
                                      "v_error": "m/yr", "vx_error": "m/yr", "vy_error": "m/yr"}
    assert set(vel.band_units("m/day").values()) == {"m/day", "degree"}
    ratio = vel.bands("m/yr")["v"] / vel.bands("m/day")["v"]
    np.testing.assert_allclose(ratio, DAYS_PER_YEAR, rtol=1e-6)
    assert all(b.dtype == np.float32 for b in vel.bands().values())
    with pytest.raises(InputError, match="unknown velocity units"):
        vel.bands("km/h")
    no_sigma = velocity_from_offsets(uniform(1.0, 1.0), days=5)
    assert no_sigma.v_error is None and "v_error" not in no_sigma.bands()


def test_nan_stays_nan():
    product = uniform(1.0, -1.0, quality={"sigma_dx": np.full((5, 6), 0.1, np.float32),
                                          "sigma_dy": np.full((5, 6), 0.2, np.float32)})
    product.dx[1, 2] = np.nan
    product.dy[3, 4] = np.nan
    vel = velocity_from_offsets(product, days=3)
    holes = np.zeros((5, 6), bool)
    holes[1, 2] = holes[3, 4] = True
    for name, band in vel.bands().items():
        assert np.isnan(band[holes]).all(), name
        assert np.isfinite(band[~holes]).all(), name


def test_uncertainty_matches_a_hand_computation():
    quality = {"sigma_dx": np.full((2, 2), 0.2, np.float32), "sigma_dy": np.full((2, 2), 0.1, np.float32)}
    vel = velocity_from_offsets(uniform(3.0, -4.0, shape=(2, 2), quality=quality), days=10)
    # 30 m east, 40 m north over 10 days: vx 3, vy 4, v 5 m/day; svx = 2 m / 10 d, svy = 1 m / 10 d.
    np.testing.assert_allclose(vel.vx, 3.0, rtol=1e-6)
    np.testing.assert_allclose(vel.vy, 4.0, rtol=1e-6)
    np.testing.assert_allclose(vel.vx_error, 0.2, rtol=1e-6)
    np.testing.assert_allclose(vel.vy_error, 0.1, rtol=1e-6)
    np.testing.assert_allclose(vel.v_error, math.sqrt((3 * 0.2) ** 2 + (4 * 0.1) ** 2) / 5, rtol=1e-6)


def test_uncertainty_at_zero_speed_is_the_direction_average():
    quality = {"sigma_dx": np.full((2, 2), 0.2, np.float32), "sigma_dy": np.full((2, 2), 0.1, np.float32)}
    vel = velocity_from_offsets(uniform(0.0, 0.0, shape=(2, 2), quality=quality), days=10)
    np.testing.assert_allclose(vel.v_error, math.sqrt((0.2**2 + 0.1**2) / 2), rtol=1e-6)
    assert np.isnan(vel.direction_deg).all()
    # Continuous where both sigmas agree: a tiny motion gets the same error as none.
    same = {"sigma_px": np.full((2, 2), 0.3, np.float32)}
    still = velocity_from_offsets(uniform(0.0, 0.0, shape=(2, 2), quality=same), days=10).v_error
    moving = velocity_from_offsets(uniform(1e-4, 0.0, shape=(2, 2), quality=same), days=10).v_error
    np.testing.assert_allclose(still, moving, rtol=1e-6)


def test_uncertainty_on_a_rotated_grid_projects_onto_the_motion():
    rotated = Affine.translation(500000.0, 6000000.0) @ Affine.rotation(30.0) @ Affine.scale(10.0, -10.0)
    quality = {"sigma_dx": np.full((2, 2), 0.3, np.float32), "sigma_dy": np.full((2, 2), 5.0, np.float32)}
    vel = velocity_from_offsets(uniform(2.0, 0.0, shape=(2, 2), transform=rotated, quality=quality), days=12)
    # Motion along the columns: only sigma_dx projects onto it, whatever sigma_dy is.
    np.testing.assert_allclose(vel.v_error, 0.3 * 10.0 / 12.0, rtol=1e-5)
    c, s = math.cos(math.radians(30.0)), math.sin(math.radians(30.0))
    np.testing.assert_allclose(vel.vx_error, math.hypot(10 * c * 0.3, 10 * s * 5.0) / 12, rtol=1e-5)
    np.testing.assert_allclose(vel.vy_error, math.hypot(10 * s * 0.3, 10 * c * 5.0) / 12, rtol=1e-5)


# --- dates ----------------------------------------------------------------------------------------


def test_parse_date_forms():
    assert parse_date("2020-01-13") == datetime(2020, 1, 13)
    assert parse_date("2020-01-13T05:43:12.5Z") == datetime(2020, 1, 13, 5, 43, 12, 500000)
    assert parse_date("2020-01-13T07:43:12+02:00") == datetime(2020, 1, 13, 5, 43, 12)
    assert parse_date("20200113") == datetime(2020, 1, 13)
    assert parse_date("2020:01:13 05:43:12") == datetime(2020, 1, 13, 5, 43, 12)
    assert parse_date(date(2020, 1, 13)) == datetime(2020, 1, 13)
    assert parse_date(np.datetime64("2020-01-13T12:00")) == datetime(2020, 1, 13, 12)
    with pytest.raises(InputError, match="is not a date; use ISO 8601"):
        parse_date("13/01/2020x")


def test_time_span_with_times_of_day():
    _, _, span, _ = acquisition_span(dates=("2020-01-01T06:00:00", "2020-01-13T18:00:00"))
    assert span == 12.5


@pytest.mark.parametrize("dates, message", [
    (("2020-01-13", "2020-01-01"), "before the reference date"),
    (("2020-01-13", "2020-01-13"), "two different dates"),
    (("2020-01-13",), "must be two dates"),
    ("2020-01-13", "must be two dates"),
    (("2020-01-01", "not a date"), "is not a date"),
])
def test_bad_dates(dates, message):
    with pytest.raises(InputError, match=message):
        velocity_from_offsets(uniform(1.0, 0.0), dates=dates)


def test_bad_days_and_both_given():
    with pytest.raises(InputError, match="positive number of days"):
        velocity_from_offsets(uniform(1.0, 0.0), days=0)
    with pytest.raises(InputError, match="positive number of days"):
        velocity_from_offsets(uniform(1.0, 0.0), days=float("nan"))
    with pytest.raises(InputError, match="not both"):
        velocity_from_offsets(uniform(1.0, 0.0), dates=DATES, days=12)


def test_missing_dates_without_metadata():
    with pytest.raises(InputError, match=r"no acquisition dates: give them \(--dates"):
        velocity_from_offsets(uniform(1.0, 0.0))


@pytest.mark.parametrize("keys", [("reference_date", "secondary_date"),
                                  ("acquisition_date_img1", "acquisition_date_img2")])
def test_dates_from_product_tags(keys):
    meta = {"grid_step": "1", keys[0]: "2020-01-01T00:00:00", keys[1]: "2020-01-13T00:00:00"}
    vel = velocity_from_offsets(uniform(2.0, 0.0, metadata=meta))
    assert vel.days == 12.0
    assert vel.metadata["dates_source"] == f"product tags {keys[0]}, {keys[1]}"
    assert vel.dates_text() == "2020-01-01 to 2020-01-13 (12 days)"


def test_date_tags_round_trip_and_check():
    tags = date_tags(DATES)
    assert tags == {"reference_date": "2020-01-01T00:00:00", "secondary_date": "2020-01-13T00:00:00"}
    with pytest.raises(InputError, match="before the reference date"):
        date_tags(DATES[::-1])


def test_dates_from_image_tags_order_and_case():
    assert dates_from_tags({"acquisition_start_time": "2015-07-05T06:42:41.5"}) == \
        (datetime(2015, 7, 5, 6, 42, 41, 500000), "ACQUISITION_START_TIME")
    both = {"TIFFTAG_DATETIME": "2020:02:02 00:00:00", "DATE_ACQUIRED": "2016-07-18"}
    assert dates_from_tags(both) == (datetime(2016, 7, 18), "DATE_ACQUIRED")
    assert dates_from_tags({"TIFFTAG_DATETIME": "2020:02:02 10:00:00"})[1] == "TIFFTAG_DATETIME"
    assert dates_from_tags({"ACQUISITION_DATE": "garbage", "date": "reference"}) is None


# --- bad geometry inputs ------------------------------------------------------------------------


@pytest.mark.parametrize("spacing, incidence, message", [
    (None, None, "--pixel-spacing RANGE_M AZIMUTH_M"),
    ((10.0, -1.0), None, "two positive numbers of metres"),
    ((10.0, float("nan")), None, "two positive numbers of metres"),
    ((10.0, 10.0, 10.0), None, "two positive numbers of metres"),
    (("a", 10.0), None, "must be two numbers"),
    ((10.0, 10.0), 90.0, "strictly between 0 and 90"),
    ((10.0, 10.0), 0.0, "strictly between 0 and 90"),
])
def test_bad_radar_spacing(spacing, incidence, message):
    product = uniform(1.0, 0.0, crs=None, metadata={})
    with pytest.raises(InputError, match=message):
        velocity_from_offsets(product, days=1, pixel_spacing=spacing, incidence_deg=incidence)


def test_spacing_options_refused_for_geocoded_products_and_grid_step_for_radar():
    with pytest.raises(InputError, match="is geocoded"):
        velocity_from_offsets(uniform(1.0, 0.0), days=1, pixel_spacing=(10, 10))
    with pytest.raises(InputError, match="is geocoded"):
        velocity_from_offsets(uniform(1.0, 0.0), days=1, incidence_deg=35)
    with pytest.raises(InputError, match="--grid-step is for geocoded"):
        velocity_from_offsets(uniform(1.0, 0.0, crs=None), days=1, pixel_spacing=(10, 10), grid_step=1)


def test_degenerate_transform():
    flat = Affine(10.0, 20.0, 0.0, 1.0, 2.0, 0.0)
    with pytest.raises(InputError, match="degenerate"):
        velocity_from_offsets(uniform(1.0, 0.0, transform=flat), days=1)
