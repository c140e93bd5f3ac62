"""Losses and metrics: masking, NaN targets, known values."""

import math

import pytest
import torch

from sarflow.errors import InputError
from sarflow.nn import flow_metrics, gaussian_nll_loss, masked_huber_loss, multiscale_huber_loss


def test_huber_known_values_and_mask():
    pred = torch.zeros(1, 2, 2, 2)
    target = torch.zeros(1, 2, 2, 2)
    target[0, 0, 0, 0] = 0.05  # quadratic: 0.5 * 0.05**2
    target[0, 1, 0, 1] = 1.0  # linear: 0.1 * (1 - 0.05)
    loss = masked_huber_loss(pred, target, delta=0.1)
    assert loss.item() == pytest.approx((0.5 * 0.05**2 + 0.1 * 0.95) / 8)
    mask = torch.ones(1, 1, 2, 2, dtype=torch.bool)
    mask[0, 0, 0, 1] = False
    assert masked_huber_loss(pred, target, mask).item() == pytest.approx(0.5 * 0.05**2 / 6)


def test_masked_pixels_do_not_change_the_loss_or_get_gradient():
    pred = torch.randn(2, 2, 5, 5, requires_grad=True)
    target = torch.randn(2, 2, 5, 5)
    mask = torch.rand(2, 1, 5, 5) > 0.3
    loss = masked_huber_loss(pred, target, mask.float())
    changed = target.clone()
    changed[~mask.expand_as(target)] += 100.0
    assert masked_huber_loss(pred, changed, mask).item() == pytest.approx(loss.item())
    loss.backward()
    assert bool((pred.grad[~mask.expand_as(pred)] == 0).all())


def test_nan_targets_are_ignored():
    pred = torch.randn(1, 2, 4, 4, requires_grad=True)
    target = torch.randn(1, 2, 4, 4)
    holed = target.clone()
    holed[0, 1, 2, 3] = float("nan")  # one component NaN: the whole pixel drops out
    mask = torch.ones(1, 1, 4, 4)
    mask[0, 0, 2, 3] = 0
    expected = masked_huber_loss(pred, target, mask)
    for loss_fn in (lambda t: masked_huber_loss(pred, t), lambda t: gaussian_nll_loss(pred, torch.zeros_like(pred), t)):
        loss = loss_fn(holed)
        assert torch.isfinite(loss)
        loss.backward()
        assert torch.isfinite(pred.grad).all()
        pred.grad = None
    assert masked_huber_loss(pred, holed).item() == pytest.approx(expected.item())


def test_no_valid_pixel_gives_zero_with_graph():
    pred = torch.randn(1, 2, 3, 3, requires_grad=True)
    loss = masked_huber_loss(pred, torch.full((1, 2, 3, 3), float("nan")))
    assert loss.item() == 0.0
    loss.backward()


def test_gaussian_nll_known_value_and_clamp():
    pred = torch.zeros(1, 2, 1, 1)
    target = torch.full((1, 2, 1, 1), 2.0)
    log_var = torch.full((1, 2, 1, 1), math.log(4.0))
    expected = 0.5 * (math.log(4.0) + 4.0 / 4.0) + 0.5 * math.log(2 * math.pi)
    assert gaussian_nll_loss(pred, log_var, target).item() == pytest.approx(expected, rel=1e-6)
    huge = gaussian_nll_loss(pred, torch.full_like(log_var, -1e4), target)
    clamped = 0.5 * (-10 + 4 * math.exp(10)) + 0.5 * math.log(2 * math.pi)
    assert torch.isfinite(huge) and huge.item() == pytest.approx(clamped, rel=1e-5)
    with pytest.raises(InputError, match="log_var"):
        gaussian_nll_loss(pred, log_var[:, :1], target)


def test_multiscale_loss_is_zero_for_exact_pooled_predictions():
    target = torch.randn(1, 2, 9, 11)
    pooled = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(target, (0, 1, 0, 1)), 2)  # (1, 2, 5, 6)
    # Only whole 2 x 2 blocks valid: the last block row and column (half padding) are masked out.
    mask = torch.zeros(1, 1, 9, 11)
    mask[..., :8, :10] = 1
    loss = multiscale_huber_loss([pooled], target, mask)
    assert loss.item() == pytest.approx(0.0, abs=1e-7)
    assert multiscale_huber_loss([], target).item() == 0.0


def test_flow_metrics_known_case():
    pred = torch.zeros(1, 2, 2, 2)
    target = torch.zeros(1, 2, 2, 2)
    target[0, 0, 0, 1] = 0.3
    target[0, 1, 0, 1] = 0.4  # EPE 0.5
    target[0, 0, 1, 0] = 2.0  # EPE 2
    target[0, :, 1, 1] = 0.05  # EPE 0.0707
    metrics = flow_metrics(pred, target)
    errors = [0.0, 0.5, 2.0, math.hypot(0.05, 0.05)]
    assert metrics["epe"] == pytest.approx(sum(errors) / 4)
    assert metrics["rmse"] == pytest.approx(math.sqrt(sum(e * e for e in errors) / 4))
    assert metrics["under_0.1"] == 0.5
    assert metrics["under_0.5"] == 0.5
    assert metrics["under_1"] == 0.75
    assert metrics["count"] == 4.0
    assert all(isinstance(v, float) for v in metrics.values())
    target[0, 0, 1, 0] = float("nan")
    assert flow_metrics(pred, target)["count"] == 3.0
    assert math.isnan(flow_metrics(pred, target, torch.zeros(1, 1, 2, 2))["epe"])


def test_loss_shape_errors():
    with pytest.raises(InputError, match=r"\(B, 2, H, W\)"):
        masked_huber_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 4))
    with pytest.raises(InputError, match="mask"):
        masked_huber_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3), torch.ones(1, 2, 3, 3))
