"""Simulate a reference / secondary SAR amplitude pair with exact offsets truth.

How a pair is made
------------------
1. The truth ``(dx, dy)`` is the offset field evaluated at every reference pixel centre.
2. A backscatter texture ``sigma0`` (and optional point targets) is drawn on the scene plus a margin
   that covers the motion and the impulse response.
3. Speckle is complex circular Gaussian, band-limited to the system bandwidth ``1 / resolution_px``
   cycles per pixel with SAR spectral weighting: it is drawn as its in-band Fourier coefficients
   (`sarflow.simulation.speckle.SpeckleSpectrum`), so the same continuous field can be evaluated on
   the output grid (reference) and on a grid ``oversample`` times finer (the secondary's source).
   Texture multiplies it (the product model of SAR clutter); point targets are added coherently.
4. The secondary's speckle before motion is the reference's mixed with fresh speckle,
   ``gamma * s1 + sqrt(1 - gamma^2) * s2`` (coherence ``gamma``). It is then moved with the ground:
   each secondary pixel ``y`` samples the fine field at the inverse map ``g`` (``g + u(g) = y``,
   `sarflow.simulation.warp.invert_motion`) with a Lanczos kernel, so the truth is exactly where
   each reference pixel went, also under strong strain.
5. Independent thermal noise at ``snr_db`` is added to each date, ``looks`` independent
   realisations are averaged in intensity, and the amplitude is the square root of that intensity.

With ``resolution_px >= 2`` the amplitude is Nyquist sampled; ``resolution_px = 1`` gives critically
sampled single-look data, whose amplitude is aliased (see ``benchmarks/bench_simulate.py``).
OpenCV's resampling quantises positions to 1/32 of a grid step: with the default ``oversample = 2``
that bounds the error of a secondary pixel's position by 1/128 px.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
import scipy.fft as sfft

from sarflow.errors import InputError
from sarflow.simulation.fields import OffsetField
from sarflow.simulation.speckle import SpeckleSpectrum
from sarflow.simulation.textures import Texture, make_texture
from sarflow.simulation.warp import SamplePositions, invert_gridded_motion, invert_motion

__all__ = ["ImagingConfig", "SimulatedPair", "simulate_pair"]


@dataclass(frozen=True)
class ImagingConfig:
    """How the radar images the scene (speckle, sampling, decorrelation, noise).

    Attributes
    ----------
    resolution_px : float
        Resolution cell (inverse system bandwidth) in output pixels. 2 = amplitude Nyquist sampled
        (as in Sentinel-1 GRD: 10 m pixels, about 20 m resolution); 1 = critically sampled SLC.
    oversample : int
        Factor of the grid the scene is built and moved on before sampling down (>= 2 keeps the
        interpolation of the moving complex field accurate).
    coherence : float
        Speckle coherence between the dates, 0 (fresh speckle) to 1 (identical speckle).
    looks : int
        Independent looks averaged in intensity.
    snr_db : float
        Signal (mean backscatter) to thermal noise ratio, dB; ``inf`` for none.
    hamming : float
        Spectral weighting of the system (1 = none; 0.75 as Sentinel-1).
    """

    resolution_px: float = field(default=2.0, metadata={"help": "resolution cell in output pixels (2 = well sampled amplitude, 1 = critical)"})
    oversample: int = field(default=2, metadata={"help": "oversampling of the grid the scene is built and moved on"})
    coherence: float = field(default=0.8, metadata={"help": "speckle coherence between the two dates, 0..1"})
    looks: int = field(default=1, metadata={"help": "number of independent looks averaged in intensity"})
    snr_db: float = field(default=20.0, metadata={"help": "signal to thermal-noise ratio, dB (inf: no noise)"})
    hamming: float = field(default=0.75, metadata={"help": "spectral weighting coefficient (1 = rectangular)"})

    def __post_init__(self):
        if not self.resolution_px >= 1:
            raise InputError(f"resolution_px must be >= 1 (the complex image cannot be undersampled), got {self.resolution_px}")
        if int(self.oversample) != self.oversample or self.oversample < 1:
            raise InputError(f"oversample must be a positive integer, got {self.oversample}")
        if not 0 <= self.coherence <= 1:
            raise InputError(f"coherence must lie in [0, 1], got {self.coherence}")
        if int(self.looks) != self.looks or self.looks < 1:
            raise InputError(f"looks must be a positive integer, got {self.looks}")
        if math.isnan(self.snr_db):
            raise InputError("snr_db must be a number (inf for no thermal noise)")
        if not 0.5 <= self.hamming <= 1:
            raise InputError(f"hamming must lie in [0.5, 1], got {self.hamming}")


@dataclass(frozen=True)
class SimulatedPair:
    """A simulated pair and its truth, all on one grid of shape (H, W).

    Attributes
    ----------
    reference, secondary : ndarray, shape (H, W), float32
        Amplitude images.
    dx, dy : ndarray, shape (H, W), float32
        Exact offsets: reference pixel (r, c) lies at (r + dy, c + dx) in the secondary.
    reference_complex, secondary_complex : ndarray (H, W) complex64 or None
        Single-look complex images of the last look, when asked for.
    metadata : dict
        Everything needed to make the pair again.
    """

    reference: np.ndarray
    secondary: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    metadata: dict
    reference_complex: np.ndarray | None = None
    secondary_complex: np.ndarray | None = None


def _probe_motion(field: OffsetField, shape: tuple[int, int]) -> float:
    """Largest |offset| on a coarse grid of the scene (sets the margin the motion needs)."""
    h, w = shape
    r = np.unique(np.r_[np.arange(0, h, 8), h - 1]).astype(np.float64)
    c = np.unique(np.r_[np.arange(0, w, 8), w - 1]).astype(np.float64)
    rr, cc = np.meshgrid(r, c, indexing="ij")
    dx, dy = field.offsets_px(rr, cc, shape)
    return float(np.nanmax(np.abs(np.stack([dx, dy]))))


def simulate_pair(
    field: OffsetField,
    *,
    shape: tuple[int, int] = (512, 512),
    imaging: ImagingConfig = ImagingConfig(),
    texture: str | Texture = "fractal",
    texture_contrast: float = 1.0,
    seed: int = 0,
    exact_motion: bool = True,
    return_complex: bool = False,
) -> SimulatedPair:
    """Simulate one SAR amplitude pair moved by ``field``, with exact truth.

    Parameters
    ----------
    field : OffsetField
        The motion, e.g. ``UniformShift(0.3, -0.2)`` or a ``GeophysicalField``.
    shape : (H, W)
        Output size in pixels.
    imaging : ImagingConfig
        Speckle, sampling, coherence, looks, noise.
    texture : str or Texture
        A texture family name (see `sarflow.simulation.textures`), or a `Texture` covering the scene
        (it is mirrored into the margin).
    seed : int
        Seed for texture, speckle and noise: equal seeds give identical pairs.
    exact_motion : bool
        Evaluate the motion model at the exact positions the secondary samples (default). False
        interpolates it bilinearly between pixel centres, which is faster for costly models and only
        differs within a pixel of a discontinuity (a surface rupture). The truth is exact either way.
    return_complex : bool
        Also return the (last look's) complex images.

    Returns
    -------
    SimulatedPair
    """
    h, w = (int(v) for v in shape)
    if h < 8 or w < 8:
        raise InputError(f"shape must be at least 8 x 8 pixels, got {shape}")
    rng = np.random.default_rng(seed)
    F = int(imaging.oversample)

    # Margin for the motion and the impulse response; FFT-friendly extended grid.
    probe = _probe_motion(field, (h, w))
    if not np.isfinite(probe):
        raise InputError("the displacement field is not finite everywhere on the scene")
    for _attempt in range(3):
        pad = int(math.ceil(1.1 * probe + 1)) + 8 + int(math.ceil(2 * imaging.resolution_px))
        ny, nx = sfft.next_fast_len(h + 2 * pad), sfft.next_fast_len(w + 2 * pad)
        er = np.arange(ny, dtype=np.float64)[:, None] - pad
        ec = np.arange(nx, dtype=np.float64)[None, :] - pad
        edx, edy = (np.asarray(v, dtype=np.float64)
                    for v in field.offsets_px(*np.broadcast_arrays(er, ec), (h, w)))
        if not (np.isfinite(edx).all() and np.isfinite(edy).all()):
            raise InputError("the displacement field is not finite everywhere on the scene")
        inner = (slice(pad, pad + h), slice(pad, pad + w))
        actual = float(max(np.abs(edx[inner]).max(), np.abs(edy[inner]).max()))
        if actual <= 1.1 * probe + 1:
            break
        probe = actual
    dx, dy = edx[inner], edy[inner]

    # Where each secondary pixel's ground came from, in extended-grid coordinates.
    out_r = np.arange(h, dtype=np.float64)[:, None] + pad
    out_c = np.arange(w, dtype=np.float64)[None, :] + pad
    if exact_motion:
        def motion(r, c):
            return field.offsets_px(r - pad, c - pad, (h, w))

        g_r, g_c = invert_motion(motion, out_r, out_c)
        g_r32, g_c32 = g_r.astype(np.float32), g_c.astype(np.float32)
    else:
        g_r32, g_c32 = invert_gridded_motion(edx, edy, out_r, out_c)

    # Backscatter on the extended grid; the secondary sees it where its ground came from.
    if isinstance(texture, Texture):
        from sarflow.simulation.textures import texture_from_image

        if texture.sigma0.shape != (h, w):
            raise InputError(f"texture has shape {texture.sigma0.shape}, expected the scene's {(h, w)}")
        tex = texture_from_image(np.sqrt(texture.sigma0), (ny, nx), despeckle_px=0, row0=-pad, col0=-pad)
        points = texture.points.copy()
        if len(points):
            points[:, :2] += pad
        tex = Texture(sigma0=tex.sigma0, points=points)
    else:
        tex = make_texture(texture, (ny, nx), rng, contrast=texture_contrast)
    amp_ref = np.sqrt(tex.sigma0[inner])
    amp_sec = np.sqrt(cv2.remap(tex.sigma0, g_c32, g_r32, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))

    spectrum = SpeckleSpectrum((ny, nx), 1.0 / imaging.resolution_px, hamming=imaging.hamming)
    gamma = float(imaging.coherence)
    fresh = np.float32(math.sqrt(max(0.0, 1.0 - gamma * gamma)))
    # Lanczos-4 keeps the moved complex field within ~1 % of an exact Fourier shift (cubic: 2-3 %).
    # Every look samples the fine grid at the same positions: convert them to OpenCV's maps once.
    fine = SamplePositions(g_r32 * F, g_c32 * F)

    point_ref = point_sec = None
    if len(tex.points):
        pr, pc, pa = tex.points[:, 0], tex.points[:, 1], tex.points[:, 2]
        clutter = np.sqrt(tex.sigma0[np.clip(np.rint(pr).astype(int), 0, ny - 1),
                                     np.clip(np.rint(pc).astype(int), 0, nx - 1)])
        phase = np.exp(2j * np.pi * rng.uniform(size=len(pr)))
        pspec = spectrum.point_coefficients(pr, pc, pa * clutter * phase)
        point_ref = spectrum.synthesise(pspec, 1)[inner]
        point_sec = fine.remap_complex(spectrum.synthesise(pspec, F), interpolation="lanczos")

    noise_amp = 0.0 if math.isinf(imaging.snr_db) else float(10 ** (-imaging.snr_db / 20.0))
    noise = SpeckleSpectrum((h, w), 1.0 / imaging.resolution_px, hamming=imaging.hamming) if noise_amp else None

    intensity_ref = np.zeros((h, w), dtype=np.float64)
    intensity_sec = np.zeros((h, w), dtype=np.float64)
    for _ in range(int(imaging.looks)):
        z1 = spectrum.coefficients(rng)
        zs = gamma * z1
        if fresh > 0:
            zs += fresh * spectrum.coefficients(rng)
        c_ref = amp_ref * spectrum.synthesise(z1, 1)[inner]
        c_sec = amp_sec * fine.remap_complex(spectrum.synthesise(zs, F), interpolation="lanczos")
        if point_ref is not None:
            c_ref += point_ref
            c_sec += point_sec
        if noise is not None:
            # Thermal noise: white in each image, independent between dates, power sigma0_mean / snr.
            c_ref += np.float32(noise_amp) * noise.synthesise(noise.coefficients(rng))
            c_sec += np.float32(noise_amp) * noise.synthesise(noise.coefficients(rng))
        intensity_ref += np.abs(c_ref) ** 2
        intensity_sec += np.abs(c_sec) ** 2

    meta = {
        "field": {"type": type(field).__name__, **_describe(field)},
        "imaging": asdict(imaging),
        "texture": texture if isinstance(texture, str) else "image",
        "texture_contrast": texture_contrast,
        "seed": seed,
        "shape": [h, w],
        "exact_motion": exact_motion,
    }
    return SimulatedPair(
        reference=np.sqrt(intensity_ref / imaging.looks).astype(np.float32),
        secondary=np.sqrt(intensity_sec / imaging.looks).astype(np.float32),
        dx=dx.astype(np.float32),
        dy=dy.astype(np.float32),
        metadata=meta,
        reference_complex=c_ref.astype(np.complex64) if return_complex else None,
        secondary_complex=c_sec.astype(np.complex64) if return_complex else None,
    )


def _describe(obj) -> dict:
    """JSON-friendly parameters of a field (dataclasses nest)."""
    from dataclasses import fields, is_dataclass

    if not is_dataclass(obj):
        return {}
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if is_dataclass(value):
            out[f.name] = {"type": type(value).__name__, **_describe(value)}
        elif isinstance(value, (int, float, str, bool)) or value is None:
            out[f.name] = value
        elif isinstance(value, tuple):
            out[f.name] = list(value)
    return out
