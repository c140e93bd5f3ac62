"""Correlation volumes of sarflow.tracking.ncc against chip-by-chip NCC."""

from __future__ import annotations

import numpy as np
import pytest

from sarflow.tracking.ncc import _lag_rectangles, box_sums, box_sums_at, ncc_volume


def _block(seed, chips, step, ni, nj, ndy, ndx, holes=True):
    """Reference and secondary blocks of the shapes `ncc_volume` takes, with nodata rectangles."""
    rng = np.random.default_rng(seed)
    cmax = max(chips)
    hr, wr = (ni - 1) * step + cmax, (nj - 1) * step + cmax
    ref = rng.standard_normal((hr, wr)).astype(np.float32)
    sec = rng.standard_normal((hr + ndy - 1, wr + ndx - 1)).astype(np.float32)
    ref_bad = np.zeros_like(ref)
    sec_bad = np.zeros_like(sec)
    if holes:
        ref_bad[:9, 3:14] = 1
        sec_bad[-11:, 5:12] = 1
        # a constant strip: the smallest chips of the first grid column at lag column 0 have no variance
        sec_bad[:, :cmax // 2 + min(chips) // 2] = 1
    ref[ref_bad > 0] = 0
    sec[sec_bad > 0] = 0
    return ref, ref_bad, sec, sec_bad


def _brute_ncc(ref, sec, c, y, x, a, b):
    """Zero-mean NCC of the chip of size ``c`` at ``ref[y, x]`` and ``sec[y + a, x + b]``, float64."""
    r = ref[y:y + c, x:x + c].astype(np.float64)
    s = sec[y + a:y + a + c, x + b:x + b + c].astype(np.float64)
    r, s = r - r.mean(), s - s.mean()
    den = np.sqrt((r * r).sum() * (s * s).sum())
    return (r * s).sum() / den if den > 1e-12 * c ** 4 else np.nan


# cells of 8, 4, 3 and 1 pixels; lags covering the step or a few of its pixels
@pytest.mark.parametrize("chips,step,ndy,ndx", [((16, 32), 8, 6, 7), ((16, 32), 8, 3, 2), ((8, 24), 4, 6, 7),
                                                ((12,), 3, 6, 7), ((10,), 3, 5, 4)])
def test_volume_matches_chip_by_chip_ncc(chips, step, ndy, ndx):
    ni, nj = 4, 5
    ref, ref_bad, sec, sec_bad = _block(1, chips, step, ni, nj, ndy, ndx)
    vol = ncc_volume(ref, ref_bad, sec, sec_bad, chips, step, ni, nj, -2, 3, ndy, ndx)
    assert vol.ncc.shape == (len(chips), ni, nj, ndy, ndx) and vol.ncc.dtype == np.float32
    assert (vol.dy0, vol.dx0) == (-2, 3)
    cmax = max(chips)
    for k, c in enumerate(chips):
        o = cmax // 2 - c // 2
        want = np.array([[[[_brute_ncc(ref, sec, c, i * step + o, j * step + o, a, b) for b in range(ndx)]
                           for a in range(ndy)] for j in range(nj)] for i in range(ni)])
        np.testing.assert_array_equal(np.isnan(vol.ncc[k]), np.isnan(want))
        np.testing.assert_allclose(vol.ncc[k], want, atol=2e-6, equal_nan=True)
        want_inv = np.array([[ref_bad[i * step + o:i * step + o + c, j * step + o:j * step + o + c].mean()
                              for j in range(nj)] for i in range(ni)])
        np.testing.assert_allclose(vol.ref_invalid[k], want_inv, atol=1e-7)
    # the constant strip of the secondary gives NaN, not numbers
    assert np.isnan(vol.ncc[0, :, 0, :, 0]).all()


def test_lag_subset_equals_full_volume_and_leaves_the_rest_nan():
    chips, step, ni, nj, ndy, ndx = (16, 32), 8, 3, 4, 9, 8
    ref, ref_bad, sec, sec_bad = _block(2, chips, step, ni, nj, ndy, ndx)
    full = ncc_volume(ref, ref_bad, sec, sec_bad, chips, step, ni, nj, 0, 0, ndy, ndx)
    lags = np.ones((ndy, ndx), bool)
    lags[2:6, 3:7] = False  # a ring, as the second pass of the tracker asks for
    lags[8, ::3] = False
    part = ncc_volume(ref, ref_bad, sec, sec_bad, chips, step, ni, nj, 0, 0, ndy, ndx, lags)
    np.testing.assert_array_equal(part.ncc[..., lags], full.ncc[..., lags])
    assert np.isnan(part.ncc[..., ~lags]).all()
    none = ncc_volume(ref, ref_bad, sec, sec_bad, chips, step, ni, nj, 0, 0, ndy, ndx, np.zeros((ndy, ndx), bool))
    assert np.isnan(none.ncc).all()


def test_sec_invalid_at_equals_the_box_sums_of_the_nodata_mask():
    chips, step, ni, nj, ndy, ndx = (16, 32), 8, 3, 4, 5, 6
    ref, ref_bad, sec, sec_bad = _block(3, chips, step, ni, nj, ndy, ndx)
    vol = ncc_volume(ref, ref_bad, sec, sec_bad, chips, step, ni, nj, 0, 0, ndy, ndx)
    rng = np.random.default_rng(0)
    for k, c in enumerate(chips):
        full = box_sums(sec_bad.astype(np.float64), c) / float(c * c)
        rows = rng.integers(0, full.shape[0], 50)
        cols = rng.integers(0, full.shape[1], 50)
        np.testing.assert_array_equal(vol.sec_invalid_at(k, rows, cols), full[rows, cols])
    # without nodata the fractions are zeros of the asked shape
    _, _, sec, _ = _block(3, chips, step, ni, nj, ndy, ndx, holes=False)
    clean = ncc_volume(ref, ref_bad, sec, np.zeros_like(sec), chips, step, ni, nj, 0, 0, ndy, ndx)
    out = clean.sec_invalid_at(1, np.arange(3)[:, None], np.arange(4)[None, :])
    assert out.shape == (3, 4) and not out.any()


def test_box_sums_at_equals_box_sums():
    rng = np.random.default_rng(4)
    img = rng.standard_normal((40, 57))
    ii = np.zeros((41, 58))
    ii[1:, 1:] = img.cumsum(0).cumsum(1)
    for c in (1, 6, 13):
        full = box_sums(img, c)
        rows = rng.integers(0, full.shape[0], (7, 1))
        cols = rng.integers(0, full.shape[1], (1, 5))
        got = box_sums_at(ii, rows, cols, c)
        assert got.shape == (7, 5)
        np.testing.assert_allclose(got, full[rows, cols], atol=1e-10)
        np.testing.assert_allclose(got, [[img[r:r + c, q:q + c].sum() for q in cols[0]] for r in rows[:, 0]],
                                   atol=1e-10)


def test_lag_rectangles_cover_exactly_the_lags_asked_for():
    rng = np.random.default_rng(5)
    for _ in range(50):
        lags = rng.random((rng.integers(1, 9), rng.integers(1, 9))) < 0.6
        cover = np.zeros(lags.shape, int)
        for a0, a1, b0, b1 in _lag_rectangles(lags, *lags.shape):
            cover[a0:a1, b0:b1] += 1
        np.testing.assert_array_equal(cover, lags.astype(int))
    assert _lag_rectangles(None, 3, 4) == [(0, 3, 0, 4)]
