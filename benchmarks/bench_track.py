"""Offset tracking: sarflow against the matchers a user would otherwise pick, same scenes, same grid.

    python benchmarks/bench_track.py             # accuracy on 7 simulated scenes + speed on 2048 x 2048
    python benchmarks/bench_track.py --quick     # smaller scenes, no 2048 x 2048 speed run
    python benchmarks/bench_track.py --speed-only

Peers, run in this script on the same images and the same estimate grid:
* ``opencv-NN``: a Python loop of OpenCV ``matchTemplate`` (TM_CCOEFF_NORMED) per chip of NN px with a
  parabola sub-pixel peak, the matcher at the core of autoRIFT;
* ``skimage-NN``: scikit-image ``phase_cross_correlation`` on NN px chips, upsampled x20.

Accuracy table: RMSE of the offset vector error over the points that have an estimate (outliers
included), mean error of dx and dy, 95th percentile of the vector error, coverage (share of grid points
with an estimate), points per second, and for sarflow the share of offset components whose error is
within their 1-sigma estimate ``sigma_px`` (68 % for an honest error estimate). Speed table: the whole ``sarflow track`` command (start-up,
reading, writing included) against the OpenCV loop alone, at step 8, chip 32, search radius 20.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from sarflow.io import read_offsets, write_geotiff
from sarflow.simulation.fields import GeophysicalField, SmoothField, UniformShift
from sarflow.simulation.geometry import RadarGeometry
from sarflow.simulation.models import MogiSource, OkadaFault, ValleyGlacier
from sarflow.simulation.pair import ImagingConfig, simulate_pair
from sarflow.tracking import TrackConfig, grid_coordinates, track_offsets

GEOMETRY = RadarGeometry()


def scenes(size: int):
    """(name, field, imaging, texture) of every benchmark scene."""
    base = ImagingConfig(coherence=0.8, snr_db=20.0)
    return [
        ("uniform sub-pixel shift", UniformShift(0.37, -0.21), base, "fractal"),
        ("glacier", GeophysicalField(ValleyGlacier(), GEOMETRY), base, "stripes"),
        ("buried thrust fault", GeophysicalField(OkadaFault(top_depth_m=1000.0, rake_deg=90.0, slip_m=5.0), GEOMETRY),
         base, "fractal"),
        ("surface-rupturing fault", GeophysicalField(OkadaFault(slip_m=8.0), GEOMETRY), base, "fractal"),
        ("Mogi source", GeophysicalField(MogiSource(), GEOMETRY), base, "fractal"),
        ("sub-pixel smooth field", SmoothField(amplitude_px=0.3, correlation_px=size / 6, seed=5), base, "fractal"),
        ("low coherence (0.3, 1 look)", UniformShift(0.42, -0.33), ImagingConfig(coherence=0.3, snr_db=20.0),
         "fractal"),
    ]


# ----------------------------------------------------------------------------------------- peers

def opencv_loop(ref, sec, rows, cols, *, chip: int, radius: int):
    """matchTemplate per chip, parabola peak; NaN where the chip or window leaves the image."""
    h, w = ref.shape
    half = chip // 2
    dx = np.full((rows.size, cols.size), np.nan, np.float32)
    dy = np.full_like(dx, np.nan)
    for i, r in enumerate(rows):
        if r - half - radius < 0 or r + half + radius > h:
            continue
        for j, c in enumerate(cols):
            if c - half - radius < 0 or c + half + radius > w:
                continue
            tpl = ref[r - half : r + half, c - half : c + half]
            win = sec[r - half - radius : r + half + radius, c - half - radius : c + half + radius]
            cc = cv2.matchTemplate(win, tpl, cv2.TM_CCOEFF_NORMED)
            y, x = np.unravel_index(np.argmax(cc), cc.shape)
            fy = fx = 0.0
            if 0 < y < cc.shape[0] - 1:
                den = cc[y - 1, x] - 2 * cc[y, x] + cc[y + 1, x]
                fy = 0.5 * (cc[y - 1, x] - cc[y + 1, x]) / den if den != 0 else 0.0
            if 0 < x < cc.shape[1] - 1:
                den = cc[y, x - 1] - 2 * cc[y, x] + cc[y, x + 1]
                fx = 0.5 * (cc[y, x - 1] - cc[y, x + 1]) / den if den != 0 else 0.0
            dy[i, j] = y + fy - radius
            dx[i, j] = x + fx - radius
    return dx, dy


def skimage_loop(ref, sec, rows, cols, *, chip: int, radius: int):
    from skimage.registration import phase_cross_correlation

    h, w = ref.shape
    half = chip // 2
    dx = np.full((rows.size, cols.size), np.nan, np.float32)
    dy = np.full_like(dx, np.nan)
    for i, r in enumerate(rows):
        if r - half < 0 or r + half > h:
            continue
        for j, c in enumerate(cols):
            if c - half < 0 or c + half > w:
                continue
            shift, _, _ = phase_cross_correlation(ref[r - half : r + half, c - half : c + half],
                                                  sec[r - half : r + half, c - half : c + half],
                                                  upsample_factor=20)
            # The returned shift registers the secondary onto the reference: minus the offset.
            if max(abs(shift[0]), abs(shift[1])) <= radius:
                dy[i, j], dx[i, j] = -shift[0], -shift[1]
    return dx, dy


# --------------------------------------------------------------------------------------- metrics

def metrics(dx, dy, tdx, tdy, mask):
    ok = mask & np.isfinite(dx) & np.isfinite(dy)
    err = np.hypot(dx - tdx, dy - tdy)[ok]
    if err.size == 0:
        return dict(rmse=np.nan, mean_dx=np.nan, mean_dy=np.nan, p95=np.nan, coverage=0.0)
    return dict(rmse=float(np.sqrt(np.mean(err**2))), mean_dx=float(np.mean((dx - tdx)[ok])),
                mean_dy=float(np.mean((dy - tdy)[ok])), p95=float(np.percentile(err, 95)),
                coverage=float(ok.sum() / mask.sum()))


def accuracy(size: int, step: int, radius: int, include_skimage: bool) -> None:
    print(f"Accuracy: {size} x {size} scenes, estimate grid step {step}, search radius {radius} px, "
          "coherence 0.8 unless stated, SNR 20 dB")
    header = (f"{'scene':<28} {'method':<14} {'RMSE':>7} {'mean dx':>8} {'mean dy':>8} {'p95':>7} {'cover':>6} "
              f"{'pts/s':>9} {'in 1 sigma':>10}")
    print(header)
    print("-" * len(header))
    config = TrackConfig(step=step, search_radius=radius)
    for k, (name, field, imaging, texture) in enumerate(scenes(size)):
        pair = simulate_pair(field, shape=(size, size), imaging=imaging, texture=texture, seed=1000 + k)
        rows, cols = grid_coordinates(pair.reference.shape, step)
        tdx, tdy = pair.dx[np.ix_(rows, cols)], pair.dy[np.ix_(rows, cols)]
        # Points every method can serve: a 64 px chip plus the search fits inside the image.
        margin = 32 + radius
        mask = ((rows[:, None] >= margin) & (rows[:, None] <= size - margin)
                & (cols[None, :] >= margin) & (cols[None, :] <= size - margin))
        sigma = {}
        methods = [("sarflow", lambda: _sarflow(pair, config, sigma))]
        for chip in (32, 64):
            methods.append((f"opencv-{chip}", lambda chip=chip: opencv_loop(pair.reference, pair.secondary, rows, cols,
                                                                             chip=chip, radius=radius)))
        if include_skimage:
            for chip in (32, 64):
                methods.append((f"skimage-{chip}", lambda chip=chip: skimage_loop(
                    pair.reference, pair.secondary, rows, cols, chip=chip, radius=radius)))
        for method, run in methods:
            start = time.perf_counter()
            dx, dy = run()
            seconds = time.perf_counter() - start
            m = metrics(dx, dy, tdx, tdy, mask)
            within = ""
            if method == "sarflow":
                ok = mask & np.isfinite(dx)
                s = sigma["sigma_px"][ok]
                within = f"{np.mean(np.concatenate([np.abs(dx - tdx)[ok] <= s, np.abs(dy - tdy)[ok] <= s])):10.1%}"
            print(f"{name:<28} {method:<14} {m['rmse']:7.3f} {m['mean_dx']:8.3f} {m['mean_dy']:8.3f} {m['p95']:7.3f} "
                  f"{m['coverage']:6.1%} {rows.size * cols.size / seconds:9.0f} {within}")
        print()


def _sarflow(pair, config, quality: dict):
    result = track_offsets(pair.reference, pair.secondary, config=config)
    quality.update(result.quality)
    return result.dx, result.dy


def speed(size: int) -> None:
    print(f"Speed: {size} x {size} pair, step 8, chip 32, search radius 20 ({os.cpu_count()} cores)")
    pair = simulate_pair(SmoothField(amplitude_px=2.0, correlation_px=200, seed=3), shape=(size, size),
                         imaging=ImagingConfig(coherence=0.8), seed=7, exact_motion=False)
    with tempfile.TemporaryDirectory() as tmp:
        ref = write_geotiff(Path(tmp) / "ref.tif", {"amplitude": pair.reference})
        sec = write_geotiff(Path(tmp) / "sec.tif", {"amplitude": pair.secondary})
        out = Path(tmp) / "off.tif"
        command = [sys.executable, "-m", "sarflow", "track", str(ref), str(sec), "-o", str(out), "--chip-sizes",
                   "32", "--step", "8", "--search-radius", "20", "--quiet"]
        start = time.perf_counter()
        subprocess.run(command, check=True)
        t_sarflow = time.perf_counter() - start
        product = read_offsets(out)
        rows, cols = grid_coordinates(pair.reference.shape, 8)
        start = time.perf_counter()
        dx_cv, dy_cv = opencv_loop(pair.reference, pair.secondary, rows, cols, chip=32, radius=20)
        t_cv = time.perf_counter() - start
        tdx, tdy = pair.dx[np.ix_(rows, cols)], pair.dy[np.ix_(rows, cols)]
        mask = np.isfinite(dx_cv)
        n = rows.size * cols.size
        m_s = metrics(product.dx, product.dy, tdx, tdy, mask)
        m_c = metrics(dx_cv, dy_cv, tdx, tdy, mask)
        print(f"{'method':<36} {'seconds':>8} {'points/s':>10} {'RMSE':>7} {'cover':>6}")
        print(f"{'sarflow track (whole command)':<36} {t_sarflow:8.2f} {n / t_sarflow:10.0f} {m_s['rmse']:7.3f} "
              f"{m_s['coverage']:6.1%}")
        print(f"{'opencv matchTemplate loop (loop only)':<36} {t_cv:8.2f} {n / t_cv:10.0f} {m_c['rmse']:7.3f} "
              f"{m_c['coverage']:6.1%}")
        print(f"speed ratio sarflow / opencv loop: {t_cv / t_sarflow:.2f}x")

        dense = 512
        command = [sys.executable, "-m", "sarflow", "track", str(ref), str(sec), "-o", str(Path(tmp) / "dense.tif"),
                   "--step", "1", "--search-radius", "20", "--quiet"]
        crop = write_geotiff(Path(tmp) / "ref_crop.tif", {"amplitude": pair.reference[:dense, :dense]})
        crop2 = write_geotiff(Path(tmp) / "sec_crop.tif", {"amplitude": pair.secondary[:dense, :dense]})
        command[4:6] = [str(crop), str(crop2)]
        start = time.perf_counter()
        subprocess.run(command, check=True)
        t_dense = time.perf_counter() - start
        print(f"dense (step 1, chips 32/64/128) on {dense} x {dense}: {t_dense:.1f} s, "
              f"{dense * dense / t_dense:.0f} points/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--no-skimage", action="store_true", help="leave out the (slow) scikit-image peer")
    args = parser.parse_args()
    if not args.speed_only:
        accuracy(256 if args.quick else 512, 8, 6, include_skimage=not args.no_skimage)
    if not args.quick:
        speed(2048)


if __name__ == "__main__":
    main()
