"""Valley glacier: still ground outside, Glen's-law profile, sliding and shear margins, flow direction."""

import dataclasses
import math

import numpy as np
import pytest

from sarflow.errors import InputError
from sarflow.simulation.models import MODELS, ValleyGlacier

STRAIGHT = dict(meander_amplitude_m=0.0, downstream_speedup_per_km=0.0)


def _across(glacier, b, a=0.0):
    """East/north of points at along-flow a and across-flow b (left of the flow) from the origin."""
    phi = math.radians(glacier.flow_azimuth_deg)
    x = glacier.east_m + a * math.sin(phi) - b * math.cos(phi)
    y = glacier.north_m + a * math.cos(phi) + b * math.sin(phi)
    return x, y


def _speed(glacier, x, y):
    e, n, _ = glacier.displacement_m(x, y)
    return np.hypot(e, n) / glacier.duration_days


def test_ground_outside_a_straight_glacier_does_not_move():
    g = ValleyGlacier(**STRAIGHT, emergence_m_per_day=0.2)
    b = np.concatenate([np.linspace(-3000.0, -600.0, 50), np.linspace(600.0, 3000.0, 50)])
    for comp in g.displacement_m(*_across(g, b, a=np.linspace(-2000, 2000, 100))):
        assert np.all(comp == 0.0)


def _normal_offsets(glacier, a, distance):
    """Points at ``distance`` to the left of the centreline along its normal at along-flow ``a``."""
    k = 2 * math.pi / glacier.meander_wavelength_m
    b0 = glacier.meander_amplitude_m * np.sin(k * a)
    slope = glacier.meander_amplitude_m * k * np.cos(k * a)
    norm = np.sqrt(1 + slope**2)
    return _across(glacier, b0 + distance / norm, a - distance * slope / norm)


def test_meandering_glacier_has_constant_width():
    g = ValleyGlacier(meander_amplitude_m=800.0, meander_wavelength_m=5000.0, emergence_m_per_day=0.1)
    a = np.linspace(-2500.0, 2500.0, 101)  # includes the tightest bends
    h = 0.5 * g.width_m
    for side in (-1.0, 1.0):
        for comp in g.displacement_m(*_normal_offsets(g, a, side * (h + 0.5))):
            assert np.all(comp == 0.0)
        speed = _speed(g, *_normal_offsets(g, a, side * (h - 0.5)))
        assert np.all(speed > 0.0)


def test_ground_far_from_a_meandering_glacier_does_not_move():
    g = ValleyGlacier(emergence_m_per_day=0.1)
    a = np.linspace(-3000.0, 3000.0, 61)
    for distance in (650.0, 1500.0, -900.0, -2500.0):
        for comp in g.displacement_m(*_normal_offsets(g, a, distance)):
            assert np.all(comp == 0.0)


def test_speed_is_largest_on_the_centreline():
    g = ValleyGlacier(**STRAIGHT)
    b = np.linspace(-700.0, 700.0, 281)
    speed = _speed(g, *_across(g, b))
    assert b[np.argmax(speed)] == 0.0
    assert speed.max() == pytest.approx(g.speed_m_per_day, rel=1e-12)


def test_profile_without_sliding_is_glens_channel_profile():
    g = ValleyGlacier(**STRAIGHT, sliding_fraction=0.0, width_m=1000.0, speed_m_per_day=0.8, glen_n=3.0)
    b = np.linspace(-499.0, 499.0, 101)
    expected = 0.8 * (1.0 - np.abs(b / 500.0) ** 4)
    np.testing.assert_allclose(_speed(g, *_across(g, b)), expected, rtol=1e-12, atol=1e-15)


def test_plug_flow_is_uniform_between_the_shear_margins():
    g = ValleyGlacier(**STRAIGHT, sliding_fraction=1.0, width_m=1200.0, shear_margin_m=100.0)
    b = np.linspace(-500.0, 500.0, 41)
    np.testing.assert_allclose(_speed(g, *_across(g, b)), g.speed_m_per_day, rtol=1e-12)


def test_shear_margins_concentrate_the_velocity_gradient():
    g = ValleyGlacier(**STRAIGHT, sliding_fraction=0.6, width_m=1200.0, shear_margin_m=120.0)
    b = np.linspace(0.0, 599.0, 600)
    gradient = np.abs(np.diff(_speed(g, *_across(g, b))))
    interior = gradient[b[:-1] < 600.0 - 120.0]
    margin = gradient[b[:-1] >= 600.0 - 120.0]
    assert margin.max() > 5 * interior.max()


