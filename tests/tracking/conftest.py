"""Seeded synthetic SAR amplitude pairs for the tracking tests.

Speckle model: circular complex Gaussian white noise low-passed with an ideal
rectangular filter keeping half of the band along each axis (|f| < 0.25
cycles/pixel), so a resolution cell spans about 2 pixels, as in a SAR image
sampled at its Nyquist rate. Amplitude = modulus of the complex field.
Offsets are applied to the complex field before taking the modulus, so the
secondary is an exact sub-pixel shifted copy of the reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage


def speckle_field(shape, seed, band=0.25):
    """Complex band-limited speckle field of shape ``(H, W)``."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    keep = (np.abs(fy) < band) & (np.abs(fx) < band)
    return np.fft.ifft2(np.fft.fft2(z) * keep)


def shift_field(field, dy, dx):
    """Shift a complex field so a feature at (r, c) moves to (r + dy, c + dx)."""
    return np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(field), (dy, dx)))


def amp(field):
    return np.abs(field).astype(np.float32)


def shifted_pair(shape=(192, 192), dy=0.0, dx=0.0, seed=0, coherence=1.0):
    """Reference / secondary amplitudes with a uniform shift (dy, dx)."""
    f = speckle_field(shape, seed)
    g = shift_field(f, dy, dx)
    if coherence < 1.0:
        fresh = speckle_field(shape, seed + 1000)
        g = coherence * g + np.sqrt(1.0 - coherence**2) * fresh
    return amp(f), amp(g)


def warped_pair(shape=(192, 192), seed=0, amplitude=2.5, oversample=4):
    """Pair with a smooth, spatially varying offset field.

    Returns ``ref, sec, dy_true, dx_true`` where the offset fields are
    functions of the reference pixel ``(r, c)``: a feature at (r, c) appears
    at ``(r + dy_true[r, c], c + dx_true[r, c])`` in the secondary.
    """
    h, w = shape
    f = speckle_field(shape, seed)
    # exact band-limited upsampling of the complex field
    F = np.fft.fftshift(np.fft.fft2(f))
    big = np.zeros((h * oversample, w * oversample), complex)
    oy, ox = (h * oversample - h) // 2, (w * oversample - w) // 2
    big[oy:oy + h, ox:ox + w] = F
    fu = np.fft.ifft2(np.fft.ifftshift(big)) * oversample**2
    r, c = np.mgrid[0:h, 0:w].astype(float)
    dy = amplitude * np.sin(2 * np.pi * c / w) * np.cos(np.pi * r / h)
    dx = 0.5 * amplitude + amplitude * np.cos(2 * np.pi * r / h) * 0.6
    # secondary pixel (R, C) shows the reference content at (R - dy, C - dx);
    # invert the (slowly varying) mapping with a few fixed-point iterations
    rr, cc = r.copy(), c.copy()
    for _ in range(6):
        ddy = amplitude * np.sin(2 * np.pi * cc / w) * np.cos(np.pi * rr / h)
        ddx = 0.5 * amplitude + amplitude * np.cos(2 * np.pi * rr / h) * 0.6
        rr, cc = r - ddy, c - ddx
    coords = [rr * oversample, cc * oversample]
    sec = ndimage.map_coordinates(fu.real, coords, order=3, mode="grid-wrap") + 1j * ndimage.map_coordinates(
        fu.imag, coords, order=3, mode="grid-wrap"
    )
    return amp(f), amp(sec), dy.astype(np.float32), dx.astype(np.float32)


def strip_pair(shape=(160, 256), c0=116, c1=140, shift=(0.0, 3.0), seed=0):
    """Pair with a narrow moving strip between sharp offset discontinuities.

    Secondary columns ``c0 <= c < c1`` show the reference shifted by
    ``shift`` ``(dy, dx)``; the rest does not move (a narrow glacier between
    stable walls).
    """
    f = speckle_field(shape, seed)
    b = shift_field(f, *shift)
    g = f.copy()
    g[:, c0:c1] = b[:, c0:c1]
    return amp(f), amp(g)


@pytest.fixture(scope="session")
def pair_03_m17():
    return shifted_pair((192, 192), dy=0.3, dx=-1.7, seed=1)
