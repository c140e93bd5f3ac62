import numpy as np
import pytest
from scipy.ndimage import fourier_shift

from sarflow.errors import InputError
from sarflow.simulation.fields import UniformShift
from sarflow.simulation.pair import ImagingConfig, simulate_pair
from sarflow.simulation.speckle import SpeckleSpectrum, band_limit, sample_coherence
from sarflow.simulation.warp import SamplePositions, inverse_map, invert_gridded_motion, invert_motion, remap_complex


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


def test_sample_positions_give_the_samples_of_remap():
    rng = np.random.default_rng(1)
    field = (rng.standard_normal((90, 100)) + 1j * rng.standard_normal((90, 100))).astype(np.complex64)
    rows = rng.uniform(-3, 92, (40, 50)).astype(np.float32)  # some outside: NaN
    cols = rng.uniform(-3, 102, (40, 50)).astype(np.float32)
    positions = SamplePositions(rows, cols)
    for interpolation in ("linear", "lanczos"):
        got = positions.remap_complex(field, interpolation=interpolation)
        np.testing.assert_array_equal(got, remap_complex(field, rows, cols, interpolation=interpolation))
        assert np.isnan(got).any() and got.dtype == np.complex64
    with pytest.raises(InputError, match="use remap_complex for cubic"):
        positions.remap_complex(field, interpolation="cubic")


def _bilinear_motion(dx, dy):
    """Forward motion sampled bilinearly (exactly, in float64) from grids, edge values outside."""
    h, w = dx.shape

    def motion(r, c):
        r = np.clip(r, 0, h - 1)
        c = np.clip(c, 0, w - 1)
        r0 = np.minimum(np.floor(r).astype(int), h - 2)
        c0 = np.minimum(np.floor(c).astype(int), w - 2)
        a, b = r - r0, c - c0
        out = []
        for f in (dx, dy):
            out.append(f[r0, c0] * (1 - a) * (1 - b) + f[r0 + 1, c0] * a * (1 - b) + f[r0, c0 + 1] * (1 - a) * b
                       + f[r0 + 1, c0 + 1] * a * b)
        return out[0], out[1]

    return motion


@pytest.mark.parametrize("strain", [0.0, 0.05, 0.3])
def test_gridded_motion_inverse_matches_the_exact_inverse(strain):
    h, w = 96, 110
    rr, cc = np.mgrid[0:h, 0:w].astype(np.float64)
    dx = (2.5 + strain * 10 * np.sin(rr / 11.0) + strain * (cc - w / 2)).astype(np.float32).astype(np.float64)
    dy = (-1.5 + strain * 8 * np.cos(cc / 13.0)).astype(np.float32).astype(np.float64)
    rows = np.arange(20, 76, dtype=np.float64)[:, None]
    cols = np.arange(20, 90, dtype=np.float64)[None, :]
    g_r, g_c = invert_gridded_motion(dx, dy, rows, cols)
    assert g_r.dtype == np.float32 and g_r.shape == (56, 70)
    e_r, e_c = invert_motion(_bilinear_motion(dx, dy), rows, cols, iterations=200, tolerance=1e-10)
    # OpenCV samples the motion at positions quantised to 1/32 px: the inverse is as good as the motion
    # it samples, an error of |grad u| / 32 px amplified by the iteration's 1 / (1 - |grad u|).
    gradient = max(np.abs(np.gradient(dx)).max(), np.abs(np.gradient(dy)).max())
    limit = gradient / 16 / (1 - gradient) + 1e-4
    assert np.abs(g_r - e_r).max() <= limit and np.abs(g_c - e_c).max() <= limit


def test_gridded_motion_inverse_stops_at_a_fold():
    # |grad u| > 1 folds the ground: no inverse exists; the iteration must still stop quickly.
    h, w = 64, 64
    rr, cc = np.mgrid[0:h, 0:w].astype(np.float64)
    dx = 1.5 * np.sin(cc / 2.0) * 2.0
    dy = np.zeros_like(dx)
    g_r, g_c = invert_gridded_motion(dx, dy, rr, cc, iterations=25)
    assert np.isfinite(g_r).all() and np.isfinite(g_c).all()


def test_gridded_motion_inverse_rejects_mismatched_grids():
    with pytest.raises(InputError, match="2-D arrays of one shape"):
        invert_gridded_motion(np.zeros((4, 5)), np.zeros((5, 4)), np.zeros((2, 2)), np.zeros((2, 2)))


@pytest.mark.parametrize("factor", [1, 2])
def test_speckle_synthesis_is_the_inverse_fourier_series(factor):
    spectrum = SpeckleSpectrum((48, 40), 1 / 1.7)
    z = spectrum.coefficients(np.random.default_rng(3))
    ny, nx = 48 * factor, 40 * factor
    spec = np.zeros((ny, nx), dtype=np.complex128)
    spec[np.ix_(spectrum.ky % ny, spectrum.kx % nx)] = z
    expected = np.fft.ifft2(spec) * (ny * nx)
    got = spectrum.synthesise(z, factor)
    assert got.dtype == np.complex64 and got.shape == (ny, nx)
    np.testing.assert_allclose(got, expected, atol=1e-5 * np.abs(expected).max())
    # Refined samples (factor i, factor j) are the base grid's samples.
    np.testing.assert_allclose(got[::factor, ::factor], spectrum.synthesise(z, 1), atol=1e-5 * np.abs(expected).max())


def test_point_target_coefficients_are_the_direct_sum():
    spectrum = SpeckleSpectrum((40, 36), 1 / 2.0)
    rows, cols = np.array([5.3, 20.0, 33.7]), np.array([10.1, 2.5, 30.0])
    amps = np.array([2.0, 1.0j, -3.0 + 1.0j])
    got = spectrum.point_coefficients(rows, cols, amps)
    ky, kx = spectrum.ky[:, None], spectrum.kx[None, :]
    direct = sum(a * np.exp(-2j * np.pi * (ky * r / 40 + kx * c / 36)) for r, c, a in zip(rows, cols, amps))
    direct *= np.outer(spectrum.wy, spectrum.wx) / np.sum(np.outer(spectrum.wy, spectrum.wx))
    np.testing.assert_allclose(got, direct, atol=1e-6 * np.abs(direct).max())
    # Each target peaks at its amplitude, at its position.
    image = spectrum.synthesise(got, 1)
    assert abs(image[20, 2] - 1.0j) < 0.35  # 0.5 px off the grid in columns: a sinc-like drop
