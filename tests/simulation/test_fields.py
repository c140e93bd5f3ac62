"""Offset fields on pixel grids: the coarse-grid evaluation of physical models against every pixel."""

import math

import numpy as np
import pytest

from sarflow.errors import InputError
from sarflow.simulation.fields import GeophysicalField
from sarflow.simulation.geometry import RadarGeometry
from sarflow.simulation.models import MogiSource, OkadaFault, RectangularSill
from sarflow.simulation.pair import simulate_pair

SHAPE = (128, 128)
GEOMETRY = RadarGeometry(pixel_spacing_m=(10.0, 10.0))


def _grid(shape=SHAPE, margin=12):
    rows = np.arange(-margin, shape[0] + margin, dtype=np.float64)
    cols = np.arange(-margin, shape[1] + margin, dtype=np.float64)
    return np.broadcast_arrays(rows[:, None], cols[None, :])


def _both(model, geometry=GEOMETRY, rows=None, cols=None):
    """(per-pixel, coarse-grid) offsets, each stacked (2, H, W)."""
    if rows is None:
        rows, cols = _grid()
    exact = np.stack(GeophysicalField(model, geometry, grid_step_px=1).offsets_px(rows, cols, SHAPE))
    coarse = np.stack(GeophysicalField(model, geometry).offsets_px(rows, cols, SHAPE))
    return exact, coarse


