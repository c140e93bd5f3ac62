from dataclasses import dataclass

import numpy as np
import pytest

from sarflow.errors import InputError
from sarflow.simulation.fields import SmoothField, UniformShift
from sarflow.simulation.pair import ImagingConfig, simulate_pair
from sarflow.simulation.textures import TEXTURES, Texture, make_texture, texture_from_image


@dataclass(frozen=True)
class LinearStrain:
    """Large homogeneous strain about the scene centre: 15 % along columns, -10 % along rows."""

    exx: float = 0.15
    eyy: float = -0.10

    def offsets_px(self, rows, cols, shape):
        rc, cc = (shape[0] - 1) / 2, (shape[1] - 1) / 2
        return self.exx * (np.asarray(cols) - cc), self.eyy * (np.asarray(rows) - rc)


def _peak_position(image_complex: np.ndarray, row: float, col: float, half: int = 8, up: int = 16):
    """Sub-pixel peak of a point target: FFT upsampling of the complex window, then a parabola."""
    r0, c0 = int(round(row)) - half, int(round(col)) - half
    win = image_complex[r0 : r0 + 2 * half, c0 : c0 + 2 * half]
    n = 2 * half
    spec = np.fft.fftshift(np.fft.fft2(win))
    padded = np.zeros((n * up, n * up), dtype=complex)
    s = (n * up - n) // 2
    padded[s : s + n, s : s + n] = spec
    fine = np.abs(np.fft.ifft2(np.fft.ifftshift(padded))) ** 2
    i, j = np.unravel_index(np.argmax(fine), fine.shape)

    def vertex(a, b, c):
        den = a - 2 * b + c
        return 0.0 if den == 0 else 0.5 * (a - c) / den

    di = vertex(fine[i - 1, j], fine[i, j], fine[(i + 1) % fine.shape[0], j])
    dj = vertex(fine[i, j - 1], fine[i, j], fine[i, (j + 1) % fine.shape[1]])
    return r0 + (i + di) / up, c0 + (j + dj) / up


def test_forward_truth_under_large_strain():
    """Point targets land exactly where the truth says, even with 15 % strain."""
    shape = (200, 200)
    sigma0 = np.full(shape, 1e-6, dtype=np.float32)  # almost no clutter
    targets = np.array([[60.2, 50.7, 1e4], [140.6, 150.3, 1e4], [70.0, 140.45, 1e4], [130.3, 60.1, 1e4]])
    pair = simulate_pair(LinearStrain(), shape=shape, texture=Texture(sigma0=sigma0, points=targets), seed=1,
                         imaging=ImagingConfig(coherence=1.0, snr_db=np.inf), return_complex=True)
    for r, c, _ in targets:
        ref_r, ref_c = _peak_position(pair.reference_complex, r, c)
        assert (ref_r, ref_c) == pytest.approx((r, c), abs=0.05)
        i, j = int(round(r)), int(round(c))
        # Truth at the nearest pixel plus the strain over the sub-pixel remainder.
        dx = pair.dx[i, j] + 0.15 * (c - j)
        dy = pair.dy[i, j] - 0.10 * (r - i)
        sec_r, sec_c = _peak_position(pair.secondary_complex, r + dy, c + dx)
        assert (sec_r, sec_c) == pytest.approx((r + dy, c + dx), abs=0.05)
        # Sampling the reference at y - u(y) (the naive backward warp) would have put the target where
        # y - u(y) = x, i.e. (x - centre) / (1 - strain) from the centre: about a pixel away here.
        rc, cc = (shape[0] - 1) / 2, (shape[1] - 1) / 2
        naive_r, naive_c = rc + (r - rc) / (1 + 0.10), cc + (c - cc) / (1 - 0.15)
        assert max(abs(naive_r - (r + dy)), abs(naive_c - (c + dx))) > 0.9


