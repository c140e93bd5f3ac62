"""Radar geometry: pixel <-> ground mapping and displacement -> image offsets."""

import dataclasses
import math

import numpy as np
import pytest

from sarflow.errors import InputError
from sarflow.simulation.geometry import RadarGeometry, real_parameter

SHAPE = (200, 300)


def test_default_is_a_right_looking_ascending_pass_on_a_map_grid():
    g = RadarGeometry()
    assert (g.incidence_deg, g.heading_deg, g.look_side, g.grid) == (39.0, -12.0, "right", "map")
    assert g.look_azimuth_deg == pytest.approx(78.0)


def test_east_motion_on_map_grid_is_positive_dx():
    g = RadarGeometry(pixel_spacing_m=(15.0, 10.0))
    dx, dy = g.displacement_to_offsets(3.0, 0.0, 0.0)
    assert float(dx) == pytest.approx(0.3)
    assert float(dy) == 0.0


def test_north_motion_on_map_grid_is_negative_dy():
    g = RadarGeometry(pixel_spacing_m=(15.0, 10.0))
    dx, dy = g.displacement_to_offsets(0.0, 3.0, 0.0)
    assert float(dx) == 0.0
    assert float(dy) == pytest.approx(-0.2)


def test_uplift_on_map_grid_shifts_toward_the_radar():
    # Ascending right-looking (heading -12): the radar is to the west-south-west, ĝ at azimuth 78.
    g = RadarGeometry(incidence_deg=35.0)
    dx, dy = g.displacement_to_offsets(0.0, 0.0, 2.0)
    shift = 2.0 / math.tan(math.radians(35.0))
    assert float(dx) == pytest.approx(-shift * math.sin(math.radians(78.0)) / 10.0)
    assert float(dy) == pytest.approx(+shift * math.cos(math.radians(78.0)) / 10.0)  # south = +rows


def test_uplift_on_ground_range_radar_grid_shifts_toward_the_radar():
    g = RadarGeometry(grid="radar", incidence_deg=35.0, pixel_spacing_m=(14.0, 5.0))
    dx, dy = g.displacement_to_offsets(0.0, 0.0, 2.0)
    assert float(dx) == pytest.approx(-2.0 / math.tan(math.radians(35.0)) / 5.0)
    assert float(dy) == pytest.approx(0.0, abs=1e-15)


def test_uplift_on_slant_range_radar_grid_shortens_the_range():
    g = RadarGeometry(grid="radar", range_spacing="slant", incidence_deg=35.0, pixel_spacing_m=(14.0, 2.3))
    dx, _ = g.displacement_to_offsets(0.0, 0.0, 2.0)
    assert float(dx) == pytest.approx(-2.0 * math.cos(math.radians(35.0)) / 2.3)


def test_slant_and_ground_range_offsets_agree():
    inc = 41.0
    ground = RadarGeometry(grid="radar", incidence_deg=inc, pixel_spacing_m=(14.0, 4.0))
    slant = RadarGeometry(
        grid="radar",
        range_spacing="slant",
        incidence_deg=inc,
        pixel_spacing_m=(14.0, 4.0 * math.sin(math.radians(inc))),
    )
    assert slant.ground_pixel_spacing_m == pytest.approx(ground.ground_pixel_spacing_m)
    rng = np.random.default_rng(7)
    e, n, u = rng.normal(0.0, 3.0, (3, 20))
    np.testing.assert_allclose(
        slant.displacement_to_offsets(e, n, u), ground.displacement_to_offsets(e, n, u), rtol=1e-12, atol=1e-12
    )


def test_slant_range_change_is_minus_the_line_of_sight_projection():
    g = RadarGeometry(
        grid="radar", range_spacing="slant", incidence_deg=33.0, heading_deg=-168.0, pixel_spacing_m=(14.0, 2.3)
    )
    los = np.array(g.line_of_sight_unit)
    assert np.linalg.norm(los) == pytest.approx(1.0)
    d = np.array([1.2, -0.7, 0.4])
    dx, _ = g.displacement_to_offsets(*d)
    assert float(dx) * 2.3 == pytest.approx(-d @ los)


def test_radar_grid_for_a_known_heading():
    # Flying east (heading 90), looking right: rows run east, columns run south (away from the radar).
    g = RadarGeometry(grid="radar", heading_deg=90.0, pixel_spacing_m=(20.0, 10.0))
    dx, dy = g.displacement_to_offsets(np.array([4.0, 0.0]), np.array([0.0, 5.0]), 0.0)
    np.testing.assert_allclose(dx, [0.0, -0.5], atol=1e-15)
    np.testing.assert_allclose(dy, [0.2, 0.0], atol=1e-15)
    x, y = g.pixel_to_ground(np.array([100.5, 99.5]), np.array([149.5, 150.5]), SHAPE)
    np.testing.assert_allclose(x, [20.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(y, [0.0, -10.0], atol=1e-12)


def test_radar_grid_rotates_with_the_ascending_heading():
    g = RadarGeometry(grid="radar", heading_deg=-12.0)
    dx, dy = g.displacement_to_offsets(1.0, 0.0, 0.0)
    assert float(dx) == pytest.approx(math.cos(math.radians(12.0)) / 10.0)
    assert float(dy) == pytest.approx(-math.sin(math.radians(12.0)) / 10.0)


def test_left_looking_radar_looks_to_the_left_of_the_track():
    g = RadarGeometry(grid="radar", heading_deg=0.0, look_side="left")
    assert g.look_azimuth_deg == pytest.approx(270.0)
    dx, _ = g.displacement_to_offsets(-1.0, 0.0, 0.0)  # west: away from the radar
    assert float(dx) == pytest.approx(0.1)


@pytest.mark.parametrize(("look_side", "mirrored"), [("right", True), ("left", False)])
def test_right_looking_radar_grid_is_a_mirror_image(look_side, mirrored):
    def orientation(geometry):
        x, y = geometry.pixel_to_ground(np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0]), SHAPE)
        return np.sign((x[1] - x[0]) * (y[2] - y[0]) - (y[1] - y[0]) * (x[2] - x[0]))

    radar = RadarGeometry(grid="radar", heading_deg=-12.0, look_side=look_side)
    assert (orientation(radar) != orientation(RadarGeometry())) == mirrored