FAULTS = {
    # Surface-rupturing strike-slip fault across the scene (the trace passes through the grid).
    "surface strike-slip": OkadaFault(strike_deg=30.0, dip_deg=80.0, length_m=2000.0, width_m=800.0, slip_m=3.0),
    # Shallow thrust reaching the surface, ending inside the scene (trace ends are singular).
    "surface thrust": OkadaFault(east_m=-150.0, strike_deg=100.0, dip_deg=25.0, length_m=700.0, width_m=500.0,
                                 slip_m=2.0, rake_deg=90.0),
    # Buried normal fault, its top 60 m (6 px) deep: smooth but steep above the top edge.
    "buried normal": OkadaFault(strike_deg=-20.0, dip_deg=60.0, length_m=900.0, width_m=600.0, top_depth_m=60.0,
                                slip_m=2.0, rake_deg=-90.0, opening_m=0.3),
    # Deep fault: the whole grid is interpolated.
    "deep": OkadaFault(strike_deg=45.0, dip_deg=45.0, length_m=3000.0, width_m=2000.0, top_depth_m=800.0,
                       slip_m=5.0, rake_deg=30.0),
    "sill": RectangularSill(depth_m=150.0, length_m=600.0, width_m=400.0, strike_deg=20.0, opening_m=1.0),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_coarse_grid_matches_every_pixel(name):
    exact, coarse = _both(FAULTS[name])
    peak = np.abs(exact).max()
    # Far inside the brief's 0.5 % / 0.01 px: a ten-thousandth of the largest offset.
    assert np.abs(coarse - exact).max() <= 1e-4 * peak
    assert np.abs(coarse - exact).max() <= 1e-4


def test_coarse_grid_saves_evaluations_away_from_the_fault():
    # The deep fault is interpolated everywhere, so some pixels differ (by round-off) from the exact
    # evaluation: proof that the coarse path ran.
    exact, coarse = _both(FAULTS["deep"])
    assert np.mean(exact != coarse) > 0.9


def _trace_side_distance(fault: OkadaFault, rows, cols):
    """Signed distance (m) of pixel positions from the infinite line of the fault's surface trace."""
    x_m, y_m = GEOMETRY.pixel_to_ground(rows, cols, SHAPE)
    phi = math.radians(fault.strike_deg)
    # Left of the strike direction is positive.
    return (x_m - fault.east_m) * -math.cos(phi) + (y_m - fault.north_m) * math.sin(phi)


def test_surface_rupture_is_exact_on_both_sides():
    fault = FAULTS["surface strike-slip"]
    rows, cols = _grid()
    exact, coarse = _both(fault, rows=rows, cols=cols)
    side = _trace_side_distance(fault, rows, cols)
    near = np.abs(side) < 50.0  # within 5 px of the trace's line
    left, right = near & (side > 0), near & (side < 0)
    assert left.sum() > 100 and right.sum() > 100
    for mask in (left, right):
        np.testing.assert_array_equal(coarse[:, mask], exact[:, mask])
    # The discontinuity itself is kept: the jump across the trace is that of the exact field.
    jump = np.abs(exact[0, 1:, :] - exact[0, :-1, :]).max()
    assert np.abs(coarse[0, 1:, :] - coarse[0, :-1, :]).max() == pytest.approx(jump, rel=1e-12)


def test_scattered_positions_are_evaluated_exactly():
    rng = np.random.default_rng(0)
    rows = rng.uniform(0, SHAPE[0] - 1, (80, 80))
    cols = rng.uniform(0, SHAPE[1] - 1, (80, 80))
    exact, coarse = _both(FAULTS["deep"], rows=rows, cols=cols)
    np.testing.assert_array_equal(coarse, exact)


def test_unevenly_spaced_grid_is_evaluated_exactly():
    rows = np.linspace(0.0, 127.0, 100) ** 1.1
    cols = np.arange(100, dtype=np.float64)
    r, c = np.broadcast_arrays(rows[:, None], cols[None, :])
    exact, coarse = _both(FAULTS["deep"], rows=r, cols=c)
    np.testing.assert_array_equal(coarse, exact)


def test_models_without_singular_distance_are_evaluated_exactly():
    rows, cols = _grid()
    exact, coarse = _both(MogiSource(depth_m=300.0), rows=rows, cols=cols)
    np.testing.assert_array_equal(coarse, exact)


def test_truth_of_a_simulated_fault_is_the_field_on_the_pixel_grid():
    fault = FAULTS["surface thrust"]
    pair = simulate_pair(GeophysicalField(fault, GEOMETRY), shape=(96, 96), seed=1, exact_motion=False)
    rows, cols = np.mgrid[0:96, 0:96].astype(np.float64)
    dx, dy = GeophysicalField(fault, GEOMETRY, grid_step_px=1).offsets_px(rows, cols, (96, 96))
    np.testing.assert_allclose(pair.dx, dx, atol=1e-4 * np.abs(dx).max() + 1e-6)
    np.testing.assert_allclose(pair.dy, dy, atol=1e-4 * np.abs(dy).max() + 1e-6)


@pytest.mark.parametrize("step", [0, -1, 2.5])
def test_grid_step_must_be_a_positive_integer(step):
    with pytest.raises(InputError, match="grid_step_px must be a positive integer"):
        GeophysicalField(FAULTS["deep"], GEOMETRY, grid_step_px=step)


def test_singular_distance_of_a_fault():
    # Vertical fault from the surface to 1 km depth, 2 km long, striking north through the origin.
    fault = OkadaFault(strike_deg=0.0, dip_deg=90.0, length_m=2000.0, width_m=1000.0, slip_m=1.0)
    x = np.array([0.0, 300.0, -300.0, 0.0, 400.0])
    y = np.array([0.0, 0.0, 500.0, 1300.0, 1300.0])
    # On the trace; 300 m beside it (either side); 300 m beyond its end; beside and beyond.
    expected = [0.0, 300.0, 300.0, 300.0, 500.0]
    np.testing.assert_allclose(fault.singular_distance_m(x, y), expected, atol=1e-9)
    # A buried dipping fault: the distance to its nearest point, found by brute force.
    buried = OkadaFault(strike_deg=70.0, dip_deg=35.0, length_m=1500.0, width_m=900.0, top_depth_m=200.0)
    s, t = np.meshgrid(np.linspace(-0.5, 0.5, 301), np.linspace(0, 1, 301))
    phi, dip = math.radians(70.0), math.radians(35.0)
    along = np.array([math.sin(phi), math.cos(phi), 0.0])
    down = np.array([math.cos(phi), -math.sin(phi), 0.0]) * math.cos(dip) + np.array([0, 0, -math.sin(dip)])
    plane = (s[..., None] * 1500.0 * along + t[..., None] * 900.0 * down + np.array([0.0, 0.0, -200.0])).reshape(-1, 3)
    points = np.array([[0.0, 0.0], [800.0, -300.0], [-600.0, 900.0], [300.0, -900.0]])
    brute = [np.min(np.linalg.norm(plane - np.array([px, py, 0.0]), axis=1)) for px, py in points]
    np.testing.assert_allclose(buried.singular_distance_m(points[:, 0], points[:, 1]), brute, rtol=5e-3)
    sill = RectangularSill(depth_m=150.0, length_m=600.0, width_m=400.0)
    assert float(sill.singular_distance_m(0.0, 0.0)) == pytest.approx(150.0)
