"""Mean backscatter (``sigma0``) textures for simulated scenes.

Each family returns a positive intensity map with mean about 1 on the requested grid; the speckle
is added later. Families:

``fractal``
    Multi-scale log-normal texture: a Gaussian random field with a power-law spectrum
    (``P(k) ~ k^-beta``), exponentiated. Rough terrain, moraine, rock.
``stripes``
    Crevasse-like oriented stripes: dark open crevasses and bright walls at irregular spacing,
    bent and modulated by a smooth field, over a faint fractal base.
``points``
    Smooth regions (piecewise-constant patches, as fields, water, snow) with bright point targets
    (buildings, rocks, corner reflectors) that stay coherent between dates.
``mixed``
    A random blend of the above by smooth region masks (training data).

A user's amplitude image can also serve as texture (`texture_from_image`): its own speckle is
smoothed away and fresh, physically consistent speckle is simulated on top.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.fft as sfft

from sarflow.errors import InputError

__all__ = ["TEXTURES", "Texture", "make_texture", "texture_from_image", "gaussian_field", "power_law_field"]

TEXTURES = ("fractal", "stripes", "points", "mixed")


@dataclass(frozen=True)
class Texture:
    """A backscatter map and the point targets in it.

    Attributes
    ----------
    sigma0 : ndarray, shape (H, W), float32
        Mean intensity of the distributed scattering, mean about 1.
    points : ndarray, shape (N, 3), float64
        Point targets as (row, col, amplitude) in the same pixel grid.
    """

    sigma0: np.ndarray
    points: np.ndarray


@functools.lru_cache(maxsize=16)
def _radial_frequency(shape: tuple[int, int]) -> np.ndarray:
    """|f| in cycles per pixel on the half spectrum of `scipy.fft.rfft2` of ``shape``, float32 (read-only)."""
    fy = sfft.fftfreq(shape[0]).astype(np.float32)[:, None]
    fx = sfft.rfftfreq(shape[1]).astype(np.float32)[None, :]
    k = np.sqrt(fx * fx + fy * fy)
    k.setflags(write=False)
    return k


def _filtered_noise(shape: tuple[int, int], rng: np.random.Generator, amp: np.ndarray) -> np.ndarray:
    """White noise shaped by the spectral amplitude ``amp`` and scaled to unit variance, float32."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    field = sfft.irfft2(sfft.rfft2(noise, workers=1) * amp, s=shape, workers=1)
    std = field.std()
    if std > 0:
        np.divide(field, std, out=field)
    return field.astype(np.float32, copy=False)


def power_law_field(shape: tuple[int, int], rng: np.random.Generator, *, beta: float = 3.0, min_period_px: float = 2.0) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian field with a power-law spectrum ``k^-beta``.

    Returns an ndarray of ``shape``, float32.
    """
    k = _radial_frequency(tuple(shape))
    amp = np.zeros(k.shape, dtype=np.float32)
    ok = (k > 0) & (k <= 1.0 / min_period_px)
    amp[ok] = k[ok] ** (-beta / 2)
    return _filtered_noise(shape, rng, amp)


def gaussian_field(shape: tuple[int, int], rng: np.random.Generator, *, correlation_px: float) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field with a Gaussian correlation of length ``correlation_px``.

    The covariance is ``exp(-d^2 / (2 correlation_px^2))`` (before normalisation). Returns float32.
    """
    if correlation_px <= 0:
        raise InputError(f"correlation_px must be positive, got {correlation_px}")
    k = _radial_frequency(tuple(shape))
    # The square root of the covariance's spectrum.
    amp = np.exp(-((np.pi * correlation_px * k) ** 2)).astype(np.float32, copy=False)
    return _filtered_noise(shape, rng, amp)


def _fractal(shape, rng, contrast: float) -> np.ndarray:
    return np.exp(contrast * power_law_field(shape, rng, beta=rng.uniform(2.6, 3.4)))


def _stripes(shape, rng, contrast: float) -> np.ndarray:
    h, w = shape
    angle = rng.uniform(0, np.pi)
    cols, rows = np.arange(w, dtype=np.float32)[None, :], np.arange(h, dtype=np.float32)[:, None]
    across = cols * np.cos(angle) + rows * np.sin(angle)
    # Irregular spacing (8-20 px) and bending of the crevasse field.
    spacing = rng.uniform(8.0, 20.0)
    bend = gaussian_field(shape, rng, correlation_px=max(h, w) / 6) * spacing * 1.5
    jitter = gaussian_field(shape, rng, correlation_px=spacing * 2) * 0.15
    phase = (across + bend) / spacing + jitter
    frac = phase - np.floor(phase)
    width = rng.uniform(0.15, 0.35)
    crevasse = frac < width  # the open crevasse: radar shadow
    wall = (frac >= width) & (frac < width + 0.12)  # the wall facing the radar: bright
    base = _fractal(shape, rng, 0.3 * contrast)
    sigma0 = base * np.where(crevasse, np.exp(-1.5 * contrast), np.where(wall, np.exp(1.2 * contrast), 1.0))
    return sigma0.astype(np.float32)


