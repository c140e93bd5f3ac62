"""Helpers shared by the network tests (tiny configurations, random pairs)."""

import torch

from sarflow.nn import MODELS

#: Tiny but complete configurations (every code path, a few thousand parameters).
TINY = {
    "ccressiamnet": dict(base_channels=4, depth=3),
    "unet": dict(base_channels=4, depth=3),
    "siamese-unet": dict(base_channels=4, depth=3),
    "corrnet": dict(base_channels=4, depth=2, radius=2),
    "ccressiamnet-fast": dict(base_channels=2, depth=2, stem_factor=2),
}
assert set(TINY) == set(MODELS)


def pair(batch: int = 2, height: int = 37, width: int = 53, dtype=torch.float32):
    """A random normalised-looking pair ``(B, 1, H, W)`` each."""
    generator = torch.Generator().manual_seed(1)
    ref = torch.randn(batch, 1, height, width, generator=generator, dtype=dtype)
    sec = torch.randn(batch, 1, height, width, generator=generator, dtype=dtype)
    return ref, sec
