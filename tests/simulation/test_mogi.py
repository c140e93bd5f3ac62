"""Mogi point source, McTigue finite sphere and rectangular sill."""

import dataclasses
import math

import numpy as np
import pytest
from scipy.integrate import quad

from sarflow.errors import InputError
from sarflow.simulation.models import MODELS, McTigueSource, MogiSource, OkadaFault, RectangularSill
from sarflow.simulation.models.okada import okada85_surface


@pytest.mark.parametrize("nu", [0.25, 0.3])
def test_mogi_uplift_above_the_source(nu):
    # Mogi (1958): uz(0) = (1 − ν) ΔV / (π d²).
    src = MogiSource(depth_m=1500.0, volume_change_m3=2.0e7, poisson_ratio=nu)
    _, _, up = src.displacement_m(0.0, 0.0)
    assert float(up) == pytest.approx((1 - nu) * 2.0e7 / (math.pi * 1500.0**2), rel=1e-12)


def test_mogi_horizontal_to_vertical_ratio_is_r_over_d():
    src = MogiSource(east_m=200.0, north_m=-100.0, depth_m=1200.0)
    x = np.array([200.0, 900.0, -1500.0, 3000.0])
    y = np.array([400.0, -100.0, 2000.0, -2500.0])
    e, n, u = src.displacement_m(x, y)
    r = np.hypot(x - 200.0, y + 100.0)
    np.testing.assert_allclose(np.hypot(e, n) / u, r / 1200.0, rtol=1e-12)


def test_mogi_horizontal_motion_points_away_from_an_inflating_source():
    src = MogiSource(east_m=300.0, north_m=500.0)
    e, n, _ = src.displacement_m(np.array([1300.0, 300.0]), np.array([500.0, -700.0]))
    assert e[0] > 0 and n[0] == pytest.approx(0.0, abs=1e-15)
    assert n[1] < 0 and e[1] == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("nu", [0.25, 0.35])
def test_mogi_uplift_volume_is_two_one_minus_nu_times_source_volume(nu):
    # Delaney & McTigue (1994): ∫ uz dA = 2 (1 − ν) ΔV.
    src = MogiSource(depth_m=1000.0, volume_change_m3=1.0e6, poisson_ratio=nu)
    volume, _ = quad(lambda r: 2 * math.pi * r * float(src.displacement_m(r, 0.0)[2]), 0.0, np.inf)
    assert volume == pytest.approx(2 * (1 - nu) * 1.0e6, rel=1e-7)


def test_mogi_from_pressure_uses_pi_a3_dp_over_mu():
    src = MogiSource.from_pressure(depth_m=2000.0, radius_m=500.0, pressure_change_pa=1e7, shear_modulus_pa=3e10)
    assert src.volume_change_m3 == pytest.approx(math.pi * 500.0**3 * 1e7 / 3e10)


def test_mctigue_reduces_to_mogi_for_a_small_sphere():
    x = np.linspace(-6000.0, 6000.0, 13)
    small = McTigueSource(depth_m=2000.0, radius_m=20.0, pressure_change_pa=1e8, shear_modulus_pa=1e10)
    got = np.array(small.displacement_m(x, 0.5 * x))
    mogi = np.array(small.mogi_equivalent().displacement_m(x, 0.5 * x))
    np.testing.assert_allclose(got, mogi, rtol=2e-6, atol=0)


def test_mctigue_correction_grows_as_radius_over_depth_cubed():
    def excess(radius):
        s = McTigueSource(depth_m=2000.0, radius_m=radius)
        return float(s.displacement_m(0.0, 0.0)[2] / s.mogi_equivalent().displacement_m(0.0, 0.0)[2]) - 1.0

    # At the epicentre the bracket is 1 + ε³ [(1 + ν) / (2 (5ν − 7)) + 15 (ν − 2) / (4 (5ν − 7))].
    nu = 0.25
    coefficient = (1 + nu) / (2 * (5 * nu - 7)) + 15 * (nu - 2) / (4 * (5 * nu - 7))
    assert excess(200.0) == pytest.approx(coefficient * 0.1**3, rel=1e-10)
    assert excess(400.0) / excess(200.0) == pytest.approx(8.0, rel=1e-10)


