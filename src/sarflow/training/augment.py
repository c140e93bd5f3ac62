"""Augmentations that keep the offsets right.

A geometric transform of the image grid changes the offsets by its linear part: flipping columns
negates ``dx``, flipping rows negates ``dy``, transposing swaps them, and a 90 degree rotation does
both. Radiometric changes (gain, extra speckle) leave them alone.

All functions act on batches: images ``(B, 1, H, W)``, target ``(B, 2, H, W)`` (dx, dy), mask
``(B, 1, H, W)``; square patches are needed for transposes.
"""

from __future__ import annotations

import torch

__all__ = ["dihedral", "random_dihedral", "random_gain", "random_speckle", "augment_batch"]


def dihedral(reference: torch.Tensor, secondary: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, code: int):
    """Apply one of the 8 symmetries of the square (``code`` 0-7) to a pair, its offsets and mask.

    Bit 0 flips columns (dx -> -dx), bit 1 flips rows (dy -> -dy), bit 2 transposes (dx <-> dy),
    applied in that order.
    """
    if code & 1:
        reference, secondary, mask = (t.flip(-1) for t in (reference, secondary, mask))
        target = target.flip(-1) * target.new_tensor([-1.0, 1.0]).view(1, 2, 1, 1)
    if code & 2:
        reference, secondary, mask = (t.flip(-2) for t in (reference, secondary, mask))
        target = target.flip(-2) * target.new_tensor([1.0, -1.0]).view(1, 2, 1, 1)
    if code & 4:
        reference, secondary, mask = (t.transpose(-1, -2) for t in (reference, secondary, mask))
        target = target.transpose(-1, -2).flip(1)
    return reference, secondary, target, mask


def random_dihedral(reference, secondary, target, mask, *, generator: torch.Generator):
    """A random symmetry per sample (square patches)."""
    codes = torch.randint(0, 8, (reference.shape[0],), generator=generator)
    out = [dihedral(reference[i : i + 1], secondary[i : i + 1], target[i : i + 1], mask[i : i + 1], int(c))
           for i, c in enumerate(codes)]
    return tuple(torch.cat(parts) for parts in zip(*out))


def random_gain(reference, secondary, *, generator: torch.Generator, sigma_db: float = 3.0):
    """Independent random amplitude gains (log-normal, ``sigma_db`` dB) for each image of each sample."""
    b = reference.shape[0]
    g = 10 ** (torch.randn((2, b, 1, 1, 1), generator=generator) * sigma_db / 20)
    return reference * g[0].to(reference), secondary * g[1].to(secondary)


def random_speckle(reference, secondary, *, generator: torch.Generator, probability: float = 0.2, looks: float = 4.0):
    """Extra multiplicative speckle on some samples, both dates independently.

    The intensity is multiplied by a factor of mean 1 and variance ``1 / looks`` (a clipped normal,
    close to the gamma law of ``looks``-look speckle for ``looks >= 4``), drawn from ``generator``.
    """
    b = reference.shape[0]
    chosen = (torch.rand((b,), generator=generator) < probability).view(b, 1, 1, 1)
    if not chosen.any():
        return reference, secondary
    out = []
    for image in (reference, secondary):
        factor = (1 + torch.randn(image.shape, generator=generator) / looks**0.5).clamp_min(0.05).to(image)
        out.append(torch.where(chosen.to(image.device), image * factor.sqrt(), image))
    return out[0], out[1]


def augment_batch(reference, secondary, target, mask, *, generator: torch.Generator, gain_db: float = 3.0,
                  speckle_probability: float = 0.2):
    """Symmetries, gains and extra speckle for a training batch."""
    reference, secondary, target, mask = random_dihedral(reference, secondary, target, mask, generator=generator)
    reference, secondary = random_gain(reference, secondary, generator=generator, sigma_db=gain_db)
    reference, secondary = random_speckle(reference, secondary, generator=generator, probability=speckle_probability)
    return reference, secondary, target, mask
