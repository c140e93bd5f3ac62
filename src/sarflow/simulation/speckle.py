"""Band-limited complex speckle, as a SAR system images a field of random scatterers.

A distributed target is a dense field of independent scatterers: its complex reflectivity is white
circular Gaussian noise whose variance is the mean backscatter ``sigma0``. The radar sees it through
its impulse response, i.e. band-limited to ``1 / resolution_px`` cycles per pixel (with the Hamming
spectral weighting SAR processors use). The result is complex speckle correlated over about one
resolution cell.

Sampling matters: the *complex* image needs ``resolution_px >= 1`` (critical sampling), but its
*amplitude* has twice the bandwidth and is only free of aliasing for ``resolution_px >= 2``.
Critically sampled amplitude speckle biases every matcher toward whole-pixel offsets, which is why
the simulator works on a grid oversampled by ``oversample`` and samples the complex field down only
after the motion has been applied.

References
----------
Goodman, J. W. (1976). Some fundamental properties of speckle. JOSA 66(11), 1145-1150,
doi:10.1364/JOSA.66.001145.
Bamler, R., & Eineder, M. (2005). Accuracy of differential shift estimation by correlation and
split-bandwidth interferometry for wideband and Delta-k SAR systems. IEEE GRSL 2(2), 151-155,
doi:10.1109/LGRS.2004.843203.
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.fft as sfft

__all__ = ["spectral_window", "band_limit", "complex_speckle", "sample_coherence", "SpeckleSpectrum"]


def spectral_window(n: int, bandwidth: float, *, hamming: float = 0.75) -> np.ndarray:
    """1-D spectral weighting of a SAR system on an ``n``-point FFT grid.

    Parameters
    ----------
    n : int
        FFT length.
    bandwidth : float
        Total bandwidth in cycles per sample (0 < bandwidth <= 1); frequencies with
        ``|f| > bandwidth / 2`` are cut.
    hamming : float
        Generalised Hamming coefficient (1 = rectangular, 0.54 = Hamming; 0.75 as Sentinel-1 uses).

    Returns
    -------
    ndarray, shape (n,), float32
        Weights in FFT order.
    """
    if not 0 < bandwidth <= 1:
        raise ValueError(f"bandwidth must lie in (0, 1] cycles per sample, got {bandwidth}")
    f = sfft.fftfreq(n)
    inside = np.abs(f) <= bandwidth / 2
    w = np.where(inside, hamming + (1 - hamming) * np.cos(2 * np.pi * f / bandwidth), 0.0)
    return w.astype(np.float32)


def band_limit(field: np.ndarray, bandwidth: float, *, hamming: float = 0.75, normalise: bool = True) -> np.ndarray:
    """Band-limit a complex field along both axes with a SAR spectral window.

    Parameters
    ----------
    field : ndarray, shape (H, W), complex
    bandwidth : float
        Cycles per sample, see `spectral_window`.
    normalise : bool
        Scale so that white input keeps its mean power (speckle intensity then equals ``sigma0``).

    Returns
    -------
    ndarray, shape (H, W), complex64
    """
    h, w = field.shape
    wr = spectral_window(h, bandwidth, hamming=hamming)
    wc = spectral_window(w, bandwidth, hamming=hamming)
    spec = sfft.fft2(field.astype(np.complex64, copy=False), workers=1)
    spec *= wr[:, None]
    spec *= wc[None, :]
    out = sfft.ifft2(spec, workers=1, overwrite_x=True)
    if normalise:
        gain = np.sqrt(np.mean(wr**2) * np.mean(wc**2))
        out /= gain
    return out.astype(np.complex64, copy=False)


def _white(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    z = rng.standard_normal((2, *shape), dtype=np.float32)
    out = np.empty(shape, dtype=np.complex64)
    out.real = z[0]
    out.imag = z[1]
    out *= np.float32(np.sqrt(0.5))
    return out


def complex_speckle(
    sigma0: np.ndarray,
    rng: np.random.Generator,
    *,
    bandwidth: float,
    hamming: float = 0.75,
    scatterers: np.ndarray | None = None,
) -> np.ndarray:
    """Complex image of a distributed target with mean intensity ``sigma0``.

    Parameters
    ----------
    sigma0 : ndarray, shape (H, W)
        Mean backscatter (intensity), on the grid the field is built on.
    rng : numpy Generator
    bandwidth : float
        System bandwidth in cycles per sample of this grid (``1 / (resolution_px * oversample)``).
    scatterers : ndarray, shape (H, W), complex, optional
        Deterministic point scatterers added to the reflectivity before imaging (point targets).

    Returns
    -------
    ndarray, shape (H, W), complex64
        ``E|z|^2 = sigma0`` for slowly varying ``sigma0``.
    """
    reflectivity = _white(rng, sigma0.shape)
    reflectivity *= np.sqrt(np.maximum(sigma0, 0)).astype(np.float32)
    if scatterers is not None:
        reflectivity += scatterers.astype(np.complex64)
    return band_limit(reflectivity, bandwidth, hamming=hamming)


class SpeckleSpectrum:
    """Band-limited complex Gaussian fields synthesised from their in-band Fourier coefficients only.

    A SAR image of a homogeneous distributed target is white circular Gaussian reflectivity seen
    through the system's band-pass: its spectrum is ``W(f) Z(f)`` with ``Z`` white. Drawing only the
    in-band coefficients (a fraction ``(bandwidth)^2`` of them) and inverse-transforming gives exactly
    that field, on any grid whose Nyquist covers the band: the same coefficients evaluated on a
    ``k`` times finer grid give the same continuous field sampled ``k`` times more densely.
    Texture is applied afterwards as the multiplicative (product) model of SAR clutter,
    ``sqrt(sigma0) * speckle`` (Oliver & Quegan 1998, Understanding SAR Images).

    Parameters
    ----------
    shape : (ny, nx)
        The base grid (output pixels); the field is periodic over it.
    bandwidth : float
        System bandwidth in cycles per base pixel (``1 / resolution_px``), at most 1.
    hamming : float
        Spectral weighting coefficient.
    """

    def __init__(self, shape: tuple[int, int], bandwidth: float, *, hamming: float = 0.75):
        if not 0 < bandwidth <= 1:
            raise ValueError(f"bandwidth must lie in (0, 1] cycles per pixel, got {bandwidth}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.bandwidth = float(bandwidth)
        self.ky, self.wy = self._axis(self.shape[0], bandwidth, hamming)
        self.kx, self.wx = self._axis(self.shape[1], bandwidth, hamming)
        weights = np.outer(self.wy, self.wx)
        self._norm = np.float32(1.0 / np.sqrt(np.sum(weights**2)))
        self.weights = (weights * self._norm).astype(np.float32)
        self._point_norm = 1.0 / float(np.sum(weights))

    @staticmethod
    def _axis(n: int, bandwidth: float, hamming: float):
        k = np.arange(-(n // 2), (n + 1) // 2)
        f = k / n
        inside = np.abs(f) <= bandwidth / 2
        k = k[inside]
        w = hamming + (1 - hamming) * np.cos(2 * np.pi * k / n / bandwidth)
        return k, w.astype(np.float64)

    def coefficients(self, rng: np.random.Generator) -> np.ndarray:
        """Random in-band coefficients of a unit-power field, shape (len(ky), len(kx)), complex64."""
        z = rng.standard_normal((2, self.ky.size, self.kx.size), dtype=np.float32)
        out = np.empty(z.shape[1:], dtype=np.complex64)
        out.real = z[0]
        out.imag = z[1]
        out *= self.weights * np.float32(np.sqrt(0.5))
        return out

    def point_coefficients(self, rows: np.ndarray, cols: np.ndarray, amplitudes: np.ndarray) -> np.ndarray:
        """Coefficients of point targets at fractional base-grid positions, each peaking at its amplitude."""
        ny, nx = self.shape
        u = np.exp(-2j * np.pi * np.outer(rows, self.ky) / ny) * np.asarray(amplitudes)[:, None]
        v = np.exp(-2j * np.pi * np.outer(cols, self.kx) / nx)
        # sum_p u[p, k] v[p, l] as one real product (OpenCV's, single-threaded in a worker, rather than
        # a BLAS whose idle threads spin on the other cores): with u = a + ib, v = c + id,
        # [a; b]^T [c, d; -d, c] = [ac - bd, ad + bc] (real and imaginary parts side by side).
        left = np.concatenate([u.real, u.imag])
        right = np.block([[v.real, v.imag], [-v.imag, v.real]])
        product = cv2.gemm(left, right, 1.0, None, 0.0, flags=cv2.GEMM_1_T)
        spec = (product[:, : self.kx.size] + 1j * product[:, self.kx.size :]) * (
            np.outer(self.wy, self.wx) * self._point_norm)
        return spec.astype(np.complex64)

    def synthesise(self, coefficients: np.ndarray, factor: int = 1) -> np.ndarray:
        """The field on the base grid refined ``factor`` times, shape (factor*ny, factor*nx), complex64.

        Sample ``(factor*i, factor*j)`` of a refined grid equals sample ``(i, j)`` of the base grid.
        """
        ny, nx = self.shape[0] * factor, self.shape[1] * factor
        spec = np.zeros((ny, nx), dtype=np.complex64)
        spec[np.ix_(self.ky % ny, self.kx % nx)] = coefficients
        # OpenCV's transform of the (real, imaginary) channel view: about twice as fast as pocketfft here.
        # An unscaled inverse transform is numpy's norm="forward" inverse.
        field = cv2.dft(spec.view(np.float32).reshape(ny, nx, 2), flags=cv2.DFT_INVERSE | cv2.DFT_COMPLEX_OUTPUT)
        return field.view(np.complex64).reshape(ny, nx)


def sample_coherence(a: np.ndarray, b: np.ndarray) -> float:
    """Magnitude of the sample coherence of two complex images over their common valid pixels."""
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    num = np.abs(np.vdot(b, a))
    den = np.sqrt(np.vdot(a, a).real * np.vdot(b, b).real)
    return float(num / den)
