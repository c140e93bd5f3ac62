"""Registry, config round trip through a saved state_dict, parameter counts of the defaults."""

import io

import pytest
import torch

from sarflow.errors import InputError
from sarflow.nn import MODELS, build_model, conv_flops_per_pixel, model_from_config

from nn_helpers import TINY, pair


@pytest.mark.parametrize("name", sorted(TINY))
def test_state_dict_round_trip(name):
    net = build_model(name, **TINY[name], extra_channels=1)
    # One training-mode pass so BatchNorm running statistics differ from their initial values.
    ref, sec = pair(2, 16, 16)
    net(ref, sec, torch.randn(2, 1, 16, 16))
    buffer = io.BytesIO()
    torch.save({"config": net.to_config(), "state_dict": net.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    rebuilt = model_from_config(checkpoint["config"])
    rebuilt.load_state_dict(checkpoint["state_dict"])
    assert type(rebuilt) is type(net) and rebuilt.config == net.config
    net.eval()
    rebuilt.eval()
    extra = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(ref, sec, extra).offsets, net(ref, sec, extra).offsets)
    # The config alone rebuilds the class too.
    assert type(net)(**net.config).config == net.config


def test_registry_errors():
    with pytest.raises(InputError, match="unknown network 'resnet'"):
        build_model("resnet")
    with pytest.raises(InputError, match="bad arguments"):
        build_model("unet", widths=3)
    with pytest.raises(InputError, match="'name'"):
        model_from_config({"base_channels": 4})
    with pytest.raises(InputError, match="norm"):
        build_model("ccressiamnet", norm="layer")
    with pytest.raises(InputError, match="depth"):
        build_model("unet", depth=0)


def test_default_sizes_are_comparable():
    """Defaults: 1-2 M parameters each (a few MB of weights), stated in the module docstrings; the
    networks of the comparison study within 30 % of each other."""
    counts = {name: sum(p.numel() for p in cls().parameters()) for name, cls in MODELS.items()}
    assert all(1.0e6 < n < 2.0e6 for n in counts.values()), counts
    study = [counts[name] for name in ("ccressiamnet", "unet", "siamese-unet", "corrnet")]
    assert max(study) / min(study) < 1.3, counts


def test_flops_per_pixel_of_a_known_network():
    net = build_model("unet", base_channels=2, depth=1, uncertainty=False, norm="none")
    # widths 2, 4. encoder: 2->2 (3x3), 2->2 at full res; 2->4, 4->4 at 1/4 of the pixels;
    # decoder: 1x1 4->2, 3x3 (2+2)->2, 2->2 at full res; offset head 2->2 (3x3).
    full = 9 * 2 * 2 + 9 * 2 * 2 + 1 * 4 * 2 + 9 * 4 * 2 + 9 * 2 * 2 + 9 * 2 * 2
    quarter = (9 * 2 * 4 + 9 * 4 * 4) / 4
    assert conv_flops_per_pixel(net, 16, 16) == pytest.approx(full + quarter)
    corr = build_model("corrnet", base_channels=2, depth=1, radius=1, uncertainty=False)
    with_corr = conv_flops_per_pixel(corr, 16, 16)
    assert with_corr > 0
