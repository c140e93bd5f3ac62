"""Large motion: a fast glacier of 30-65 px through `sarflow predict` (tracker prior + network) and `sarflow track`.

    python benchmarks/bench_large_motion.py                       # 1024 x 1024, 4 km wide glacier, about 3 min
    python benchmarks/bench_large_motion.py --width-m 1200 --size 512   # a narrow glacier: extreme shear
    python benchmarks/bench_large_motion.py --model ccressiamnet-fast   # another network

A valley glacier (`sarflow simulate glacier`, 10 m pixels, 30 m/day at the reference point over 12
days, speeding up downstream) is simulated with its exact truth; the shipped network (`sarflow
predict` with ``--model``, its tracker prior with ``--search-radius``) and the multi-kernel tracker (`sarflow
track`, default chips 32, 64, 128, step 8, the same radius) are scored against the truth. Errors
are split by the true displacement (< 5 px: still ground and slow ice; >= 5 px: fast ice) and by
whether the tracker found an estimate at the nearest grid point ("tracked") or not ("gap": the
chips decorrelate where the ice shears strongly). For each group: pixels, RMSE, median, share of
errors over 1 px, median sigma and share of errors within one sigma (the network's sigma includes
the spread of a gap-filled prior, `sarflow.scene.coarse.gap_spread`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from sarflow.cli import main as sarflow


def _run(*args: str) -> float:
    start = time.perf_counter()
    status = sarflow(list(args))
    if status:
        raise SystemExit(f"sarflow {' '.join(args)} failed ({status})")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--width-m", type=float, default=4000.0)
    parser.add_argument("--shear-margin-m", type=float, default=400.0)
    parser.add_argument("--speed-m-per-day", type=float, default=30.0)
    parser.add_argument("--search-radius", type=int, default=80)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", default="ccressiamnet", help="shipped weights name or a .pt path, for `sarflow predict`")
    parser.add_argument("--out", type=Path, default=None, help="keep the files here (default: a temporary folder)")
    args = parser.parse_args()

    from sarflow.io import read_offsets

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.out or Path(tmp)
        scene = folder / "glacier"
        _run("simulate", "glacier", "-o", str(scene), "--size", str(args.size), str(args.size), "--seed",
             str(args.seed), "--width-m", str(args.width_m), "--speed-m-per-day", str(args.speed_m_per_day),
             "--duration-days", "12", "--shear-margin-m", str(args.shear_margin_m), "--meander-amplitude-m", "600",
             "--meander-wavelength-m", "12000", "--no-quicklook", "--overwrite")
        ref, sec = str(scene / "reference.tif"), str(scene / "secondary.tif")
        t_net = _run("predict", ref, sec, "-o", str(folder / "net.tif"), "--search-radius", str(args.search_radius),
                     "--model", args.model, "--quiet", "--overwrite")
        t_trk = _run("track", ref, sec, "-o", str(folder / "trk.tif"), "--search-radius", str(args.search_radius),
                     "--quiet", "--overwrite")
        truth = read_offsets(scene / "truth.tif")
        net = read_offsets(folder / "net.tif")
        trk = read_offsets(folder / "trk.tif")

    magnitude = np.hypot(truth.dx, truth.dy)
    print(f"glacier {args.size} x {args.size} px, {args.width_m:.0f} m wide, margins {args.shear_margin_m:.0f} m, "
          f"largest displacement {np.nanmax(magnitude):.1f} px; predict {t_net:.0f} s, track {t_trk:.0f} s")
    # The tracker's grid: point (i, j) at pixel (row0 + i step, col0 + j step); each pixel's nearest point.
    step = int(round(trk.transform.a / truth.transform.a))
    row0 = int(round((trk.transform.f - truth.transform.f) / truth.transform.e + 0.5 * (step - 1)))
    col0 = int(round((trk.transform.c - truth.transform.c) / truth.transform.a + 0.5 * (step - 1)))
    rows = np.clip(np.rint((np.arange(args.size) - row0) / step).astype(int), 0, trk.dx.shape[0] - 1)
    cols = np.clip(np.rint((np.arange(args.size) - col0) / step).astype(int), 0, trk.dx.shape[1] - 1)
    tracked = np.isfinite(trk.dx)[np.ix_(rows, cols)]

    net_err = np.hypot(net.dx - truth.dx, net.dy - truth.dy)
    net_sigma = np.hypot(net.quality["sigma_dx"], net.quality["sigma_dy"])
    # The tracker at its grid points (per-pixel truth read there).
    gr = row0 + step * np.arange(trk.dx.shape[0])
    gc = col0 + step * np.arange(trk.dx.shape[1])
    inside = (gr[:, None] >= 0) & (gr[:, None] < args.size) & (gc[None, :] >= 0) & (gc[None, :] < args.size)
    tr = np.clip(gr, 0, args.size - 1)[:, None]
    tc = np.clip(gc, 0, args.size - 1)[None, :]
    trk_err = np.hypot(trk.dx - truth.dx[tr, tc], trk.dy - truth.dy[tr, tc])
    trk_sigma = np.sqrt(2) * trk.quality["sigma_px"]
    trk_mag = magnitude[tr, tc]

    print(f"\n{'method':<9} {'|truth|':>8} {'tracker':>8} {'points':>8} {'coverage':>8} {'RMSE':>7} {'median':>7} "
          f"{'>1 px':>6} {'sigma':>6} {'in 1 sigma':>10}")
    for label, lo, hi in (("< 5 px", 0, 5), (">= 5 px", 5, np.inf)):
        for support, mask in (("tracked", tracked), ("gap", ~tracked)):
            sel = (magnitude >= lo) & (magnitude < hi) & mask
            ok = sel & np.isfinite(net_err)
            e, s = net_err[ok], net_sigma[ok]
            if e.size:
                print(f"{'network':<9} {label:>8} {support:>8} {sel.sum():8d} {ok.sum() / max(sel.sum(), 1):8.1%} "
                      f"{np.sqrt(np.mean(e ** 2)):7.3f} {np.median(e):7.3f} {np.mean(e > 1):6.1%} {np.median(s):6.3f} "
                      f"{np.mean(e <= s):10.1%}")
        sel = inside & (trk_mag >= lo) & (trk_mag < hi)
        ok = sel & np.isfinite(trk_err)
        e, s = trk_err[ok], trk_sigma[ok]
        print(f"{'tracker':<9} {label:>8} {'(grid)':>8} {sel.sum():8d} {ok.sum() / max(sel.sum(), 1):8.1%} "
              f"{np.sqrt(np.mean(e ** 2)):7.3f} {np.median(e):7.3f} {np.mean(e > 1):6.1%} {np.median(s):6.3f} "
              f"{np.mean(e <= s):10.1%}")


if __name__ == "__main__":
    main()
