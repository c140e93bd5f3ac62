"""A few AdamW steps on a tiny batch lower the masked Huber loss, for every network."""

import pytest
import torch

from sarflow.nn import build_model, gaussian_nll_loss, masked_huber_loss, multiscale_huber_loss

from nn_helpers import TINY


def shifted_batch(batch: int = 4, size: int = 24, shift: float = 1.0):
    """Smooth random textures and the same texture moved by ``(dx, dy) = (shift, -shift / 2)``."""
    generator = torch.Generator().manual_seed(3)
    base = torch.randn(batch, 1, size + 8, size + 8, generator=generator)
    base = torch.nn.functional.avg_pool2d(base, 3, stride=1, padding=1)
    ref = base[..., 4:-4, 4:-4]
    target = torch.zeros(batch, 2, size, size)
    target[:, 0] = shift
    target[:, 1] = -shift / 2
    rows = torch.arange(size, dtype=torch.float32).view(size, 1) + 4
    cols = torch.arange(size, dtype=torch.float32).view(1, size) + 4
    # secondary(r + dy, c + dx) = reference(r, c)  =>  secondary(r, c) = base(r - dy, c - dx)
    x = (cols - shift) / (size + 7) * 2 - 1
    y = (rows + shift / 2) / (size + 7) * 2 - 1
    grid = torch.stack(torch.broadcast_tensors(x, y), dim=-1).expand(batch, size, size, 2)
    sec = torch.nn.functional.grid_sample(base, grid, align_corners=True)
    return ref, sec, target


@pytest.mark.parametrize("name", sorted(TINY))
def test_adamw_steps_lower_the_loss(name):
    net = build_model(name, **TINY[name])
    ref, sec, target = shifted_batch()
    mask = torch.ones(4, 1, 24, 24, dtype=torch.bool)
    mask[:, :, :2] = False
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        loss = masked_huber_loss(net(ref, sec).offsets, target, mask)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def test_nll_and_multiscale_losses_train_ccressiamnet():
    net = build_model("ccressiamnet", base_channels=4, depth=2)
    ref, sec, target = shifted_batch(size=16)
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        optimizer.zero_grad()
        out = net(ref, sec)
        loss = gaussian_nll_loss(out.offsets, out.log_var, target) + multiscale_huber_loss(out.pyramid, target)
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses
