"""Accuracy, robustness and input checks of sarflow.tracking."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import amp, shifted_pair, speckle_field, strip_pair, warped_pair

from sarflow.errors import ConstantImageError, InputError, NoValidDataError
from sarflow.tracking import TrackConfig, grid_coordinates, normalized_median_test, track_offsets
from sarflow.tracking.subpixel import refine

FAST = dict(workers=1)


def _err(res, dy, dx):
    return np.hypot(res.dy - dy, res.dx - dx)


def test_known_shift_recovered(pair_03_m17):
    ref, sec = pair_03_m17
    res = track_offsets(ref, sec, config=TrackConfig(**FAST))
    assert res.dy.shape == (24, 24) and res.dy.dtype == np.float32
    assert np.isfinite(res.dy).mean() > 0.6
    assert abs(np.nanmedian(res.dy) - 0.3) < 0.02
    assert abs(np.nanmedian(res.dx) + 1.7) < 0.02
    assert list(res.quality) == ["ncc", "peak_ratio", "sigma_px", "chip_size", "n_kernels"]
    assert res.row0 == res.col0 == 4 and res.step == 8
    rows, cols = grid_coordinates(ref.shape, 8)
    np.testing.assert_array_equal(res.rows, rows)
    json.dumps(res.config.to_dict())
    json.dumps(dataclasses.asdict(res.config))


def test_exhaustive_equals_coarse_to_fine_on_uniform_shift(pair_03_m17):
    ref, sec = pair_03_m17
    a = track_offsets(ref, sec, config=TrackConfig(chip_sizes=(32,), **FAST))
    b = track_offsets(ref, sec, config=TrackConfig(chip_sizes=(32,), coarse_to_fine=False, **FAST))
    np.testing.assert_allclose(a.dx, b.dx, atol=1e-5, equal_nan=True)


@pytest.mark.parametrize("axis", ["dy", "dx"])
def test_bias_curve_below_002(axis):
    cfg = TrackConfig(chip_sizes=(32,), search_radius=3, coarse_to_fine=False, median_test=False, **FAST)
    worst = 0.0
    for f in np.linspace(0.0, 1.0, 6):
        shift = (f, 0.0) if axis == "dy" else (0.0, f)
        ref, sec = shifted_pair((144, 144), *shift, seed=7)
        res = track_offsets(ref, sec, config=cfg)
        est = getattr(res, axis)
        worst = max(worst, abs(np.nanmean(est) - f))
    assert worst < 0.02


def test_parabola_is_biased_and_sinc_is_not():
    # 1-D sampled sinc^2 peak at fractional position 0.3
    t = np.arange(-4, 5)
    pk = np.sinc((t[:, None] - 0.3) / 2) ** 2 * np.sinc((t[None, :] + 0.2) / 2) ** 2
    sy_p, sx_p, _, _ = refine(pk[None].astype(float), "parabola")
    sy_s, sx_s, _, _ = refine(pk[None].astype(float), "sinc")
    assert abs(sy_p[0] - 0.3) > 0.03
    assert abs(sy_s[0] - 0.3) < 0.015 and abs(sx_s[0] + 0.2) < 0.015


def test_antisymmetry(pair_03_m17):
    ref, sec = pair_03_m17
    cfg = TrackConfig(chip_sizes=(32, 64), **FAST)
    a = track_offsets(ref, sec, config=cfg)
    b = track_offsets(sec, ref, config=cfg)
    assert abs(np.nanmedian(a.dx + b.dx)) < 0.02
    assert abs(np.nanmedian(a.dy + b.dy)) < 0.02


def test_gain_and_offset_invariance(pair_03_m17):
    ref, sec = pair_03_m17
    cfg = TrackConfig(chip_sizes=(32,), **FAST)
    a = track_offsets(ref, sec, config=cfg)
    b = track_offsets(ref, 3.7 * sec + 11.0, config=cfg)
    np.testing.assert_allclose(a.dx, b.dx, atol=2e-3, equal_nan=True)
    np.testing.assert_allclose(a.dy, b.dy, atol=2e-3, equal_nan=True)


def test_smooth_warp():
    ref, sec, ty, tx = warped_pair((192, 192), seed=3)
    res = track_offsets(ref, sec, config=TrackConfig(chip_sizes=(16, 32), **FAST))
    rows, cols = grid_coordinates(ref.shape, 8)
    e = np.hypot(res.dy - ty[np.ix_(rows, cols)], res.dx - tx[np.ix_(rows, cols)])
    assert np.isfinite(e).mean() > 0.7
    assert np.nanmedian(e) < 0.1


@pytest.mark.parametrize("pre", ["none", "log", "highpass", "wallis"])
def test_preprocess_methods(pre, pair_03_m17):
    ref, sec = pair_03_m17
    res = track_offsets(ref, sec, config=TrackConfig(chip_sizes=(32,), preprocess=pre, **FAST))
    # the log transform widens the amplitude spectrum (aliasing) and adds bias
    tol = 0.1 if pre == "log" else 0.03
    assert abs(np.nanmedian(res.dx) + 1.7) < tol


def test_nan_regions_stay_nan(pair_03_m17):
    ref, sec = pair_03_m17
    ref = ref.copy()
    sec = sec.copy()
    ref[40:90, 50:100] = np.nan
    sec[120:150, 10:60] = np.nan
    res = track_offsets(ref, sec, config=TrackConfig(**FAST))
    rows, cols = grid_coordinates(ref.shape, 8)
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    in_ref_hole = (rr >= 40) & (rr < 90) & (cc >= 50) & (cc < 100)
    assert np.isnan(res.dx[in_ref_hole]).all() and np.isnan(res.dy[in_ref_hole]).all()
    in_sec_hole = (rr >= 121) & (rr < 150) & (cc >= 12) & (cc < 60)
    assert np.isnan(res.dx[in_sec_hole]).all()
    ok = np.isfinite(res.dx)
    assert ok.sum() > 100
    assert np.nanmax(np.abs(res.dx[ok] + 1.7)) < 0.3


def test_constant_block_gives_nan_not_crash(pair_03_m17):
    ref, sec = pair_03_m17
    ref = ref.copy()
    ref[0:80, 0:80] = 1.0
    res = track_offsets(ref, sec, config=TrackConfig(chip_sizes=(32,), **FAST))
    assert np.isnan(res.dx[1:7, 1:7]).all()
    assert np.isfinite(res.dx).sum() > 100


def test_multikernel_beats_small_chip_on_low_coherence():
    # complex coherence 0.5: amplitude correlation about 0.25
    ref, sec = shifted_pair((256, 256), 0.4, 1.3, seed=5, coherence=0.5)
    base = dict(median_test=False, **FAST)
    small = track_offsets(ref, sec, config=TrackConfig(chip_sizes=(16,), max_sigma_px=50, min_ncc=-1,
                                                       min_peak_ratio=0.0, min_significance=0.0, **base))
    multi = track_offsets(ref, sec, config=TrackConfig(chip_sizes=(16, 32, 64), **base))
    e_small = _err(small, 0.4, 1.3)
    e_multi = _err(multi, 0.4, 1.3)
    both = np.isfinite(e_small) & np.isfinite(e_multi)
    assert both.sum() > 100
    assert np.median(e_multi[both]) < 0.5 * np.median(e_small[both])
    assert (multi.quality["chip_size"][both] > 16).mean() > 0.5


def test_multikernel_beats_large_chip_at_discontinuity():
    # a 24 px wide strip moving 3 px between stable sides
    ref, sec = strip_pair((160, 256), 116, 140, (0.0, 3.0), seed=2)
    rows, cols = grid_coordinates(ref.shape, 4)
    base = dict(step=4, median_test=False, **FAST)
    large = track_offsets(ref, sec, config=TrackConfig(chip_sizes=(64,), **base))
    multi = track_offsets(ref, sec, config=TrackConfig(chip_sizes=(16, 32, 64), **base))
    inside = ((cols >= 120) & (cols < 134))[None, :] & ((rows > 40) & (rows < 120))[:, None]
    e_large = np.abs(np.nan_to_num(large.dx, nan=0.0) - 3.0)[inside]
    e_multi = np.abs(np.nan_to_num(multi.dx, nan=0.0) - 3.0)[inside]
    assert np.mean(e_multi < 0.2) > 0.8
    assert np.mean(e_multi) < 0.5 * np.mean(e_large)


def test_outlier_test_flags_planted_outlier():
    rng = np.random.default_rng(0)
    dy = 1.0 + 0.02 * rng.standard_normal((20, 20))
    dx = -2.0 + 0.02 * rng.standard_normal((20, 20))
    dx[7, 9] = 1.5
    dy[12, 3] = -4.0
    out = normalized_median_test(dy, dx, threshold=2.5, eps=0.1)
    assert out[7, 9] and out[12, 3]
    assert out.sum() == 2


def test_planted_outlier_removed_and_filled(pair_03_m17):
    ref, sec = pair_03_m17
    sec = sec.copy()
    # destroy a chip-sized patch: replace it with fresh speckle
    sec[80:112, 80:112] = amp(speckle_field((192, 192), 99))[80:112, 80:112]
    cfg = TrackConfig(chip_sizes=(32,), fill_gaps=True, **FAST)
    res = track_offsets(ref, sec, config=cfg)
    assert list(res.quality)[-1] == "filled"
    filled = res.quality["filled"].astype(bool)
    assert filled.any()
    assert np.isfinite(res.dx[filled]).all()
    # every finite, non-filled estimate is a measurement close to the truth
    meas = np.isfinite(res.dx) & ~filled
    assert np.nanmax(np.abs(res.dx[meas] + 1.7)) < 0.5
    raw = track_offsets(ref, sec, config=dataclasses.replace(cfg, fill_gaps=False))
    np.testing.assert_array_equal(np.isnan(raw.dx), np.isnan(res.dx) | filled)


def test_prior_finds_large_shift():
    ref, sec = shifted_pair((192, 192), 35.0, -12.4, seed=4)
    rows, cols = grid_coordinates(ref.shape, 8)
    pdy = np.full((len(rows), len(cols)), 33.0)
    pdx = np.full((len(rows), len(cols)), -10.0)
    cfg = TrackConfig(chip_sizes=(32,), search_radius=8, **FAST)
    res = track_offsets(ref, sec, config=cfg, prior_dy=pdy, prior_dx=pdx)
    assert np.isfinite(res.dy).sum() > 50
    assert abs(np.nanmedian(res.dy) - 35.0) < 0.03
    assert abs(np.nanmedian(res.dx) + 12.4) < 0.03
    no_prior = track_offsets(ref, sec, config=cfg)
    assert not (np.abs(no_prior.dy - 35.0) < 0.5).any()


def test_sigma_matches_actual_errors():
    ref, sec = shifted_pair((256, 256), 0.25, -0.6, seed=11, coherence=0.6)
    cfg = TrackConfig(chip_sizes=(32,), median_test=False, max_sigma_px=10, min_peak_ratio=0, **FAST)
    res = track_offsets(ref, sec, config=cfg)
    e = np.hypot(res.dy - 0.25, res.dx + 0.6) / np.sqrt(2)  # per-component
    s = res.quality["sigma_px"]
    ok = np.isfinite(e) & (e < 1.0)
    assert ok.sum() > 200
    ratio = np.sqrt(np.mean(e[ok] ** 2)) / np.sqrt(np.mean(s[ok] ** 2))
    assert 0.5 < ratio < 2.0
    # higher sigma means larger errors
    hi = s[ok] > np.median(s[ok])
    assert np.mean(e[ok][hi] ** 2) > np.mean(e[ok][~hi] ** 2)


def test_progress_and_workers(pair_03_m17):
    ref, sec = pair_03_m17
    calls = []
    cfg = TrackConfig(chip_sizes=(32,), workers=2, block_size=4)
    res = track_offsets(ref, sec, config=cfg, progress=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1][0] == calls[-1][1]
    single = track_offsets(ref, sec, config=dataclasses.replace(cfg, workers=1))
    np.testing.assert_allclose(res.dx, single.dx, equal_nan=True)


# ----------------------------------------------------------------------------- bad input

def test_shapes_differ():
    a = np.ones((64, 64), np.float32)
    with pytest.raises(InputError, match="differ in shape"):
        track_offsets(a, np.ones((64, 65), np.float32))


def test_chip_larger_than_image(pair_03_m17):
    ref, sec = pair_03_m17
    with pytest.raises(InputError, match="larger than the image"):
        track_offsets(ref[:100, :100], sec[:100, :100], config=TrackConfig(chip_sizes=(128,)))


def test_search_radius_too_large(pair_03_m17):
    ref, sec = pair_03_m17
    with pytest.raises(InputError, match="search_radius .* too large"):
        track_offsets(ref, sec, config=TrackConfig(chip_sizes=(32,), search_radius=90))


def test_all_nan_image(pair_03_m17):
    ref, _ = pair_03_m17
    with pytest.raises(NoValidDataError, match="no valid"):
        track_offsets(ref, np.full(ref.shape, np.nan, np.float32))


def test_constant_image(pair_03_m17):
    ref, _ = pair_03_m17
    with pytest.raises(ConstantImageError, match="constant"):
        track_offsets(np.full(ref.shape, 5.0, np.float32), ref)


def test_non_2d_input():
    with pytest.raises(InputError, match="2-D"):
        track_offsets(np.ones((2, 64, 64)), np.ones((2, 64, 64)))


def test_complex_input(pair_03_m17):
    ref, sec = pair_03_m17
    with pytest.raises(InputError, match="amplitude"):
        track_offsets(ref.astype(np.complex64), sec)


def test_prior_shape_checked(pair_03_m17):
    ref, sec = pair_03_m17
    with pytest.raises(InputError, match="output grid"):
        track_offsets(ref, sec, prior_dx=np.zeros((3, 3)), prior_dy=np.zeros((3, 3)))


@pytest.mark.parametrize("kw,msg", [({"chip_sizes": (33,)}, "even"), ({"step": 0}, "step"),
                                    ({"preprocess": "x"}, "preprocess"), ({"subpixel": "x"}, "subpixel"),
                                    ({"fusion": "x"}, "fusion"), ({"median_window": 4}, "median_window")])
def test_bad_config(kw, msg):
    with pytest.raises(InputError, match=msg):
        TrackConfig(**kw)
