"""Landslide block: zero outside, full motion inside, monotonic taper."""

import dataclasses
import math

import numpy as np
import pytest

from sarflow.errors import InputError
from sarflow.simulation.models import MODELS, Landslide


def _body(slide, a, b):
    """East/north of points at a along the motion and b to its left, from the body's centre."""
    az = math.radians(slide.azimuth_deg)
    x = slide.east_m + a * math.sin(az) - b * math.cos(az)
    y = slide.north_m + a * math.cos(az) + b * math.sin(az)
    return x, y


@pytest.mark.parametrize("shape", ["ellipse", "rectangle"])
def test_ground_outside_the_body_does_not_move(shape):
    slide = Landslide(shape=shape, east_m=300.0, north_m=-200.0, length_m=800.0, width_m=500.0, taper_m=100.0)
    theta = np.linspace(0.0, 2 * math.pi, 73)
    # Points on and beyond the outline: the ellipse's outline, or the rectangle's circumscribed
    # ellipse (sqrt 2 larger), scaled from just beyond 1 to 3.
    grow = 1.0 if shape == "ellipse" else math.sqrt(2.0)
    for scale in (1.0001, 1.01, 1.5, 3.0):
        a = grow * scale * 400.0 * np.cos(theta)
        b = grow * scale * 250.0 * np.sin(theta)
        for comp in slide.displacement_m(*_body(slide, a, b)):
            assert np.all(comp == 0.0)


@pytest.mark.parametrize("shape", ["ellipse", "rectangle"])
def test_core_moves_by_the_full_vector(shape):
    slide = Landslide(shape=shape, azimuth_deg=200.0, plunge_deg=25.0, magnitude_m=4.0, taper_m=80.0)
    rng = np.random.default_rng(1)
    a = rng.uniform(-200.0, 200.0, 50)  # inside the core ellipse of semi-axes (320, 170)
    b = rng.uniform(-100.0, 100.0, 50)
    e, n, u = slide.displacement_m(*_body(slide, a, b))
    az, pl = math.radians(200.0), math.radians(25.0)
    np.testing.assert_allclose(e, 4.0 * math.cos(pl) * math.sin(az), rtol=1e-12)
    np.testing.assert_allclose(n, 4.0 * math.cos(pl) * math.cos(az), rtol=1e-12)
    np.testing.assert_allclose(u, -4.0 * math.sin(pl), rtol=1e-12)


@pytest.mark.parametrize("shape", ["ellipse", "rectangle"])
def test_taper_decreases_monotonically_outward(shape):
    slide = Landslide(shape=shape, length_m=900.0, width_m=400.0, taper_m=150.0)
    rho = np.linspace(0.0, 600.0, 1201)
    for angle in np.linspace(0.0, 2 * math.pi, 24, endpoint=False):
        w = slide.weight(*_body(slide, rho * math.cos(angle), rho * math.sin(angle)))
        assert np.all(np.diff(w) <= 1e-15)
        assert w[0] == 1.0 and w[-1] == 0.0
        assert np.all((w >= 0.0) & (w <= 1.0))


def test_taper_is_a_raised_cosine_across_the_rim():
    slide = Landslide(shape="rectangle", length_m=1000.0, width_m=600.0, taper_m=100.0)
    inset = np.array([0.0, 25.0, 50.0, 75.0, 100.0, 150.0])
    w = slide.weight(*_body(slide, 500.0 - inset, 0.0))  # across the downslope edge
    np.testing.assert_allclose(w, 0.5 - 0.5 * np.cos(math.pi * np.minimum(inset / 100.0, 1.0)), atol=1e-12)


def test_ellipse_rim_spans_from_the_outline_to_the_inset_ellipse():
    slide = Landslide(shape="ellipse", length_m=800.0, width_m=500.0, taper_m=100.0)
    # Along the long axis the rim runs from a = 400 (outline) to a = 300 (inner ellipse).
    w = slide.weight(*_body(slide, np.array([300.0, 350.0, 400.0]), 0.0))
    np.testing.assert_allclose(w, [1.0, 0.5, 0.0], atol=1e-12)


@pytest.mark.parametrize("shape", ["ellipse", "rectangle"])
def test_zero_taper_gives_a_sharp_edge(shape):
    slide = Landslide(shape=shape, length_m=800.0, width_m=500.0, taper_m=0.0)
    w = slide.weight(*_body(slide, np.array([0.0, 0.0]), np.array([249.999, 250.001])))
    np.testing.assert_array_equal(w, [1.0, 0.0])


def test_positive_plunge_moves_the_block_down():
    _, _, up = Landslide(plunge_deg=30.0, magnitude_m=2.0).displacement_m(0.0, 0.0)
    assert float(up) == pytest.approx(-1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(taper_m=300.0), r"taper_m must be in \[0, min\(length_m, width_m\) / 2\)"),
        (dict(taper_m=-1.0), "taper_m must be in"),
        (dict(shape="circle"), "shape must be 'ellipse' or 'rectangle'"),
        (dict(plunge_deg=120.0), r"plunge_deg must be in \[-90, 90\]"),
        (dict(width_m=0.0), "width_m must be positive"),
        (dict(magnitude_m=-2.0), "magnitude_m must be >= 0"),
    ],
)
def test_impossible_landslides_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        Landslide(**kwargs)


def test_fields_carry_help_and_registry_names_the_class():
    assert MODELS["landslide"] is Landslide
    for f in dataclasses.fields(Landslide):
        assert f.metadata.get("help")