def test_truth_is_the_field_on_the_pixel_grid():
    field = SmoothField(amplitude_px=0.8, correlation_px=30, seed=2)
    pair = simulate_pair(field, shape=(64, 96), seed=0)
    rows, cols = np.mgrid[0:64, 0:96]
    dx, dy = field.offsets_px(rows.astype(float), cols.astype(float), (64, 96))
    np.testing.assert_allclose(pair.dx, dx, atol=1e-5)
    np.testing.assert_allclose(pair.dy, dy, atol=1e-5)
    assert np.abs(pair.dx).max() == pytest.approx(0.8, abs=1e-4)


def test_seed_makes_pairs_reproducible():
    a = simulate_pair(UniformShift(0.5, 0.25), shape=(64, 64), seed=11, texture="mixed")
    b = simulate_pair(UniformShift(0.5, 0.25), shape=(64, 64), seed=11, texture="mixed")
    c = simulate_pair(UniformShift(0.5, 0.25), shape=(64, 64), seed=12, texture="mixed")
    np.testing.assert_array_equal(a.reference, b.reference)
    np.testing.assert_array_equal(a.secondary, b.secondary)
    assert not np.array_equal(a.reference, c.reference)


@pytest.mark.parametrize("texture", TEXTURES)
def test_every_texture_gives_finite_positive_amplitude(texture):
    pair = simulate_pair(UniformShift(1.5, -2.0), shape=(96, 80), seed=3, texture=texture)
    for image in (pair.reference, pair.secondary):
        assert image.shape == (96, 80) and image.dtype == np.float32
        assert np.isfinite(image).all() and (image >= 0).all() and image.std() > 0


def test_texture_families_differ_in_structure():
    rng = np.random.default_rng(0)

    def anisotropy(sigma0):
        gy, gx = np.gradient(np.log(sigma0))
        eig = np.linalg.eigvalsh(np.cov(np.stack([gx.ravel(), gy.ravel()])))
        return eig[1] / eig[0]

    # Crevasses are oriented: the texture varies more across the stripes than along them.
    assert anisotropy(make_texture("stripes", (128, 128), rng).sigma0) > 1.6
    assert anisotropy(make_texture("fractal", (128, 128), rng).sigma0) < 1.3
    points = make_texture("points", (512, 512), rng)
    assert len(points.points) > 20


def test_user_image_as_texture_is_mirrored_and_normalised():
    image = np.random.default_rng(1).rayleigh(size=(50, 40)).astype(np.float32)
    image[0, 0] = np.nan
    tex = texture_from_image(image, (70, 60), despeckle_px=1.0, row0=-10, col0=-10)
    assert tex.sigma0.shape == (70, 60)
    assert np.isfinite(tex.sigma0).all() and tex.sigma0.mean() == pytest.approx(1.0, rel=0.2)


def test_user_image_must_be_amplitude():
    with pytest.raises(InputError, match="complex: pass its amplitude"):
        texture_from_image(np.ones((8, 8), dtype=np.complex64), (8, 8))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"coherence": 1.5}, "coherence must lie in"),
        ({"resolution_px": 0.5}, "resolution_px must be >= 1"),
        ({"looks": 0}, "looks must be a positive integer"),
        ({"oversample": 1.5}, "oversample must be a positive integer"),
        ({"snr_db": float("nan")}, "snr_db must be a number"),
    ],
)
def test_imaging_config_validation(kwargs, message):
    with pytest.raises(InputError, match=message):
        ImagingConfig(**kwargs)


def test_too_small_scene():
    with pytest.raises(InputError, match="at least 8 x 8"):
        simulate_pair(UniformShift(), shape=(4, 100))


def test_texture_of_wrong_shape():
    tex = Texture(sigma0=np.ones((10, 10), np.float32), points=np.zeros((0, 3)))
    with pytest.raises(InputError, match="texture has shape"):
        simulate_pair(UniformShift(), shape=(20, 20), texture=tex)


def test_unknown_texture_name():
    with pytest.raises(InputError, match="unknown texture 'sand'"):
        simulate_pair(UniformShift(), shape=(20, 20), texture="sand")