def _patches(shape, rng, contrast: float) -> np.ndarray:
    # Piecewise-constant regions: quantised smooth field, each level its own brightness.
    field = gaussian_field(shape, rng, correlation_px=max(shape) / rng.uniform(4, 10))
    levels = rng.integers(3, 7)
    edges = np.quantile(field, np.linspace(0, 1, levels + 1)[1:-1])
    region = np.digitize(field, edges)
    brightness = np.exp(contrast * rng.standard_normal(levels))
    sigma0 = brightness[region] * np.exp(0.15 * power_law_field(shape, rng, beta=3.0))
    return sigma0.astype(np.float32)


def _point_targets(shape, rng, density_per_mpx: float) -> np.ndarray:
    h, w = shape
    n = rng.poisson(density_per_mpx * h * w / 1e6)
    rows = rng.uniform(0, h - 1, n)
    cols = rng.uniform(0, w - 1, n)
    # Amplitudes 3-30 times the clutter amplitude (signal-to-clutter 10-30 dB).
    amps = 10 ** rng.uniform(0.5, 1.5, n)
    return np.stack([rows, cols, amps], axis=1) if n else np.zeros((0, 3))


def make_texture(kind: str, shape: tuple[int, int], rng: np.random.Generator, *, contrast: float = 1.0,
                 point_density_per_mpx: float = 400.0) -> Texture:
    """Make a backscatter texture of one family.

    Parameters
    ----------
    kind : {"fractal", "stripes", "points", "mixed"}
    shape : (H, W)
    rng : numpy Generator
    contrast : float
        Scale of the log-brightness variations (0 = flat, 1 = typical, 2 = strong).
    point_density_per_mpx : float
        Point targets per million pixels for ``points`` (and a tenth of it in ``mixed``).
    """
    if kind not in TEXTURES:
        raise InputError(f"unknown texture {kind!r}; choose one of {', '.join(TEXTURES)} or give an image path")
    if contrast < 0:
        raise InputError(f"contrast must be >= 0, got {contrast}")
    points = np.zeros((0, 3))
    if kind == "fractal":
        sigma0 = _fractal(shape, rng, 0.8 * contrast)
    elif kind == "stripes":
        sigma0 = _stripes(shape, rng, contrast)
    elif kind == "points":
        sigma0 = _patches(shape, rng, 0.6 * contrast)
        points = _point_targets(shape, rng, point_density_per_mpx)
    else:
        parts = [_fractal(shape, rng, 0.8 * contrast), _stripes(shape, rng, contrast), _patches(shape, rng, 0.6 * contrast)]
        weights = np.stack([gaussian_field(shape, rng, correlation_px=max(shape) / 4) for _ in parts])
        weights = np.exp(3.0 * weights)
        weights /= weights.sum(axis=0)
        sigma0 = sum(wt * p for wt, p in zip(weights, parts))
        points = _point_targets(shape, rng, point_density_per_mpx / 10)
    sigma0 = sigma0 / np.mean(sigma0)
    return Texture(sigma0=sigma0.astype(np.float32), points=points)


def texture_from_image(amplitude: np.ndarray, shape: tuple[int, int], *, despeckle_px: float = 1.5,
                       row0: int = 0, col0: int = 0) -> Texture:
    """Backscatter from a user's amplitude image.

    The image's own speckle is smoothed with a Gaussian of ``despeckle_px`` (0 keeps it as is),
    then the intensity is cropped or mirrored to ``shape`` starting at (``row0``, ``col0``) of the
    image, nodata filled with the image mean.

    Parameters
    ----------
    amplitude : ndarray, shape (H, W)
        Amplitude image (NaN = nodata). Complex input is not accepted: pass ``abs(slc)``.
    """
    amplitude = np.asarray(amplitude)
    if np.iscomplexobj(amplitude):
        raise InputError("texture image is complex: pass its amplitude (abs) instead")
    if amplitude.ndim != 2:
        raise InputError(f"texture image must be 2-D, got shape {amplitude.shape}")
    valid = np.isfinite(amplitude)
    if not valid.any():
        raise InputError("texture image has no valid pixel")
    intensity = np.where(valid, amplitude.astype(np.float32) ** 2, np.nan)
    mean = float(np.nanmean(intensity))
    if not mean > 0:
        raise InputError("texture image is zero everywhere")
    intensity = np.where(valid, intensity, mean).astype(np.float32)
    if despeckle_px > 0:
        intensity = cv2.GaussianBlur(intensity, (0, 0), despeckle_px)
    h, w = shape
    rows = np.abs((np.arange(h) + row0) % (2 * intensity.shape[0] - 2 or 1))
    rows = np.where(rows >= intensity.shape[0], 2 * intensity.shape[0] - 2 - rows, rows)
    cols = np.abs((np.arange(w) + col0) % (2 * intensity.shape[1] - 2 or 1))
    cols = np.where(cols >= intensity.shape[1], 2 * intensity.shape[1] - 2 - cols, cols)
    sigma0 = intensity[np.ix_(rows, cols)]
    sigma0 = np.maximum(sigma0, 1e-6 * mean) / mean
    return Texture(sigma0=sigma0.astype(np.float32), points=np.zeros((0, 3)))
