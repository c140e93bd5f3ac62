"""Deformation budget of the multi-kernel rule."""

from __future__ import annotations

import numpy as np
import pytest

from sarflow.tracking.multikernel import deformation_budget, deformation_error


def _fields(step_px: float):
    """Two chip sizes on a 12 x 12 grid: the fine one sees a 3 px step, the large one a smooth ramp."""
    j = np.arange(12)[None, :].repeat(12, axis=0).astype(float)
    fine = np.where(j >= 6, step_px, 0.0)
    smooth = np.clip((j - 3) / 6, 0, 1) * step_px * 0.2
    dx = np.stack([fine, smooth])
    dy = np.zeros_like(dx)
    sigma = np.full_like(dx, 0.02)
    return dy, dx, sigma, np.ones(dx.shape, bool)


def test_finer_chip_field_reveals_shear_a_large_chip_smooths_away():
    dy, dx, sigma, valid = _fields(3.0)
    change, _ = deformation_budget(dy, dx, sigma, valid, (32, 128), step=8)
    assert change[1, 6, 6] > 2.5


def test_noise_allowance_hides_deformation_below_the_field_noise():
    dy, dx, sigma, valid = _fields(0.05)
    change, curv = deformation_budget(dy, dx, sigma, valid, (32, 128), step=8)
    assert change.max() == 0.0 and curv.max() == 0.0


def test_deformation_error_grows_with_gradient_and_curvature():
    e = deformation_error(np.array([0.0, 1.0, 1.0]), np.array([0.0, 0.0, 1.0]))
    assert e[0] == 0.0 < e[1] < e[2]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (5, 1), (23, 31)])
def test_nanmedian3_equals_nanmedian_of_the_nine_neighbours(dtype, shape):
    """Odd and even counts of finite neighbours, ties, all-NaN neighbourhoods: the values of np.nanmedian."""
    import warnings

    from sarflow.tracking.multikernel import _nanmedian3

    rng = np.random.default_rng(7)
    for values in (rng.normal(size=shape), rng.integers(0, 3, size=shape).astype(float)):
        for share in (0.0, 0.4, 0.9, 1.0):
            p = values.astype(dtype)
            p[rng.random(shape) < share] = np.nan
            pad = np.pad(p, 1, mode="edge")
            stack = np.stack([pad[a:a + shape[0], b:b + shape[1]] for a in range(3) for b in range(3)])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                expected = np.nanmedian(stack, axis=0)
            got = _nanmedian3(p)
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)
