"""Output shapes, any input size, extra channels, uncertainty on/off, receptive field."""

import pytest
import torch

from sarflow.nn import FlowOutput, build_model

from nn_helpers import TINY, pair


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("size", [(37, 53), (32, 16)])
@pytest.mark.parametrize("extra_channels", [0, 3])
def test_output_shapes(name, size, extra_channels):
    net = build_model(name, **TINY[name], extra_channels=extra_channels)
    ref, sec = pair(2, *size)
    extra = torch.randn(2, extra_channels, *size) if extra_channels else None
    out = net(ref, sec, extra)
    assert isinstance(out, FlowOutput)
    assert out.offsets.shape == (2, 2, *size)
    assert out.offsets.dtype == torch.float32
    assert out.log_var is not None and out.log_var.shape == (2, 2, *size)
    assert torch.isfinite(out.offsets).all() and torch.isfinite(out.log_var).all()


@pytest.mark.parametrize("name", sorted(TINY))
def test_without_uncertainty(name):
    net = build_model(name, **TINY[name], uncertainty=False).eval()
    ref, sec = pair(1, 21, 19)
    out = net(ref, sec)
    assert out.log_var is None
    assert out.offsets.shape == (1, 2, 21, 19)
    assert not any("log_var" in key for key in net.state_dict())


def test_ccressiamnet_pyramid_shapes():
    net = build_model("ccressiamnet", base_channels=4, depth=3)
    out = net(*pair(2, 37, 53))
    assert [tuple(p.shape) for p in out.pyramid] == [(2, 2, 19, 27), (2, 2, 10, 14), (2, 2, 5, 7)]


def test_extra_nonfinite_values_are_zeroed():
    net = build_model("ccressiamnet", base_channels=4, depth=2, extra_channels=2).eval()
    ref, sec = pair(1, 16, 16)
    extra = torch.zeros(1, 2, 16, 16)
    holed = extra.clone()
    holed[:, :, 3:6, 4:9] = float("nan")
    with torch.no_grad():
        assert torch.equal(net(ref, sec, extra).offsets, net(ref, sec, holed).offsets)


@pytest.mark.parametrize("name", sorted(TINY))
def test_batch_items_are_independent_in_eval(name):
    """In evaluation mode (BatchNorm running statistics) a sample's output does not depend on the batch."""
    net = build_model(name, **TINY[name]).eval()
    ref, sec = pair(3, 24, 24)
    with torch.no_grad():
        full = net(ref, sec).offsets
        single = net(ref[1:2], sec[1:2]).offsets
    torch.testing.assert_close(full[1:2], single, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(TINY))
def test_receptive_field_bounds_the_gradient_support(name):
    """The theoretical receptive field covers every input pixel a central output depends on."""
    kwargs = dict(TINY[name], depth=2)
    net = build_model(name, **kwargs).eval()
    rf = net.receptive_field
    assert isinstance(rf, int) and rf > 1
    size = 2 * rf + 8
    ref, sec = pair(1, size, size)
    ref.requires_grad_(True)
    sec.requires_grad_(True)
    out = net(ref, sec).offsets
    out[0, 0, size // 2, size // 2].backward()
    support = (ref.grad.abs() + sec.grad.abs())[0, 0] > 0
    rows = torch.nonzero(support.any(dim=1)).flatten()
    cols = torch.nonzero(support.any(dim=0)).flatten()
    assert rows.numel() > 0
    assert int(rows.max() - rows.min()) + 1 <= rf
    assert int(cols.max() - cols.min()) + 1 <= rf


@pytest.mark.parametrize("name", sorted(TINY))
def test_bfloat16_autocast_channels_last(name):
    """Mixed precision + channels-last (the fast CPU path): float32 offsets close to the fp32 ones."""
    net = build_model(name, **TINY[name]).eval()
    ref, sec = pair(2, 32, 32)
    with torch.no_grad():
        reference = net(ref, sec)
        net = net.to(memory_format=torch.channels_last)
        ref_cl, sec_cl = (t.contiguous(memory_format=torch.channels_last) for t in (ref, sec))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(ref_cl, sec_cl)
    assert out.offsets.dtype == torch.float32 and out.log_var.dtype == torch.float32
    assert torch.isfinite(out.offsets).all()
    scale = reference.offsets.abs().max().item() + 1e-6
    assert (out.offsets - reference.offsets).abs().max().item() < 0.1 * scale + 1e-4
