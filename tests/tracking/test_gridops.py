"""Grid helpers that replace scipy.ndimage in the tracker."""

from __future__ import annotations

import numpy as np

from sarflow.tracking.gridops import fill_nearest, interp_grid, neighbourhood_min_max, window_sum


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
