"""Multiply-accumulate counts per output pixel, from forward hooks."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sarflow.nn.base import FlowNet
from sarflow.nn.correlation import LocalCorrelation

__all__ = ["conv_flops_per_pixel", "count_macs"]


def _macs(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        # Every output value: Cin / groups * kh * kw multiply-accumulates.
        kh, kw = module.kernel_size
        return output.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.ConvTranspose2d):
        # Every input value is spread over Cout / groups * kh * kw outputs.
        kh, kw = module.kernel_size
        return inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    if isinstance(module, LocalCorrelation):
        # Every output value: a product over the C channels.
        return output.numel() * inputs[0].shape[1]
    return 0


def count_macs(model: nn.Module, *inputs: Tensor) -> int:
    """Multiply-accumulates of Conv2d, ConvTranspose2d, Linear and LocalCorrelation in one forward pass."""
    total = 0

    def hook(module: nn.Module, args: tuple[Tensor, ...], output: Tensor) -> None:
        nonlocal total
        total += _macs(module, args, output)

    counted = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, LocalCorrelation)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, counted)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(*inputs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total


def conv_flops_per_pixel(model: FlowNet, height: int = 64, width: int = 64) -> float:
    """Multiply-accumulates per input pixel of one pair, for an offset network.

    Runs one ``(1, 1, height, width)`` pair (plus zero ``extra`` channels if the network takes
    them) in evaluation mode on the model's device and dtype, and divides the MAC count of
    Conv2d / ConvTranspose2d / Linear / LocalCorrelation layers by ``height * width``. Elementwise
    work (normalisation, activations, attention gates, warping) is not counted. Padding to the
    network's divisor counts too, so pick sizes that are multiples of it for a clean figure.
    """
    parameter = next(model.parameters())
    kwargs = dict(device=parameter.device, dtype=parameter.dtype)
    generator = torch.Generator().manual_seed(0)
    reference = torch.randn(1, 1, height, width, generator=generator).to(**kwargs)
    secondary = torch.randn(1, 1, height, width, generator=generator).to(**kwargs)
    extra_channels = int(getattr(model, "extra_channels", 0))
    extra = torch.zeros(1, extra_channels, height, width, **kwargs) if extra_channels else None
    return count_macs(model, reference, secondary, extra) / (height * width)
