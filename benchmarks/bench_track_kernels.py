"""Kernel speed and bias of sarflow.tracking against a plain OpenCV loop.

Builds a speckle pair (complex half-band Gaussian field, exact Fourier shift),
then times, in the same run:

* the peer: a Python loop of ``cv2.matchTemplate(TM_CCOEFF_NORMED)`` per chip
  with a 3-point parabola sub-pixel fit;
* ``sarflow.tracking.track_offsets`` with one chip (32), step 8, search radius
  20, exhaustive and coarse-to-fine, and with the default three chips;

and prints points/s, the speed ratio, RMSE and the bias curve (mean error
against the true fractional shift) for both.

Usage: ``python benchmarks/bench_track_kernels.py [--size 2048] [--quick]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import cv2
import numpy as np
from scipy import ndimage

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from sarflow.tracking import TrackConfig, track_offsets  # noqa: E402


def speckle_pair(size: int, dy: float, dx: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((size, size)) + 1j * rng.standard_normal((size, size))
    f = np.fft.fftfreq(size)
    keep = (np.abs(f)[:, None] < 0.25) & (np.abs(f)[None, :] < 0.25)
    F = np.fft.fft2(z) * keep
    ref = np.abs(np.fft.ifft2(F)).astype(np.float32)
    sec = np.abs(np.fft.ifft2(ndimage.fourier_shift(F, (dy, dx)))).astype(np.float32)
    return ref, sec


def peer_track(ref, sec, chip=32, step=8, radius=20):
    """Plain per-chip OpenCV loop with parabola sub-pixel (the peer)."""
    h, w = ref.shape
    half = chip // 2
    m = half + radius
    rows = np.arange(step // 2, h, step)
    cols = np.arange(step // 2, w, step)
    dy = np.full((len(rows), len(cols)), np.nan, np.float32)
    dx = np.full_like(dy, np.nan)
    for i, r in enumerate(rows):
        if r < m or r + m > h:
            continue
        for j, c in enumerate(cols):
            if c < m or c + m > w:
                continue
            tpl = ref[r - half:r + half, c - half:c + half]
            win = sec[r - m:r + m, c - m:c + m]
            cc = cv2.matchTemplate(win, tpl, cv2.TM_CCOEFF_NORMED)
            _, _, _, (px, py) = cv2.minMaxLoc(cc)
            sy = sx = 0.0
            if 0 < py < cc.shape[0] - 1:
                a, b, d = cc[py - 1, px], cc[py, px], cc[py + 1, px]
                den = a - 2 * b + d
                sy = 0.5 * (a - d) / den if den < 0 else 0.0
            if 0 < px < cc.shape[1] - 1:
                a, b, d = cc[py, px - 1], cc[py, px], cc[py, px + 1]
                den = a - 2 * b + d
                sx = 0.5 * (a - d) / den if den < 0 else 0.0
            dy[i, j] = py + sy - radius
            dx[i, j] = px + sx - radius
    return dy, dx


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024, help="image side, pixels (default 1024)")
    ap.add_argument("--quick", action="store_true", help="smaller bias curve (fewer fractions, 256 px)")
    ap.add_argument("--workers", type=int, default=0, help="sarflow worker processes (0 = all cores)")
    args = ap.parse_args(argv)

    n = args.size
    dy_true, dx_true = 0.3, -1.7
    ref, sec = speckle_pair(n, dy_true, dx_true)
    cfgs = {
        "sarflow c2f chip32": TrackConfig(chip_sizes=(32,), step=8, search_radius=20, workers=args.workers),
        "sarflow exhaustive chip32": TrackConfig(chip_sizes=(32,), step=8, search_radius=20,
                                                 coarse_to_fine=False, workers=args.workers),
        "sarflow c2f 32/64/128": TrackConfig(step=8, search_radius=20, workers=args.workers),
    }
    rows = []
    (pdy, pdx), tp = timed(lambda: peer_track(ref, sec))
    npts = pdy.size
    rows.append(("cv2.matchTemplate loop + parabola", npts / tp, 1.0, _rmse(pdy, pdx, dy_true, dx_true),
                 np.isfinite(pdy).mean()))
    for name, cfg in cfgs.items():
        res, t = timed(lambda cfg=cfg: track_offsets(ref, sec, config=cfg))
        rows.append((name, res.dy.size / t, (res.dy.size / t) / (npts / tp),
                     _rmse(res.dy, res.dx, dy_true, dx_true), np.isfinite(res.dy).mean()))
    print(f"\nSpeed on a {n} x {n} pair, step 8, search radius 20, shift (0.3, -1.7) px, "
          f"{os.cpu_count()} cores")
    print(f"{'method':38s} {'points/s':>10s} {'x peer':>7s} {'RMSE px':>8s} {'valid':>6s}")
    for name, pps, ratio, rmse, cov in rows:
        print(f"{name:38s} {pps:10.0f} {ratio:7.2f} {rmse:8.4f} {cov:6.2f}")

    # bias curve: true fractional shift along both axes
    size = 256 if args.quick else 384
    fracs = np.linspace(0, 1, 6 if args.quick else 11)
    print(f"\nBias curve (mean error, px) on {size} x {size} speckle, shift (f, f), chip 32")
    print(f"{'fraction':>8s} {'peer dy':>8s} {'peer dx':>8s} {'sarflow dy':>11s} {'sarflow dx':>11s}")
    worst = [0.0, 0.0]
    cfg = TrackConfig(chip_sizes=(32,), step=8, search_radius=4, workers=1)
    for f in fracs:
        r, s = speckle_pair(size, f, f, seed=3)
        py, px = peer_track(r, s, radius=4)
        res = track_offsets(r, s, config=cfg)
        b = [np.nanmean(py) - f, np.nanmean(px) - f, np.nanmean(res.dy) - f, np.nanmean(res.dx) - f]
        worst = [max(worst[0], abs(b[0]), abs(b[1])), max(worst[1], abs(b[2]), abs(b[3]))]
        print(f"{f:8.2f} {b[0]:+8.4f} {b[1]:+8.4f} {b[2]:+11.4f} {b[3]:+11.4f}")
    print(f"max |bias|: peer {worst[0]:.4f} px, sarflow {worst[1]:.4f} px")


def _rmse(dy, dx, ty, tx):
    e2 = (dy - ty) ** 2 + (dx - tx) ** 2
    return float(np.sqrt(np.nanmean(e2)))


if __name__ == "__main__":
    main()
