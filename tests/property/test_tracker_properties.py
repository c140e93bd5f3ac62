"""Properties of the offset tracker, over random shifts, gains, offsets and holes (hypothesis).

Pairs are band-limited complex speckle (a resolution cell of about 2 pixels, as Nyquist-sampled
SAR amplitude) shifted exactly in the Fourier domain, so the true offset is known to machine
precision. Examples are few and images small (128 x 128, one 32 px chip, step 16) so the file
runs in seconds; ``derandomize=True`` makes every run draw the same examples.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from sarflow.tracking import TrackConfig, track_offsets

SHAPE = (128, 128)
CONFIG = TrackConfig(chip_sizes=(32,), step=16, search_radius=4, workers=1)
FEW = settings(max_examples=8, deadline=None, derandomize=True, database=None)

shifts = st.floats(min_value=-2.5, max_value=2.5, allow_nan=False)


def speckle_pair(dx: float, dy: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Amplitudes of band-limited complex speckle and of the same field moved by (dx, dy) pixels."""
    rng = np.random.default_rng(seed)
    field = rng.standard_normal(SHAPE) + 1j * rng.standard_normal(SHAPE)
    fy, fx = np.fft.fftfreq(SHAPE[0])[:, None], np.fft.fftfreq(SHAPE[1])[None, :]
    spectrum = np.fft.fft2(field) * ((np.abs(fy) < 0.25) & (np.abs(fx) < 0.25))
    moved = ndimage.fourier_shift(spectrum, (dy, dx))
    return (np.abs(np.fft.ifft2(spectrum)).astype(np.float32), np.abs(np.fft.ifft2(moved)).astype(np.float32))


@FEW
@given(dx=shifts, dy=shifts, seed=st.integers(0, 2**16))
def test_subpixel_shift_is_recovered_within_its_sigma(dx, dy, seed):
    """Errors stay within the tracker's own 1-sigma estimate: 3 sigma for nearly every point.

    For a Gaussian error an honest sigma puts 99.7 % of the errors within 3 sigma; we ask 90 % of
    the points (allowing for the windowed-sinc bias, under 0.02 px, which sigma does not model),
    a median error under 0.05 px, and estimates at most points.
    """
    reference, secondary = speckle_pair(dx, dy, seed)
    result = track_offsets(reference, secondary, config=CONFIG)
    sigma = result.quality["sigma_px"]
    found = np.isfinite(result.dx)
    assert found.mean() > 0.6
    err_x, err_y = result.dx[found] - dx, result.dy[found] - dy
    assert np.median(np.hypot(err_x, err_y)) < 0.05
    within = (np.abs(err_x) <= 3 * sigma[found]) & (np.abs(err_y) <= 3 * sigma[found])
    assert within.mean() >= 0.9


@FEW
@given(dx=shifts, dy=shifts, seed=st.integers(0, 2**16))
def test_swapping_the_images_negates_the_offsets(dx, dy, seed):
    """track(secondary, reference) = -track(reference, secondary), within the combined sigma.

    Under a uniform shift both fields are constant, so the grids need not be aligned: each point
    of the swapped run is compared with the same point of the forward run.
    """
    reference, secondary = speckle_pair(dx, dy, seed)
    forward = track_offsets(reference, secondary, config=CONFIG)
    backward = track_offsets(secondary, reference, config=CONFIG)
    both = np.isfinite(forward.dx) & np.isfinite(backward.dx)
    assert both.mean() > 0.5
    sum_x, sum_y = (forward.dx + backward.dx)[both], (forward.dy + backward.dy)[both]
    assert abs(np.median(sum_x)) < 0.03 and abs(np.median(sum_y)) < 0.03
    combined = np.hypot(forward.quality["sigma_px"], backward.quality["sigma_px"])[both]
    assert ((np.abs(sum_x) <= 3 * combined) & (np.abs(sum_y) <= 3 * combined)).mean() >= 0.9


@FEW
@given(gain=st.floats(0.01, 100.0), offset=st.floats(0.0, 50.0), seed=st.integers(0, 2**16),
       method=st.sampled_from(["none", "highpass", "wallis", "lowpass", "log"]))
def test_gain_and_offset_of_the_amplitudes_change_nothing(gain, offset, seed, method):
    """Normalized cross-correlation ignores a gain and an offset of each image.

    The pre-processing keeps that property for ``none``, ``highpass``, ``wallis`` and ``lowpass``
    (each is linear, or removes a local mean and scale), so ``gain * a + offset`` of both images
    gives the same offsets. ``log`` turns a gain into an additive constant, which correlation
    ignores, but ``log(a + offset)`` is a different image: for it only the gain is tested.
    The tolerance covers float32 rounding of the scaled images.
    """
    reference, secondary = speckle_pair(0.37, -0.61, seed)
    config = TrackConfig(chip_sizes=(32,), step=16, search_radius=4, workers=1, preprocess=method)
    shift = 0.0 if method == "log" else offset
    base = track_offsets(reference, secondary, config=config)
    scaled = track_offsets(gain * reference + shift, gain * secondary + shift, config=config)
    same = np.isfinite(base.dx) == np.isfinite(scaled.dx)
    assert same.mean() >= 0.95  # a point at a threshold may flip
    both = np.isfinite(base.dx) & np.isfinite(scaled.dx)
    assert both.any()
    np.testing.assert_allclose(scaled.dx[both], base.dx[both], atol=2e-3)
    np.testing.assert_allclose(scaled.dy[both], base.dy[both], atol=2e-3)


@st.composite
def holes(draw):
    """One to three rectangles of NaN (row, col, height, width), anywhere, 8 to 60 px a side."""
    count = draw(st.integers(1, 3))
    return [(draw(st.integers(0, 120)), draw(st.integers(0, 120)), draw(st.integers(8, 60)),
             draw(st.integers(8, 60))) for _ in range(count)]


@FEW
@given(rects=holes(), in_secondary=st.booleans(), seed=st.integers(0, 2**16))
def test_mostly_nan_chips_never_give_a_number(rects, in_secondary, seed):
    """Where over half of a point's reference chip is NaN there is no estimate (NaN), never a number.

    The tracker's own limit is 30 % (``max_invalid_fraction``); half leaves room for the half-pixel
    move of estimates onto pixel centres, which blends neighbouring grid points.
    """
    reference, secondary = speckle_pair(0.3, -0.2, seed)
    mask = np.zeros(SHAPE, bool)
    for r, c, h, w in rects:
        mask[r : r + h, c : c + w] = True
    reference = np.where(mask, np.nan, reference)
    if in_secondary:
        secondary = np.where(mask, np.nan, secondary)
    if mask.all():
        return
    result = track_offsets(reference, secondary, config=CONFIG)
    chip = CONFIG.chip_sizes[0]
    padded = np.pad(mask, chip, constant_values=True)  # outside the image counts as nodata too
    for i, row in enumerate(result.rows):
        for j, col in enumerate(result.cols):
            top, left = row - chip // 2 + chip, col - chip // 2 + chip
            if padded[top : top + chip, left : left + chip].mean() > 0.5:
                assert np.isnan(result.dx[i, j]) and np.isnan(result.dy[i, j]), (i, j)
