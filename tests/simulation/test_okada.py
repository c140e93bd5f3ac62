"""Okada (1985) rectangular dislocation: published check values, discontinuity, symmetry, frames."""

import dataclasses
import math

import numpy as np
import pytest

from sarflow.errors import InputError
from sarflow.simulation.models import MODELS, OkadaFault
from sarflow.simulation.models.okada import okada85_surface

# Okada (1985), BSSA 75(4), Table 2 ("Checklist for numerical calculations"), finite rectangular
# source, unit dislocation, λ = μ (ν = 0.25); displacements (ux, uy, uz) in the fault frame.
# Case 2: x = 2, y = 3, d = 4, δ = 70°, L = 3, W = 2.
# Case 3: x = 0, y = 0, d = 4, δ = 90°, L = 3, W = 2.
# Case 4 is printed for δ = −90° (d = 4); the same fault is the δ = 90° fault with d = 6 whose
# up-dip direction is reversed, which flips the sign of the strike-slip component only.
TABLE2 = [
    ("case2-strike", (2, 3, 4, 70), dict(strike_slip=1.0), (-8.689e-3, -4.298e-3, -2.747e-3)),
    ("case2-dip", (2, 3, 4, 70), dict(dip_slip=1.0), (-4.682e-3, -3.527e-2, -3.564e-2)),
    ("case2-tensile", (2, 3, 4, 70), dict(opening=1.0), (-2.660e-4, +1.056e-2, +3.214e-3)),
    ("case3-strike", (0, 0, 4, 90), dict(strike_slip=1.0), (0.0, +5.253e-3, 0.0)),
    ("case3-dip", (0, 0, 4, 90), dict(dip_slip=1.0), (0.0, 0.0, 0.0)),
    ("case3-tensile", (0, 0, 4, 90), dict(opening=1.0), (+1.223e-2, 0.0, -1.606e-2)),
    ("case4-strike", (0, 0, 6, 90), dict(strike_slip=-1.0), (0.0, -1.303e-3, 0.0)),
    ("case4-dip", (0, 0, 6, 90), dict(dip_slip=1.0), (0.0, 0.0, 0.0)),
    ("case4-tensile", (0, 0, 6, 90), dict(opening=1.0), (+3.507e-3, 0.0, -7.740e-3)),
]


def _printed_tolerance(value):
    """Half a unit in the last of the 4 significant digits printed in the table."""
    if value == 0:
        return 1e-12
    return 0.5 * 10.0 ** (math.floor(math.log10(abs(value))) - 3)


@pytest.mark.parametrize("case", TABLE2, ids=[c[0] for c in TABLE2])
def test_okada85_table2_check_values(case):
    _, (x, y, d, dip), slip, expected = case
    got = okada85_surface(x, y, bottom_depth=d, dip_deg=dip, length=3.0, width=2.0, poisson_ratio=0.25, **slip)
    for g, e in zip(got, expected, strict=True):
        assert float(g) == pytest.approx(e, abs=_printed_tolerance(e))


def test_fault_in_scene_frame_reproduces_table2_case2():
    # Strike 90 (east): Okada's x is east and y north. The top edge's midpoint is at
    # (L/2, W cos δ) and depth d − W sin δ.
    dip, L, W, d = 70.0, 3.0, 2.0, 4.0
    base = dict(
        east_m=L / 2,
        north_m=W * math.cos(math.radians(dip)),
        strike_deg=90.0,
        dip_deg=dip,
        length_m=L,
        width_m=W,
        top_depth_m=d - W * math.sin(math.radians(dip)),
        poisson_ratio=0.25,
    )
    cases = [
        (dict(slip_m=1.0, rake_deg=0.0), (-8.689e-3, -4.298e-3, -2.747e-3)),
        (dict(slip_m=1.0, rake_deg=90.0), (-4.682e-3, -3.527e-2, -3.564e-2)),
        (dict(slip_m=0.0, opening_m=1.0), (-2.660e-4, +1.056e-2, +3.214e-3)),
    ]
    for extra, expected in cases:
        got = OkadaFault(**base, **extra).displacement_m(2.0, 3.0)
        for g, e in zip(got, expected, strict=True):
            assert float(g) == pytest.approx(e, abs=_printed_tolerance(e))


