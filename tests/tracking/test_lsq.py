"""Dense least-squares residual measurement (`sarflow.tracking.lsq`)."""

from __future__ import annotations

import numpy as np
import pytest

from sarflow.errors import InputError
from sarflow.tracking.lsq import (
    LeastSquaresConfig,
    LeastSquaresEstimate,
    box_gaussian,
    derivative_kernel,
    fuse,
    least_squares_residual,
    refine_residual,
)


def speckle_pair(shape=(192, 192), dx=0.0, dy=0.0, *, seed=0, resolution=2.0, coherence=1.0):
    """Amplitudes of a band-limited complex speckle field and of the same field moved by (dy, dx)
    (a Fourier shift: a feature at (r, c) of the first lies at (r + dy, c + dx) in the second)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    band = np.exp(-((fx ** 2 + fy ** 2) * (np.pi * resolution) ** 2) / 2)
    noise = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    spectrum = np.fft.fft2(noise) * band
    first = np.fft.ifft2(spectrum)
    second = np.fft.ifft2(spectrum * np.exp(-2j * np.pi * (fx * dx + fy * dy)))
    if coherence < 1:
        other = np.fft.ifft2(np.fft.fft2(rng.normal(size=shape) + 1j * rng.normal(size=shape)) * band)
        second = coherence * second + np.sqrt(1 - coherence ** 2) * other
    return np.abs(first).astype(np.float32), np.abs(second).astype(np.float32)


def interior(a, margin=48):
    return a[margin:-margin, margin:-margin]


@pytest.mark.parametrize("dx, dy", [(0.1, -0.05), (-0.07, 0.12), (0.0, 0.0)])
def test_recovers_a_small_fourier_shift(dx, dy):
    ref, sec = speckle_pair(dx=dx, dy=dy)
    est = least_squares_residual(ref, sec, LeastSquaresConfig(sigma=16))
    assert np.isfinite(interior(est.dx)).all()
    assert abs(float(np.mean(interior(est.dx))) - dx) < 0.01
    assert abs(float(np.mean(interior(est.dy))) - dy) < 0.01
    # its standard error is of the size of the scatter of the estimates
    spread = float(np.std(interior(est.dx)))
    assert 0.2 * spread <= float(np.median(interior(est.sigma_dx))) <= 5 * spread + 1e-3


def test_swapping_the_images_negates_the_estimate():
    ref, sec = speckle_pair(dx=0.08, dy=0.04, coherence=0.9, seed=3)
    forward = least_squares_residual(ref, sec, LeastSquaresConfig(sigma=16))
    backward = least_squares_residual(sec, ref, LeastSquaresConfig(sigma=16))
    assert np.allclose(interior(forward.dx), -interior(backward.dx), atol=0.01)
    assert np.allclose(interior(forward.dy), -interior(backward.dy), atol=0.01)


def test_a_gain_between_the_dates_cancels():
    ref, sec = speckle_pair(dx=0.05, seed=1)
    plain = least_squares_residual(ref, sec)
    scaled = least_squares_residual(ref, 3.5 * sec)
    np.testing.assert_allclose(scaled.dx, plain.dx, atol=1e-4)
    np.testing.assert_allclose(scaled.dy, plain.dy, atol=1e-4)


def test_a_constant_image_has_no_estimate():
    ref, _ = speckle_pair()
    est = least_squares_residual(np.full_like(ref, 2.0), np.full_like(ref, 2.0))
    assert np.isnan(est.dx).all() and np.isnan(est.dy).all()
    est = least_squares_residual(ref, np.full_like(ref, np.nan))
    assert np.isnan(est.dx).all()


def test_nodata_never_turns_into_numbers_and_spares_the_rest():
    ref, sec = speckle_pair(dx=0.1, seed=2)
    sec[60:140, 60:140] = np.nan  # a large hole
    ref[0:10] = 0.0  # the usual SAR nodata value
    est = least_squares_residual(ref, sec, LeastSquaresConfig(sigma=8))
    assert np.isnan(est.dx[90:110, 90:110]).all()  # the middle of the hole: no valid pixel nearby
    far = est.dx[150:180, 20:180]
    assert np.isfinite(far).all()
    assert abs(float(np.mean(far)) - 0.1) < 0.02


def test_bad_input_is_refused():
    ref, sec = speckle_pair()
    with pytest.raises(InputError, match="one shape"):
        least_squares_residual(ref, sec[:-1])
    with pytest.raises(InputError, match="complex"):
        least_squares_residual(ref.astype(np.complex64), sec)
    with pytest.raises(InputError, match="sigma must be between"):
        LeastSquaresConfig(sigma=0.5)
    with pytest.raises(InputError, match="kappa"):
        LeastSquaresConfig(kappa=-1)
    with pytest.raises(InputError, match="unknown least-squares settings: beta"):
        LeastSquaresConfig.from_dict({"beta": 1.0})
    with pytest.raises(InputError, match="the images' shape"):
        refine_residual(ref, sec, np.zeros((3, 3)), np.zeros((3, 3)))


def test_settings_round_trip():
    config = LeastSquaresConfig(sigma=24, kappa=2.0)
    assert LeastSquaresConfig.from_dict(config.to_dict()) == config


def test_derivative_kernel_differentiates_a_sinusoid():
    x = np.arange(200, dtype=np.float64)
    for period in (4.0, 8.0, 20.0):
        f = np.sin(2 * np.pi * x / period)
        k = derivative_kernel().astype(np.float64)
        half = (k.size - 1) // 2
        d = np.array([np.dot(k, f[i - half:i + half + 1]) for i in range(half, x.size - half)])
        true = (2 * np.pi / period) * np.cos(2 * np.pi * x[half:x.size - half] / period)
        assert np.max(np.abs(d - true)) < 0.03 * (2 * np.pi / period)


def test_box_gaussian_has_the_asked_spread():
    impulse = np.zeros((257, 257), np.float32)
    impulse[128, 128] = 1.0
    out = box_gaussian(impulse, 12.0)
    profile = out.sum(axis=0)
    x = np.arange(257) - 128
    spread = np.sqrt(np.sum(profile * x ** 2) / np.sum(profile))
    assert abs(spread - 12.0) < 0.6
    assert abs(float(out.sum()) - 1.0) < 1e-4


def _estimate(dx, dy, sd):
    shape = np.shape(dx)
    return LeastSquaresEstimate(np.asarray(dx, np.float32), np.asarray(dy, np.float32),
                                np.full(shape, sd, np.float32), np.full(shape, sd, np.float32))


def test_fuse_keeps_the_base_where_the_estimate_is_only_noise():
    rng = np.random.default_rng(0)
    base = np.zeros((128, 128), np.float32)
    noise = _estimate(rng.normal(0, 0.02, base.shape), rng.normal(0, 0.02, base.shape), 0.02)
    dx, dy = fuse(base, base, noise, LeastSquaresConfig(power_sigma=16))
    assert float(np.sqrt(np.mean(dx ** 2))) < 0.2 * 0.02


def test_fuse_takes_up_a_consistent_difference():
    rng = np.random.default_rng(1)
    base = np.zeros((128, 128), np.float32)
    signal = _estimate(0.1 + rng.normal(0, 0.01, base.shape), -0.08 + rng.normal(0, 0.01, base.shape), 0.01)
    dx, dy = fuse(base, base, signal, LeastSquaresConfig(power_sigma=16))
    assert abs(float(np.mean(dx)) - 0.1) < 0.01 and abs(float(np.mean(dy)) + 0.08) < 0.01


def test_fuse_leaves_the_base_where_there_is_no_estimate():
    base = np.full((64, 64), 0.3, np.float32)
    est = _estimate(np.full((64, 64), np.nan), np.full((64, 64), np.nan), np.nan)
    dx, dy = fuse(base, base, est)
    np.testing.assert_array_equal(dx, base)
    np.testing.assert_array_equal(dy, base)


def test_refining_a_prior_residual_on_a_simulated_field():
    """After a prior that missed a smooth field, the refinement recovers most of what was missed."""
    from sarflow.scene.blocks import ArraySource, Block
    from sarflow.scene.coarse import resample

    h = w = 192
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    true_dx = 0.15 * np.sin(2 * np.pi * cols / 190.0)
    ref, sec = speckle_pair((h, w), seed=5)
    # the secondary moved by the field: sec(r) = ref(r - d), so that ref(r) = sec(r + d)
    sec = resample(ArraySource(ref), -true_dx.astype(np.float32), np.zeros_like(true_dx), Block(0, h, 0, w))
    zero = np.zeros((h, w), np.float32)
    dx, dy = refine_residual(ref, sec, zero, zero, LeastSquaresConfig(sigma=12, power_sigma=24))
    err_before = float(np.sqrt(np.mean(interior(true_dx) ** 2)))
    err_after = float(np.sqrt(np.mean(interior(dx - true_dx) ** 2)))
    assert err_after < 0.3 * err_before
    assert float(np.sqrt(np.mean(interior(dy) ** 2))) < 0.02


def test_sums_on_the_coarse_grid_agree_with_sums_at_every_pixel():
    ref, sec = speckle_pair((256, 256), dx=0.08, dy=-0.03, coherence=0.9, seed=7)
    fine = least_squares_residual(ref, sec, LeastSquaresConfig(sigma=16, power_sigma=32, step=1))
    coarse = least_squares_residual(ref, sec, LeastSquaresConfig(sigma=16, power_sigma=32, step=4))
    assert np.nanmax(np.abs(interior(coarse.dx) - interior(fine.dx))) < 0.01
    assert np.nanmax(np.abs(interior(coarse.dy) - interior(fine.dy))) < 0.01
    ratio = interior(coarse.sigma_dx) / interior(fine.sigma_dx)
    assert 0.8 < float(np.nanmedian(ratio)) < 1.25
    with pytest.raises(InputError, match="step must be a whole number"):
        LeastSquaresConfig(step=2.5)
    with pytest.raises(InputError, match="step must be a whole number"):
        LeastSquaresConfig(sigma=8, step=8)
