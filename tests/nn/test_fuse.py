import pytest
import torch
import torch.nn.functional as F

from sarflow.nn import MODELS, build_model
from sarflow.nn.attention import running_max
from sarflow.nn.fuse import fold_batch_norms, fold_conv_bn


def _with_random_statistics(model):
    """Non-trivial BatchNorm statistics and affine parameters, so folding has something to fold."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.5)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.randn(n, generator=generator))
                module.bias.copy_(torch.randn(n, generator=generator) * 0.3)
    return model.eval()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_folded_network_computes_the_same_function(name):
    torch.manual_seed(0)
    model = _with_random_statistics(build_model(name, base_channels=8, depth=2))
    keys = set(model.state_dict())
    folded = fold_batch_norms(model)
    x, y = torch.randn(2, 1, 48, 40), torch.randn(2, 1, 48, 40)
    with torch.no_grad():
        a, b = model(x, y), folded(x, y)
    scale = float(a.offsets.abs().max())
    assert scale > 0
    assert float((a.offsets - b.offsets).abs().max()) < 1e-4 * max(scale, 1.0)
    if a.log_var is not None:
        assert float((a.log_var - b.log_var).abs().max()) < 1e-4 * max(float(a.log_var.abs().max()), 1.0)
    assert set(model.state_dict()) == keys  # the original is untouched
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_ccressiamnet_keeps_no_batch_norm_and_its_attributes():
    model = _with_random_statistics(build_model("ccressiamnet", base_channels=8, depth=2))
    model.sigma_scale = 0.5
    folded = fold_batch_norms(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert folded.sigma_scale == 0.5 and not folded.training


def test_fold_conv_bn_refuses_mismatched_widths():
    with pytest.raises(ValueError, match="BatchNorm of 4 channels after a convolution of 3"):
        fold_conv_bn(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(4))


@pytest.mark.parametrize("window", [1, 3, 5, 7, 9])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_running_max_equals_max_pool(window, dtype):
    x = torch.randn(2, 5, 17, 23).to(dtype).contiguous(memory_format=torch.channels_last)
    p = window // 2
    expected_cols = F.max_pool2d(x, (1, window), 1, (0, p))
    expected = F.max_pool2d(expected_cols, (window, 1), 1, (p, 0))
    assert torch.equal(running_max(x, window, 3), expected_cols)
    assert torch.equal(running_max(running_max(x, window, 3), window, 2), expected)
