"""Bad network inputs raise InputError (a ValueError) with a message naming the problem."""

import pytest
import torch

from sarflow.errors import InputError
from sarflow.nn import build_model

from nn_helpers import TINY


@pytest.fixture(scope="module")
def net():
    return build_model("ccressiamnet", **TINY["ccressiamnet"])


@pytest.mark.parametrize(
    ("reference", "secondary", "message"),
    [
        (torch.zeros(1, 8, 8), torch.zeros(1, 8, 8), r"reference must have shape \(B, 1, H, W\)"),
        (torch.zeros(1, 2, 8, 8), torch.zeros(1, 2, 8, 8), r"\(B, 1, H, W\), got \(1, 2, 8, 8\)"),
        (torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 9), "shapes differ"),
        (torch.zeros(1, 1, 8, 8, dtype=torch.int64), torch.zeros(1, 1, 8, 8), "floating-point"),
        (torch.zeros(1, 1, 8, 8).numpy(), torch.zeros(1, 1, 8, 8), "torch.Tensor"),
    ],
)
def test_bad_pairs(net, reference, secondary, message):
    with pytest.raises(InputError, match=message):
        net(reference, secondary)


def test_extra_mismatches(net):
    ref = torch.zeros(1, 1, 8, 8)
    with pytest.raises(InputError, match="extra_channels=0"):
        net(ref, ref, torch.zeros(1, 1, 8, 8))
    with_extra = build_model("unet", **TINY["unet"], extra_channels=2)
    with pytest.raises(InputError, match="got none"):
        with_extra(ref, ref)
    with pytest.raises(InputError, match=r"extra must have shape \(1, 2, 8, 8\), got \(1, 2, 8, 7\)"):
        with_extra(ref, ref, torch.zeros(1, 2, 8, 7))


def test_input_error_is_a_value_error(net):
    with pytest.raises(ValueError):
        net(torch.zeros(8, 8), torch.zeros(8, 8))
