import numpy as np

from sarflow.tracking.prior import compose_residual, residual_target


def _smooth_prior(shape, seed=0, amplitude=3.0):
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    pdx = amplitude * np.sin(rows / 17.0 + seed) * np.cos(cols / 23.0)
    pdy = amplitude * np.cos(rows / 19.0) * np.sin(cols / 29.0 - seed)
    return pdx.astype(np.float32), pdy.astype(np.float32)


def test_residual_target_and_compose_are_inverse():
    shape = (96, 112)
    pdx, pdy = _smooth_prior(shape)
    tdx, tdy = _smooth_prior(shape, seed=1, amplitude=3.4)
    rdx, rdy = residual_target(tdx, tdy, pdx, pdy)
    back_dx, back_dy = compose_residual(rdx, rdy, pdx, pdy)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(back_dx - tdx)[inner].max() < 2e-3
    assert np.abs(back_dy - tdy)[inner].max() < 2e-3
    # The residual is not simply d - p where the prior varies.
    assert np.abs(rdx - (tdx - pdx))[inner].max() > 0.05


def test_zero_residual_reproduces_the_prior():
    pdx, pdy = _smooth_prior((64, 64))
    zero = np.zeros_like(pdx)
    dx, dy = compose_residual(zero, zero, pdx, pdy)
    np.testing.assert_allclose(dx, pdx, atol=1e-6)
    np.testing.assert_allclose(dy, pdy, atol=1e-6)