def test_sharp_margins_step_to_still_ground():
    g = ValleyGlacier(**STRAIGHT, sliding_fraction=0.5, shear_margin_m=0.0, width_m=1000.0)
    inside, edge = _speed(g, *_across(g, np.array([499.999, 500.0])))
    assert inside == pytest.approx(0.5 * g.speed_m_per_day, rel=1e-4)
    assert edge == 0.0


def test_motion_follows_the_centreline_tangent():
    g = ValleyGlacier(flow_azimuth_deg=70.0, meander_amplitude_m=400.0, meander_wavelength_m=5000.0)
    a = np.linspace(-2000.0, 2000.0, 21)
    k = 2 * math.pi / g.meander_wavelength_m
    b0 = g.meander_amplitude_m * np.sin(k * a)
    e, n, _ = g.displacement_m(*_across(g, b0, a))
    # Tangent of the centreline, from a finite difference of the curve in map coordinates.
    h = 1e-3
    xp, yp = _across(g, g.meander_amplitude_m * np.sin(k * (a + h)), a + h)
    xm, ym = _across(g, g.meander_amplitude_m * np.sin(k * (a - h)), a - h)
    te, tn = xp - xm, yp - ym
    cos_angle = (e * te + n * tn) / (np.hypot(e, n) * np.hypot(te, tn))
    np.testing.assert_allclose(cos_angle, 1.0, atol=1e-9)


def test_displacement_is_velocity_times_duration():
    x, y = np.array([0.0, 150.0, -300.0]), np.array([0.0, 80.0, -40.0])
    short = ValleyGlacier(duration_days=6.0).displacement_m(x, y)
    long = ValleyGlacier(duration_days=24.0).displacement_m(x, y)
    for s, lg in zip(short, long, strict=True):
        np.testing.assert_allclose(lg, 4 * s, rtol=1e-12)


def test_speed_grows_downstream():
    g = ValleyGlacier(meander_amplitude_m=0.0, downstream_speedup_per_km=0.2)
    upstream = _speed(g, *_across(g, 0.0, a=-1000.0))
    downstream = _speed(g, *_across(g, 0.0, a=1000.0))
    assert downstream / upstream == pytest.approx(math.exp(0.4), rel=1e-12)


def test_emergence_lifts_the_centreline_only_inside():
    g = ValleyGlacier(**STRAIGHT, emergence_m_per_day=0.05, duration_days=10.0)
    _, _, up = g.displacement_m(*_across(g, np.array([0.0, 300.0, 700.0])))
    assert up[0] == pytest.approx(0.5)
    assert 0.0 < up[1] < up[0]
    assert up[2] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(width_m=0.0), "width_m must be positive"),
        (dict(shear_margin_m=700.0), r"shear_margin_m must be in \[0, width_m / 2\]"),
        (dict(sliding_fraction=1.5), r"sliding_fraction must be in \[0, 1\]"),
        (dict(duration_days=0.0), "duration_days must be positive"),
        (dict(speed_m_per_day=-1.0), "speed_m_per_day must be >= 0"),
        (dict(glen_n=0.5), "glen_n must be >= 1"),
        (dict(meander_amplitude_m=3000.0, meander_wavelength_m=3000.0), "bends too tightly"),
        (dict(meander_wavelength_m=0.0), "meander_wavelength_m must be positive"),
    ],
)
def test_impossible_glaciers_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        ValleyGlacier(**kwargs)


def test_fields_carry_help_and_registry_names_the_class():
    assert MODELS["glacier"] is ValleyGlacier
    for f in dataclasses.fields(ValleyGlacier):
        assert f.metadata.get("help")


def test_newton_early_stop_and_far_points_change_nothing(monkeypatch):
    import sarflow.simulation.models.glacier as glacier_module

    g = ValleyGlacier(meander_amplitude_m=600.0, meander_wavelength_m=5000.0, emergence_m_per_day=0.1)
    x, y = np.meshgrid(np.linspace(-3000.0, 3000.0, 61), np.linspace(-3000.0, 3000.0, 67))
    fast = np.stack(g.displacement_m(x, y))
    # Every point evaluated on its own, with all Newton steps: the same displacement.
    monkeypatch.setattr(glacier_module, "_NEWTON_TOLERANCE", 0.0)
    slow = np.stack([np.stack(g._moving(np.array([a]), np.array([b])))[:, 0] for a, b in zip(x.ravel(), y.ravel())],
                    axis=1).reshape(fast.shape)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12 * np.abs(slow).max())
    assert (fast[0] == 0).any() and (fast[0] != 0).any()