def test_map_grid_pixel_to_ground():
    g = RadarGeometry(pixel_spacing_m=(10.0, 5.0))
    x, y = g.pixel_to_ground(np.array([99.5, 0.0, 199.0]), np.array([149.5, 299.0, 0.0]), SHAPE)
    np.testing.assert_allclose(x, [0.0, 747.5, -747.5])
    np.testing.assert_allclose(y, [0.0, 995.0, -995.0])  # row 0 is the northern edge


@pytest.mark.parametrize(
    "geometry",
    [
        RadarGeometry(),
        RadarGeometry(grid="radar", heading_deg=-12.0),
        RadarGeometry(
            grid="radar", heading_deg=191.0, look_side="left", range_spacing="slant", pixel_spacing_m=(13.9, 2.33)
        ),
    ],
    ids=["map", "radar-ground", "radar-slant-left"],
)
def test_pixel_to_ground_round_trip(geometry):
    rng = np.random.default_rng(11)
    rows = rng.uniform(-5.0, SHAPE[0] + 5.0, 100)
    cols = rng.uniform(-5.0, SHAPE[1] + 5.0, 100)
    x, y = geometry.pixel_to_ground(rows, cols, SHAPE)
    r2, c2 = geometry.ground_to_pixel(x, y, SHAPE)
    np.testing.assert_allclose(r2, rows, atol=1e-9)
    np.testing.assert_allclose(c2, cols, atol=1e-9)


@pytest.mark.parametrize(
    "geometry",
    [
        RadarGeometry(),
        RadarGeometry(grid="radar", heading_deg=-168.0),
        RadarGeometry(grid="radar", range_spacing="slant"),
    ],
    ids=["map", "radar-ground", "radar-slant"],
)
def test_horizontal_offsets_follow_the_pixel_mapping(geometry):
    # A horizontal motion moves a target to the pixel of its new ground position.
    rows, cols = np.array([10.0, 120.0]), np.array([30.0, 250.0])
    e, n = np.array([7.0, -12.0]), np.array([-3.0, 9.0])
    x, y = geometry.pixel_to_ground(rows, cols, SHAPE)
    r2, c2 = geometry.ground_to_pixel(x + e, y + n, SHAPE)
    dx, dy = geometry.displacement_to_offsets(e, n, 0.0)
    np.testing.assert_allclose(dx, c2 - cols, atol=1e-9)
    np.testing.assert_allclose(dy, r2 - rows, atol=1e-9)


def test_outputs_broadcast_to_float64():
    g = RadarGeometry(grid="radar")
    dx, dy = g.displacement_to_offsets(np.ones((3, 1), dtype=np.float32), np.zeros((1, 4)), 0.5)
    assert dx.shape == dy.shape == (3, 4) and dx.dtype == np.float64
    x, y = g.pixel_to_ground(np.arange(3)[:, None], np.arange(4)[None, :], (3, 4))
    assert x.shape == y.shape == (3, 4) and x.dtype == np.float64


def test_pixel_spacing_is_stored_as_a_tuple_of_floats():
    assert RadarGeometry(pixel_spacing_m=[5, 20]).pixel_spacing_m == (5.0, 20.0)


def test_geometry_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RadarGeometry().incidence_deg = 20.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(incidence_deg=0.0), "incidence_deg must be strictly between 0 and 90"),
        (dict(incidence_deg=90.0), "incidence_deg must be strictly between 0 and 90"),
        (dict(heading_deg=float("nan")), "heading_deg must be finite"),
        (dict(look_side="up"), "look_side must be 'right' or 'left'"),
        (dict(pixel_spacing_m=(10.0, -1.0)), "pixel_spacing_m must be positive"),
        (dict(pixel_spacing_m=(10.0,)), "pixel_spacing_m must be a pair"),
        (dict(pixel_spacing_m=10.0), "pixel_spacing_m must be a pair"),
        (dict(pixel_spacing_m=(10.0, "a")), r"pixel_spacing_m\[1\] must be a real number"),
        (dict(grid="geo"), "grid must be 'map' or 'radar'"),
        (dict(range_spacing="azimuth"), "range_spacing must be 'ground' or 'slant'"),
        (dict(range_spacing="slant"), "applies to the radar grid only"),
    ],
)
def test_impossible_geometries_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        RadarGeometry(**kwargs)


@pytest.mark.parametrize(
    ("shape", "message"), [((0, 5), "shape must be positive"), ((5,), "pair"), ((5.0, 5), "two integers")]
)
def test_bad_shapes_are_refused(shape, message):
    with pytest.raises(InputError, match=message):
        RadarGeometry().pixel_to_ground(0.0, 0.0, shape)


def test_real_parameter_refuses_booleans():
    with pytest.raises(InputError, match="flag must be a real number"):
        real_parameter("flag", True)


def test_fields_carry_help():
    for f in dataclasses.fields(RadarGeometry):
        assert f.metadata.get("help")
