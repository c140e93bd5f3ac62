"""Deformation budget of the multi-kernel rule."""

from __future__ import annotations

import numpy as np

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