def test_vertical_formulas_continue_the_general_ones():
    # The cos δ = 0 branch (eq. 29-30) at 90° against the general eq. 28 just below 90°: the
    # difference must vanish linearly with cos δ (no loss of precision as cos δ -> 0).
    x = np.array([2.0, -1.0, 0.5, 4.0])
    y = np.array([3.0, 0.7, -2.0, -0.3])
    kw = dict(bottom_depth=4.0, length=3.0, width=2.0, strike_slip=1.0, dip_slip=1.0, opening=1.0)
    vertical = np.array(okada85_surface(x, y, dip_deg=90.0, **kw))
    diffs = []
    for dip in (89.999, 89.9999):
        diffs.append((np.array(okada85_surface(x, y, dip_deg=dip, **kw)) - vertical) / math.cos(math.radians(dip)))
    assert np.abs(diffs[0]).max() < 1.0
    np.testing.assert_allclose(diffs[1], diffs[0], atol=1e-4)


def test_surface_rupture_jump_equals_strike_slip():
    fault = OkadaFault(
        strike_deg=0.0, dip_deg=90.0, length_m=4000.0, width_m=3000.0, top_depth_m=0.0, slip_m=2.5, rake_deg=0.0
    )
    north = np.array([-1500.0, 0.0, 900.0])
    eps = 1e-3
    e_east, n_east, u_east = fault.displacement_m(eps, north)
    e_west, n_west, u_west = fault.displacement_m(-eps, north)
    # Strike north, dipping to the right (east): the east side is the hanging wall, and rake 0
    # (left-lateral) moves it along strike, north, relative to the west side.
    np.testing.assert_allclose(n_east - n_west, 2.5, rtol=1e-5)
    np.testing.assert_allclose(e_east - e_west, 0.0, atol=1e-6)
    np.testing.assert_allclose(u_east - u_west, 0.0, atol=1e-6)


def test_points_on_a_surface_trace_are_finite_and_average_both_sides():
    fault = OkadaFault(strike_deg=0.0, dip_deg=90.0, length_m=4000.0, width_m=3000.0, slip_m=2.5)
    north = np.linspace(-3000.0, 3000.0, 61)  # includes both trace ends (+-2000) and beyond
    on = fault.displacement_m(np.zeros_like(north), north)
    for comp in on:
        assert np.all(np.isfinite(comp))
    inner = np.abs(north) < 1900
    side_a = fault.displacement_m(1e-3, north[inner])
    side_b = fault.displacement_m(-1e-3, north[inner])
    np.testing.assert_allclose(on[1][inner], 0.5 * (side_a[1] + side_b[1]), atol=1e-5)


def test_dipping_trace_points_from_rotated_coordinates_are_finite():
    fault = OkadaFault()  # surface-rupturing, dip 80, strike 30
    t = np.linspace(-0.6, 0.6, 25) * fault.length_m
    phi = math.radians(fault.strike_deg)
    x, y = t * math.sin(phi), t * math.cos(phi)
    for comp in fault.displacement_m(x, y):
        assert np.all(np.isfinite(comp))


def test_thrust_jump_is_the_slip_vector():
    # Strike 90 (east), dip 30 to the south, reverse slip: the hanging wall (south side) moves
    # up-dip, i.e. north and up, by the slip.
    dip, slip = 30.0, 1.5
    fault = OkadaFault(strike_deg=90.0, dip_deg=dip, length_m=5000.0, width_m=2000.0, slip_m=slip, rake_deg=90.0)
    eps = 1e-3
    south = np.array(fault.displacement_m(100.0, -eps))
    north = np.array(fault.displacement_m(100.0, eps))
    expected = slip * np.array([0.0, math.cos(math.radians(dip)), math.sin(math.radians(dip))])
    np.testing.assert_allclose(south - north, expected, atol=1e-5)


def test_vertical_strike_slip_is_antisymmetric_across_the_fault():
    fault = OkadaFault(strike_deg=90.0, dip_deg=90.0, top_depth_m=500.0, slip_m=1.0, length_m=4000.0, width_m=3000.0)
    x = np.array([-2500.0, -300.0, 0.0, 700.0, 1900.0, 4000.0])
    y = np.array([150.0, 800.0, 2000.0, 40.0, 1200.0, 3000.0])
    e1, n1, u1 = fault.displacement_m(x, y)
    e2, n2, u2 = fault.displacement_m(x, -y)
    np.testing.assert_allclose(e2, -e1, atol=1e-12)
    np.testing.assert_allclose(n2, n1, atol=1e-12)
    np.testing.assert_allclose(u2, -u1, atol=1e-12)


