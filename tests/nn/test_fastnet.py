"""CC-ResSiamNet-Fast: space-to-depth stem, shuffle heads, the constant-output bias."""

import pytest
import torch

from sarflow.errors import InputError
from sarflow.nn import build_model
from sarflow.nn.fastnet import ShuffleHead
from sarflow.training.loop import output_bias_name

from nn_helpers import pair


def test_divisor_counts_the_stem_and_inputs_of_any_size_come_back_whole():
    net = build_model("ccressiamnet-fast", base_channels=2, depth=2, stem_factor=4).eval()
    assert net.divisor == 16
    ref, sec = pair(1, 21, 50)
    with torch.no_grad():
        out = net(ref, sec)
    assert out.offsets.shape == (1, 2, 21, 50) and out.log_var.shape == (1, 2, 21, 50)
    assert out.pyramid == ()


def test_shuffle_head_puts_each_channel_on_its_own_pixel_and_adds_one_bias_per_output():
    head = ShuffleHead(1, 2, 2, zero_init=False)
    with torch.no_grad():
        head.conv.weight.zero_()
        head.conv.weight[5, 0, 1, 1] = 1.0  # output 1 (dy), position (0, 1) of each 2 x 2 block
        head.bias.copy_(torch.tensor([0.25, -0.5]))
    x = torch.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    y = head(x)
    assert y.shape == (1, 2, 4, 4)
    assert torch.equal(y[0, 0], torch.full((4, 4), 0.25))
    expected = torch.full((4, 4), -0.5)
    expected[0::2, 1::2] += x[0, 0]
    assert torch.equal(y[0, 1], expected)


def test_the_offset_bias_is_the_constant_export_removes():
    """`sarflow.training.loop.output_bias_name` finds the head's bias, and it moves every pixel alike."""
    net = build_model("ccressiamnet-fast", base_channels=2, depth=2, stem_factor=2).eval()
    name = output_bias_name(net.state_dict())
    assert name == "decoder.offset_head.bias"
    ref, sec = pair(1, 32, 32)
    with torch.no_grad():
        before = net(ref, sec).offsets
        net.decoder.offset_head.bias.add_(torch.tensor([0.3, -0.2]))
        after = net(ref, sec).offsets
    torch.testing.assert_close(after - before, torch.tensor([0.3, -0.2]).view(1, 2, 1, 1).expand_as(before))


def test_a_fresh_network_predicts_almost_no_motion():
    net = build_model("ccressiamnet-fast").eval()
    ref, sec = pair(1, 64, 64)
    with torch.no_grad():
        assert net(ref, sec).offsets.abs().max().item() < 0.05


@pytest.mark.parametrize("kwargs, match", [(dict(stem_factor=0), "stem_factor"),
                                           (dict(attention_levels=4), "attention_levels")])
def test_bad_settings(kwargs, match):
    with pytest.raises(InputError, match=match):
        build_model("ccressiamnet-fast", **kwargs)
