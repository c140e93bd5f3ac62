import numpy as np
import pytest
from scipy.ndimage import fourier_shift

from sarflow.simulation.fields import UniformShift
from sarflow.simulation.pair import ImagingConfig, simulate_pair
from sarflow.simulation.speckle import band_limit, sample_coherence
from sarflow.simulation.warp import inverse_map, remap_complex


def phase_slope_shift(moved: np.ndarray, reference: np.ndarray, band: float) -> tuple[float, float]:
    """(dy, dx) such that moved(y) = reference(y - d), from the cross-spectrum phase inside the band.

    Unbiased for band-limited periodic fields (no peak interpolation involved).
    """
    X = np.fft.fft2(moved) * np.conj(np.fft.fft2(reference))
    fy = np.fft.fftfreq(reference.shape[0])[:, None] * np.ones(reference.shape)
    fx = np.fft.fftfreq(reference.shape[1])[None, :] * np.ones(reference.shape)
    ok = (np.abs(fy) < band / 2 * 0.9) & (np.abs(fx) < band / 2 * 0.9) & (np.abs(X) > 0)
    phase = np.angle(X[ok])  # = -2 pi (fy dy + fx dx)
    weight = np.abs(X[ok])
    A = np.stack([fy[ok], fx[ok]], axis=1) * (-2 * np.pi)
    sw = np.sqrt(weight)
    sol, *_ = np.linalg.lstsq(A * sw[:, None], phase * sw, rcond=None)
    return float(sol[0]), float(sol[1])


@pytest.fixture(scope="module")
def periodic_speckle():
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((256, 256)) + 1j * rng.standard_normal((256, 256))).astype(np.complex64)
    return band_limit(z, 0.5)


@pytest.mark.parametrize("shift", [(0.4, 0.3), (-0.25, 0.9), (1.5, -0.5)])
def test_warp_recovers_known_fourier_shift(periodic_speckle, shift):
    c = periodic_speckle
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float32)
    moved = remap_complex(c, yy - shift[0], xx - shift[1])
    exact = np.fft.ifft2(fourier_shift(np.fft.fft2(c), shift))
    inner = (slice(8, -8), slice(8, -8))
    rel = np.sqrt(np.mean(np.abs(moved - exact)[inner] ** 2) / np.mean(np.abs(c) ** 2))
    assert rel < 0.015
    # Recover the shift from the interior (periodic extension replaced by the exact field at the border).
    patched = exact.copy()
    patched[inner] = moved[inner]
    dy, dx = phase_slope_shift(patched, c, band=0.5)
    assert abs(dy - shift[0]) < 0.01 and abs(dx - shift[1]) < 0.01


@pytest.mark.parametrize("coherence", [0.3, 0.6, 0.9])
def test_coherence_parameter_gives_sample_coherence(coherence):
    pair = simulate_pair(UniformShift(0.0, 0.0), shape=(256, 256), seed=3, texture="fractal",
                         imaging=ImagingConfig(coherence=coherence, snr_db=np.inf), return_complex=True)
    assert sample_coherence(pair.reference_complex, pair.secondary_complex) == pytest.approx(coherence, abs=0.03)


def test_thermal_noise_lowers_coherence_as_documented():
    snr_db = 3.0
    snr = 10 ** (snr_db / 10)
    pair = simulate_pair(UniformShift(0.0, 0.0), shape=(256, 256), seed=4, texture="fractal",
                         imaging=ImagingConfig(coherence=1.0, snr_db=snr_db), return_complex=True)
    assert sample_coherence(pair.reference_complex, pair.secondary_complex) == pytest.approx(snr / (1 + snr), abs=0.03)


def test_single_look_speckle_statistics():
    pair = simulate_pair(UniformShift(0.0, 0.0), shape=(256, 256), seed=5, texture="fractal",
                         texture_contrast=0.0, imaging=ImagingConfig(snr_db=np.inf))
    intensity = pair.reference.astype(np.float64) ** 2
    # Fully developed speckle: exponential intensity, contrast (std / mean) of 1, mean sigma0 = 1.
    assert intensity.mean() == pytest.approx(1.0, rel=0.1)
    assert intensity.std() / intensity.mean() == pytest.approx(1.0, abs=0.1)


def test_multilook_reduces_speckle_contrast():
    looks = 4
    pair = simulate_pair(UniformShift(0.0, 0.0), shape=(192, 192), seed=6, texture="fractal",
                         texture_contrast=0.0, imaging=ImagingConfig(looks=looks, snr_db=np.inf))
    intensity = pair.reference.astype(np.float64) ** 2
    assert intensity.std() / intensity.mean() == pytest.approx(1 / np.sqrt(looks), abs=0.08)


def _intensity_correlation(image: np.ndarray, lag: int) -> float:
    i = image.astype(np.float64) ** 2
    a, b = i[:, :-lag], i[:, lag:]
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_speckle_is_correlated_over_a_resolution_cell():
    fine = simulate_pair(UniformShift(0, 0), shape=(256, 256), seed=7, texture_contrast=0.0,
                         imaging=ImagingConfig(resolution_px=3.0, snr_db=np.inf))
    coarse = simulate_pair(UniformShift(0, 0), shape=(256, 256), seed=7, texture_contrast=0.0,
                           imaging=ImagingConfig(resolution_px=1.0, snr_db=np.inf))
    assert _intensity_correlation(fine.reference, 1) > 0.6
    assert _intensity_correlation(fine.reference, 6) < 0.1
    assert _intensity_correlation(coarse.reference, 1) < 0.25


def test_inverse_map_solves_forward_motion():
    h, w = 64, 80
    rr, cc = np.mgrid[0:h, 0:w].astype(np.float32)
    dx = 3.0 + 0.2 * np.sin(rr / 9.0) * cc / 10
    dy = -2.0 + 0.1 * cc
    g_rows, g_cols = inverse_map(dx.astype(np.float32), dy.astype(np.float32))
    inner = (slice(10, -10), slice(15, -15))
    # g + u(g) = y, with u evaluated analytically at g (bilinear interpolation of u limits it to ~3e-3 px).
    u_x = 3.0 + 0.2 * np.sin(g_rows / 9.0) * g_cols / 10
    u_y = -2.0 + 0.1 * g_cols
    np.testing.assert_allclose((g_cols + u_x)[inner], cc[inner], atol=5e-3)
    np.testing.assert_allclose((g_rows + u_y)[inner], rr[inner], atol=5e-3)