def test_sill_equals_the_okada_tensile_dislocation():
    L, W, depth, opening = 2000.0, 1500.0, 1500.0, 2.0
    sill = RectangularSill(depth_m=depth, length_m=L, width_m=W, strike_deg=90.0, opening_m=opening)
    x = np.array([0.0, 700.0, -2500.0, 1800.0, 4000.0])
    y = np.array([0.0, -300.0, 1200.0, 900.0, -3500.0])
    # Strike 90: Okada's x is east, y north, and the sill spans [0, L] x [0, W] there.
    expected = okada85_surface(
        x + L / 2, y + W / 2, bottom_depth=depth, dip_deg=0.0, length=L, width=W, opening=opening
    )
    for got, want in zip(sill.displacement_m(x, y), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_sill_is_centred_on_its_position():
    sill = RectangularSill(east_m=400.0, north_m=-250.0, strike_deg=35.0)
    x = np.array([900.0, 1500.0, -700.0])
    y = np.array([100.0, -900.0, 600.0])
    e1, n1, u1 = sill.displacement_m(400.0 + x, -250.0 + y)
    e2, n2, u2 = sill.displacement_m(400.0 - x, -250.0 - y)
    np.testing.assert_allclose(u1, u2, rtol=1e-10)
    np.testing.assert_allclose(e1, -e2, rtol=1e-10)
    np.testing.assert_allclose(n1, -n2, rtol=1e-10)


def test_small_sill_matches_the_point_tensile_source():
    # Okada (1985) point tensile source, δ = 0: u = ΔV / (2π) · 3 d² (x, y, d) / R⁵.
    depth, side, opening = 2000.0, 20.0, 0.5
    sill = RectangularSill(depth_m=depth, length_m=side, width_m=side, opening_m=opening)
    x = np.array([0.0, 1000.0, -2500.0, 4000.0])
    y = np.array([0.0, 1500.0, 300.0, -3000.0])
    R = np.sqrt(x**2 + y**2 + depth**2)
    k = sill.volume_change_m3 / (2 * math.pi) * 3 * depth**2 / R**5
    for got, want in zip(sill.displacement_m(x, y), (k * x, k * y, k * depth), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-12)


def test_sill_uplift_volume_equals_its_volume_change():
    # Each point of a horizontal crack lifts 3 ΔV d³ / (2π R⁵), which integrates to ΔV for any ν.
    sill = RectangularSill(
        depth_m=1000.0, length_m=1500.0, width_m=800.0, strike_deg=30.0, opening_m=1.0, poisson_ratio=0.3
    )
    s = np.linspace(-7.0, 7.0, 161)  # x = d sinh(s): out to 550 depths
    x = 1000.0 * np.sinh(s)
    jac = 1000.0 * np.cosh(s)
    _, _, up = sill.displacement_m(x[:, None], x[None, :])
    volume = np.trapezoid(np.trapezoid(up * jac[:, None] * jac[None, :], s, axis=1), s)
    assert volume == pytest.approx(sill.volume_change_m3, rel=1e-6)


def test_sill_as_okada_is_a_horizontal_opening():
    fault = RectangularSill().as_okada()
    assert isinstance(fault, OkadaFault)
    assert fault.dip_deg == 0.0 and fault.slip_m == 0.0 and fault.opening_m == 2.0


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: MogiSource(depth_m=0.0), "depth_m must be positive"),
        (lambda: MogiSource(poisson_ratio=-1.0), "poisson_ratio"),
        (lambda: MogiSource(volume_change_m3=float("inf")), "volume_change_m3 must be finite"),
        (
            lambda: MogiSource.from_pressure(
                depth_m=100.0, radius_m=200.0, pressure_change_pa=1e6, shear_modulus_pa=1e9
            ),
            "smaller than depth_m",
        ),
        (
            lambda: MogiSource.from_pressure(depth_m=1e3, radius_m=200.0, pressure_change_pa=1e6, shear_modulus_pa=0.0),
            "shear_modulus_pa must be positive",
        ),
        (lambda: McTigueSource(radius_m=2500.0, depth_m=2000.0), "would cut the surface"),
        (lambda: McTigueSource(radius_m=0.0), "radius_m must be positive"),
        (lambda: RectangularSill(width_m=0.0), "width_m must be positive"),
        (lambda: RectangularSill(depth_m=-5.0), "depth_m must be positive"),
    ],
)
def test_impossible_sources_are_refused(factory, message):
    with pytest.raises(InputError, match=message):
        factory()


@pytest.mark.parametrize(("name", "cls"), [("mogi", MogiSource), ("mctigue", McTigueSource), ("sill", RectangularSill)])
def test_fields_carry_help_and_registry_names_the_class(name, cls):
    assert MODELS[name] is cls
    for f in dataclasses.fields(cls):
        assert f.metadata.get("help")