def test_vertical_strike_slip_is_symmetric_under_half_turn():
    fault = OkadaFault(east_m=0.0, north_m=0.0, strike_deg=90.0, dip_deg=90.0, top_depth_m=500.0, slip_m=1.0)
    x = np.array([-2500.0, -300.0, 700.0, 1900.0])
    y = np.array([150.0, 800.0, -40.0, 1200.0])
    e1, n1, u1 = fault.displacement_m(x, y)
    e2, n2, u2 = fault.displacement_m(-x, -y)
    np.testing.assert_allclose(e2, -e1, atol=1e-12)
    np.testing.assert_allclose(n2, -n1, atol=1e-12)
    np.testing.assert_allclose(u2, u1, atol=1e-12)


def test_far_field_decays_as_inverse_square():
    # A finite fault looks like a point double couple far away: |u| ~ 1/r².
    fault = OkadaFault(top_depth_m=2000.0, dip_deg=60.0, slip_m=1.0, rake_deg=45.0)
    direction = np.array([0.6, 0.8])
    near = np.array(fault.displacement_m(*(2e5 * direction)))
    far = np.array(fault.displacement_m(*(4e5 * direction)))
    assert np.linalg.norm(far) / np.linalg.norm(near) == pytest.approx(0.25, rel=0.02)
    assert np.linalg.norm(near) < 1e-3


def test_rotating_the_strike_rotates_the_field():
    params = dict(
        dip_deg=55.0, length_m=3000.0, width_m=2000.0, top_depth_m=300.0, slip_m=1.0, rake_deg=-60.0, opening_m=0.3
    )
    base = OkadaFault(strike_deg=20.0, **params)
    turned = OkadaFault(strike_deg=20.0 + 75.0, **params)
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-5000, 5000, (2, 50))
    # A clockwise turn by 75 degrees of points and vectors (azimuths grow clockwise).
    c, s = math.cos(math.radians(75.0)), math.sin(math.radians(75.0))

    def turn(e, n):
        return c * e + s * n, -s * e + c * n

    e0, n0, u0 = base.displacement_m(x, y)
    e1, n1, u1 = turned.displacement_m(*turn(x, y))
    te, tn = turn(e0, n0)
    np.testing.assert_allclose(e1, te, atol=1e-12)
    np.testing.assert_allclose(n1, tn, atol=1e-12)
    np.testing.assert_allclose(u1, u0, atol=1e-12)


def test_displacement_broadcasts_to_float64():
    e, n, u = OkadaFault().displacement_m(np.arange(3.0)[:, None], np.arange(4, dtype=np.float32)[None, :])
    for comp in (e, n, u):
        assert comp.shape == (3, 4)
        assert comp.dtype == np.float64


def test_rake_splits_slip_into_components():
    fault = OkadaFault(slip_m=2.0, rake_deg=30.0)
    assert fault.strike_slip_m == pytest.approx(math.sqrt(3.0))
    assert fault.dip_slip_m == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(top_depth_m=-10.0), "above the ground surface"),
        (dict(width_m=0.0), "width_m must be positive"),
        (dict(length_m=-1.0), "length_m must be positive"),
        (dict(poisson_ratio=0.6), "poisson_ratio"),
        (dict(dip_deg=95.0), "dip_deg must be between 0 and 90"),
        (dict(dip_deg=0.0, top_depth_m=0.0), "must be buried"),
        (dict(slip_m=-1.0), "slip_m is a magnitude"),
        (dict(strike_deg=float("nan")), "strike_deg must be finite"),
        (dict(opening_m="1"), "opening_m must be a real number"),
    ],
)
def test_impossible_faults_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        OkadaFault(**kwargs)


def test_okada85_refuses_a_fault_reaching_above_the_surface():
    with pytest.raises(InputError, match="must lie below the surface"):
        okada85_surface(0.0, 0.0, bottom_depth=1.0, dip_deg=90.0, length=3.0, width=2.0, strike_slip=1.0)


def test_fields_carry_help_and_registry_names_the_class():
    assert MODELS["okada"] is OkadaFault
    for f in dataclasses.fields(OkadaFault):
        assert f.metadata.get("help")
