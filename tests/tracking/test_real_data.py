"""sarflow.tracking on the real pairs of ``../shared/data`` (skipped where the data are absent).

Bounds are the measured figures with a margin; see ``../shared/data/README.md`` for the data.
"""

from __future__ import annotations

import numpy as np
import pytest

from sarflow.io import read_raster
from sarflow.tracking import TrackConfig, track_offsets

pytestmark = pytest.mark.shared_data


def _s1_amplitude(folder, date):
    """Amplitude of one uncompressed zarr v2 chunk pair (big-endian float32, 84 x 338)."""
    i = np.fromfile(folder / f"i_VV_{date}" / "0.0", ">f4").reshape(84, 338)
    q = np.fromfile(folder / f"q_VV_{date}" / "0.0", ">f4").reshape(84, 338)
    return np.hypot(i, q).astype(np.float32)


def test_envisat_slc_warp_recovered(envisat_pair):
    # critically sampled SLC amplitude: the low-pass pre-filter removes the aliased band that locks
    # estimates towards whole pixels (measured RMSE 0.121 px without it, 0.080 px with it)
    ref, sec, true_dx, true_dy = envisat_pair
    res = track_offsets(ref, sec, config=TrackConfig(step=8, search_radius=6, preprocess="lowpass"))
    ix = np.ix_(res.rows, res.cols)
    err = np.hypot(res.dx - true_dx[ix], res.dy - true_dy[ix])
    assert np.isfinite(err).mean() > 0.85
    assert np.sqrt(np.nanmean(err**2)) < 0.1


def test_sentinel1_pair_shows_no_motion(shared_data):
    d = shared_data / "amsterdam_s1_pair"
    ref = _s1_amplitude(d / "20230319-coreg.znap", "19Mar2023")
    sec = _s1_amplitude(d / "20230331-coreg.znap", "31Mar2023")
    res = track_offsets(ref, sec, config=TrackConfig(step=8, search_radius=4, chip_sizes=(32, 64)))
    size = np.hypot(res.dx, res.dy)
    assert np.isfinite(size).mean() > 0.7
    assert np.nanmedian(size) < 0.08  # measured 0.046 px (benchmarks/bench_real_data.py)


def test_yahtse_glacier_matches_reference(shared_data):
    import rasterio

    d = shared_data / "yahtse_landsat8"
    ref = read_raster(d / "IMAGES" / "LC80630182016200LGN00_B8_yahtse.TIF")
    sec = read_raster(d / "IMAGES" / "LC80630182016216LGN00_B8_yahtse.TIF")
    with rasterio.open(d / "reference_offsets_px.tif") as f:
        ref_dx, ref_dy = f.read(1), f.read(2)
        cells = f.transform
    with rasterio.open(d / "masks_grid16.tif") as f:
        masks = {name: f.read(i + 1).astype(bool) for i, name in enumerate(f.descriptions)}
    # step 16 puts grid point (i, j) at pixel (8 + 16 i, 8 + 16 j), within half a pixel of cell (i, j)'s centre
    # default chips 32/64/128: the 128 px chips straddle the shear margins of the tongue, which the
    # finer chips' fields reveal (measured: glacier 0.176 median, 1.6 % > 2 px; tongue 0.13, 5.7 %)
    res = track_offsets(ref.data, sec.data, config=TrackConfig(step=16, search_radius=24))
    col, row = ~ref.transform @ (cells @ (0.5, 0.5))
    assert abs(res.col0 + 0.5 - col) <= 0.5 and abs(res.row0 + 0.5 - row) <= 0.5
    assert res.dx.shape == ref_dx.shape
    stable = masks["stable"] & np.isfinite(res.dx)
    assert np.median(np.hypot(res.dx, res.dy)[stable]) < 0.15  # measured 0.143
    diff = np.hypot(res.dx - ref_dx, res.dy - ref_dy)
    # plain OpenCV 32 px matcher (README): glacier 0.22 median, 4.0 % > 2 px; tongue 0.23, 11 %
    for name, median, share in (("glacier", 0.22, 0.04), ("fast", 0.23, 0.11)):
        ok = masks[name] & np.isfinite(diff)
        assert np.median(diff[ok]) <= median
        assert np.mean(diff[ok] > 2.0) <= share
