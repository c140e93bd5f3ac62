"""Custom layers: correlation, warp, cross-connection, attention, blocks (gradcheck in float64)."""

import pytest
import torch
from torch.autograd import gradcheck

from sarflow.errors import InputError
from sarflow.nn.attention import CBAM, ChannelAttention, SpatialAttention
from sarflow.nn.blocks import ResidualBlock, cat_channels, make_norm
from sarflow.nn.correlation import LocalCorrelation, displacements, local_correlation
from sarflow.nn.cross import CrossConnection
from sarflow.nn.warp import warp


def test_correlation_matches_direct_definition():
    a = torch.randn(2, 3, 6, 7, dtype=torch.float64)
    b = torch.randn(2, 3, 6, 7, dtype=torch.float64)
    radius = 2
    out = local_correlation(a, b, radius)
    assert out.shape == (2, 25, 6, 7)
    for k, (dx, dy) in enumerate(displacements(radius)):
        for i in range(6):
            for j in range(7):
                inside = 0 <= i + dy < 6 and 0 <= j + dx < 7
                if inside:
                    expected = (a[:, :, i, j] * b[:, :, i + dy, j + dx]).mean(1)
                else:
                    expected = torch.zeros(2, dtype=a.dtype)
                torch.testing.assert_close(out[:, k, i, j], expected)


def test_correlation_peaks_at_the_true_shift():
    """A secondary equal to the reference moved by (dx, dy) = (2, -1) peaks in that channel."""
    a = torch.randn(1, 8, 20, 20)
    b = torch.roll(a, shifts=(-1, 2), dims=(2, 3))  # content at (r, c) moves to (r - 1, c + 2)
    out = local_correlation(a, b, 3)[..., 5:15, 5:15]
    best = out.mean(dim=(0, 2, 3)).argmax().item()
    assert displacements(3)[best] == (2, -1)


def test_correlation_gradcheck():
    a = torch.randn(1, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(1, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x, y: local_correlation(x, y, 1), (a, b))
    assert gradcheck(lambda x, y: local_correlation(x, y, 3), (a, b))  # shifts beyond the map


def test_correlation_module_and_errors():
    layer = LocalCorrelation(2)
    assert layer.out_channels == 25
    assert layer(torch.randn(1, 4, 5, 5), torch.randn(1, 4, 5, 5)).shape == (1, 25, 5, 5)
    with pytest.raises(InputError, match="radius"):
        LocalCorrelation(-1)
    with pytest.raises(InputError, match="one shape"):
        local_correlation(torch.randn(1, 4, 5, 5), torch.randn(1, 4, 5, 6), 1)


def test_correlation_keeps_bfloat16():
    a = torch.randn(1, 4, 8, 8).bfloat16()
    assert local_correlation(a, a, 1).dtype == torch.bfloat16


def test_warp_integer_and_half_pixel_shifts():
    x = torch.arange(6 * 8, dtype=torch.float64).view(1, 1, 6, 8)
    offsets = torch.zeros(1, 2, 6, 8, dtype=torch.float64)
    offsets[:, 0] = 2.0  # dx
    offsets[:, 1] = -1.0  # dy
    out = warp(x, offsets)
    # pixel (r, c) shows secondary (r - 1, c + 2), inside the map
    torch.testing.assert_close(out[0, 0, 1:, :6], x[0, 0, :-1, 2:])
    offsets[:, 0] = 0.5
    offsets[:, 1] = 0.0
    torch.testing.assert_close(warp(x, offsets)[0, 0, :, :7], 0.5 * (x[0, 0, :, :7] + x[0, 0, :, 1:]))


def test_warp_gradcheck_and_dtype():
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    # Offsets away from whole pixels (bilinear weights are not differentiable there).
    offsets = (torch.rand(1, 2, 4, 5, dtype=torch.float64) * 0.8 + 0.1).requires_grad_(True)
    assert gradcheck(warp, (x, offsets))
    assert warp(x.detach().bfloat16(), offsets.detach()).dtype == torch.bfloat16
    with pytest.raises(InputError, match="warp"):
        warp(torch.randn(1, 2, 4, 5), torch.randn(1, 1, 4, 5))


def test_cross_connection_is_symmetric_and_matches_concatenation():
    torch.manual_seed(0)
    layer = CrossConnection(3, norm="none").double()
    ref = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    sec = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    out = layer(torch.cat([ref, sec]))
    swapped = layer(torch.cat([sec, ref]))
    torch.testing.assert_close(out, torch.cat(swapped.chunk(2)[::-1]))
    # Same as a 1x1 convolution of [own, other] with the stacked weights.
    weight = torch.cat(layer.conv.weight.split(3, dim=0), dim=1)
    bias = layer.conv.bias.view(2, 3).sum(0)
    expected_ref = ref + torch.nn.functional.leaky_relu(
        torch.nn.functional.conv2d(torch.cat([ref, sec], 1), weight, bias), 0.1)
    torch.testing.assert_close(out[:2], expected_ref)
    assert gradcheck(layer, (torch.randn(2, 3, 3, 3, dtype=torch.float64, requires_grad=True),))


def test_attention_blocks():
    x = torch.randn(2, 8, 5, 7, dtype=torch.float64, requires_grad=True)
    for block in (ChannelAttention(8), SpatialAttention(), CBAM(8)):
        block = block.double()
        y = block(x)
        assert y.shape == x.shape
        assert gradcheck(block, (x,))
    # Gates lie in (0, 1): the output never exceeds the input in magnitude.
    y = CBAM(8).double()(x)
    assert bool((y.abs() <= x.abs() + 1e-12).all())


def test_residual_block_starts_as_identity_on_its_shortcut():
    block = ResidualBlock(4, 4).eval()
    x = torch.relu(torch.randn(1, 4, 6, 6))  # non-negative: the final LeakyReLU keeps it
    torch.testing.assert_close(block(x), x)
    assert ResidualBlock(4, 8, stride=2)(torch.randn(2, 4, 6, 6)).shape == (2, 8, 3, 3)


def test_norm_kinds_and_cat_channels_layout():
    assert isinstance(make_norm("group", 12), torch.nn.GroupNorm)
    with pytest.raises(InputError, match="norm"):
        make_norm("layer", 4)
    a = torch.randn(1, 4, 3, 3).contiguous(memory_format=torch.channels_last)
    b = torch.randn(1, 2, 3, 3)
    out = cat_channels([a, b])
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, torch.cat([a, b], 1))
