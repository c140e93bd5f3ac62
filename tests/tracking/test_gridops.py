"""Grid helpers that replace scipy.ndimage in the tracker."""

from __future__ import annotations

import numpy as np
import pytest

from sarflow.tracking.gridops import (
    adaptive_smooth,
    fill_nearest,
    interp_grid,
    neighbourhood_min_max,
    window_sum,
)


def test_fill_nearest_takes_the_closest_finite_value():
    f = np.full((5, 7), np.nan)
    f[0, 0], f[4, 6] = 1.0, 2.0
    out = fill_nearest(f)
    assert out[1, 1] == 1.0 and out[3, 5] == 2.0


def test_window_sum_counts_neighbours_with_zeros_outside():
    assert window_sum(np.ones((4, 4)), 3)[0, 0] == 4.0


def test_neighbourhood_min_max_replicates_edges():
    lo, hi = neighbourhood_min_max(np.arange(9.0).reshape(3, 3))
    assert lo[2, 2] == 4.0 and hi[0, 0] == 4.0


def test_interp_grid_is_bilinear_and_clamped():
    f = np.array([[0.0, 1.0], [2.0, 3.0]])
    out = interp_grid(f, [0, 10], [0, 10], [5, 20], [5])
    np.testing.assert_allclose(out[:, 0], [1.5, 2.5])


def _noisy_step(rng, sigma=0.05):
    """A field with a 1 px step between columns 19 and 20, tracker-like noise, a few gaps."""
    truth = np.where(np.arange(40)[None, :] < 20, 0.3, 1.3) * np.ones((30, 1))
    noisy = truth + rng.normal(0.0, sigma, truth.shape)
    noisy[5, 5] = noisy[12, 30] = np.nan
    return truth, noisy, np.full(truth.shape, sigma), np.full(truth.shape, 32.0)


def test_adaptive_smoothing_averages_smooth_ground_and_keeps_a_step():
    rng = np.random.default_rng(1)
    truth, noisy, sigma, chip = _noisy_step(rng)
    out = adaptive_smooth(noisy, sigma, chip, 8)
    flat = (slice(None), np.r_[0:15, 25:40])
    rms_in, rms_out = (float(np.sqrt(np.nanmean((f[flat] - truth[flat]) ** 2))) for f in (noisy, out))
    assert rms_out < 0.5 * rms_in  # away from the step, the noise averages out
    # Across the step a large window would mix 0.3 and 1.3 (a 7 x 7 mean is off by 1/7 px two
    # columns away); only the smallest window (3 x 3) reaches over it.
    beside = np.r_[0:19, 21:40]
    assert np.max(np.abs(out[:, beside] - truth[:, beside])) < 0.1
    assert np.max(np.abs(out[:, 19:21] - truth[:, 19:21])) < 1 / 3 + 0.1  # a third of the step, plus noise
    assert np.isfinite(out).all()  # the gaps take their neighbourhood's mean
    assert abs(out[5, 5] - 0.3) < 0.1 and abs(out[12, 30] - 1.3) < 0.1


def test_adaptive_smoothing_follows_a_ramp_and_leaves_empty_ground_empty():
    rng = np.random.default_rng(2)
    ramp = np.linspace(0.0, 2.0, 50)[None, :] * np.ones((20, 1))  # 0.04 px per grid point
    noisy = ramp + rng.normal(0.0, 0.03, ramp.shape)
    out = adaptive_smooth(noisy, np.full(ramp.shape, 0.03), np.full(ramp.shape, 64.0), 8)
    inner = (slice(3, -3), slice(3, -3))  # a symmetric window is unbiased on a ramp
    assert np.sqrt(np.mean((out[inner] - ramp[inner]) ** 2)) < np.sqrt(np.mean((noisy[inner] - ramp[inner]) ** 2))
    empty = np.full((6, 6), np.nan)
    assert np.isnan(adaptive_smooth(empty, empty, empty, 8)).all()


def test_chips_larger_than_the_window_give_no_false_confidence():
    """Neighbours of one large chip share its error: averaging them must not shrink the interval."""
    rng = np.random.default_rng(3)
    truth, noisy, sigma, _ = _noisy_step(rng, sigma=0.02)
    small, large = (adaptive_smooth(noisy, sigma, np.full(truth.shape, c), 8) for c in (8.0, 128.0))
    near = (slice(None), slice(17, 23))
    # with small chips (independent errors) the intervals are tight and the step stops the windows
    # sooner; with large ones they are wider, so the step is smeared at least as much
    assert np.abs(small[near] - truth[near]).max() <= np.abs(large[near] - truth[near]).max() + 1e-6


def test_no_window_is_wider_than_the_chip_the_tracker_chose():
    rng = np.random.default_rng(4)
    noisy = rng.normal(0.0, 0.05, (20, 20))
    sigma = np.full(noisy.shape, 0.05)
    three = window_sum(noisy, 3) / window_sum(np.ones_like(noisy), 3)  # the 3 x 3 mean
    # 24 px chips on an 8 px grid: only the smallest window (3 x 3, 24 px) is allowed
    np.testing.assert_allclose(adaptive_smooth(noisy, sigma, np.full(noisy.shape, 24.0), 8), three, atol=1e-6)
    # 16 px chips: not even that one; each point keeps its estimate, a gap takes its 3 x 3 mean
    holed = noisy.copy()
    holed[7, 7] = np.nan
    kept = adaptive_smooth(holed, sigma, np.full(noisy.shape, 16.0), 8)
    np.testing.assert_allclose(np.delete(kept.ravel(), 7 * 20 + 7), np.delete(noisy.ravel(), 7 * 20 + 7), atol=1e-6)
    assert kept[7, 7] == pytest.approx((three[7, 7] * 9 - noisy[7, 7]) / 8, abs=1e-6)
    # 64 px chips: windows up to 7 x 7 (56 px), so the pure noise averages further
    wide = adaptive_smooth(noisy, sigma, np.full(noisy.shape, 64.0), 8)
    assert np.std(wide[5:-5, 5:-5]) < np.std(three[5:-5, 5:-5])


def test_components_smoothed_together_equal_each_alone():
    rng = np.random.default_rng(5)
    _, dx, sigma, chip = _noisy_step(rng)
    dy = -0.5 * dx + rng.normal(0.0, 0.05, dx.shape)  # the same gaps (NaN propagates)
    both = adaptive_smooth(np.stack([dx, dy]), sigma, chip, 8)
    assert both.shape == (2,) + dx.shape
    np.testing.assert_array_equal(both[0], adaptive_smooth(dx, sigma, chip, 8))
    np.testing.assert_array_equal(both[1], adaptive_smooth(dy, sigma, chip, 8))
