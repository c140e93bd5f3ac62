"""The residual route's tracker prior with and without its adaptive smoothing, on the held-out scenes.

    python benchmarks/bench_prior_smoothing.py                           # bench_network's five scenes per scenario
    python benchmarks/bench_prior_smoothing.py --first-repeat 20 --repeats 3   # seeds the five do not use
    python benchmarks/bench_prior_smoothing.py --first-repeat 20 --repeats 3 --beta 3   # another sub-pixel window
    python benchmarks/bench_prior_smoothing.py --first-repeat 20 --repeats 3 --windows 1,2,3,4,5   # larger windows
    python benchmarks/bench_prior_smoothing.py --prior-step 16          # a coarser prior grid (a cheaper prior)

The scenes are those of `benchmarks/bench_network.py` (384 px, seeds from the 'test' range; repeat
k draws its k-th set of seeds). For each, the multi-kernel tracker's grid (step 8, radius 8) and the
network's prior (`sarflow.training.synthetic.prior_config`: step 8, chips 32, 64, 128; search
radius 64 px, `sarflow predict`'s default, as in bench_network) built with
``smoothing="none"`` (gap-filled and 3 x 3 median-filtered; ``--prior-step`` for another grid step of
the prior, the tracker's staying at 8) and ``smoothing="adaptive"``
(`sarflow.tracking.gridops.adaptive_smooth` first) are scored against the exact truth on the
tracker's own points: RMSE of the vector error, pooled over the repeats, and on "sharp" points
(the true offset changes by more than 0.05 px per pixel).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
from bench_network import TEST_SEED, scenes, score  # this folder is on the path when a benchmark runs as a script
from bench_subpixel_bias import set_sinc

from sarflow.scene.blocks import ArraySource, Block
from sarflow.scene.coarse import coarse_prior_grid
from sarflow.simulation.pair import simulate_pair
from sarflow.tracking import TrackConfig, gridops, grid_coordinates, subpixel, track_offsets
from sarflow.training.synthetic import prior_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=5, help="scenes per scenario; errors are pooled")
    parser.add_argument("--first-repeat", type=int, default=0, help="seed set of the first scene (0: bench_network's)")
    parser.add_argument("--beta", type=float, default=subpixel.KAISER_BETA, help="the tracker's KAISER_BETA")
    parser.add_argument("--span", type=float, default=subpixel.BALANCE_SPAN, help="the tracker's BALANCE_SPAN")
    parser.add_argument("--windows", default=",".join(map(str, gridops.ICI_WINDOWS)),
                        help="the adaptive smoothing's window half-widths, grid points (ICI_WINDOWS)")
    parser.add_argument("--gamma", type=float, default=gridops.ICI_GAMMA, help="its ICI_GAMMA")
    parser.add_argument("--prior-step", type=int, default=None, help="grid step of the prior (default: prior_config's)")
    args = parser.parse_args()
    set_sinc(args.span, args.beta)
    gridops.ICI_WINDOWS = tuple(int(v) for v in args.windows.split(","))
    gridops.ICI_GAMMA = args.gamma

    methods = ("tracker", "none", "adaptive")
    step = {} if args.prior_step is None else {"step": args.prior_step, "block_size": 1024 // args.prior_step * args.prior_step}
    print(f"{args.repeats} scene(s) per scenario of {args.size} px from repeat {args.first_repeat}; sub-pixel window "
          f"beta {args.beta:g}, span {args.span:g}; prior grid step {step.get('step', prior_config().step)}; "
          f"smoothing windows {gridops.ICI_WINDOWS}, gamma {args.gamma:g}; "
          "RMSE px on the tracker's points (sharp points in brackets)")
    print(f"{'scene':<28} " + " ".join(f"{m:>16}" for m in ("tracker", "prior, median only", "prior, adaptive")))
    for k, (name, *_) in enumerate(scenes(args.size)):
        pooled = {m: [] for m in methods}
        for repeat in range(args.first_repeat, args.first_repeat + args.repeats):
            _, field, imaging, texture = scenes(args.size, repeat)[k]
            pair = simulate_pair(field, shape=(args.size, args.size), imaging=imaging, texture=texture,
                                 seed=TEST_SEED + k + 1000 * repeat)
            rows, cols = grid_coordinates(pair.reference.shape, 8)
            grid = np.ix_(rows, cols)
            gy, gx = np.gradient(pair.dx)
            hy, hx = np.gradient(pair.dy)
            sharp = (np.maximum.reduce([np.abs(gx), np.abs(gy), np.abs(hx), np.abs(hy)]) > 0.05)[grid]
            tracked = track_offsets(pair.reference, pair.secondary, config=TrackConfig(step=8, search_radius=8))
            on_points = np.isfinite(tracked.dx) & np.isfinite(tracked.dy)
            estimates = {"tracker": (tracked.dx, tracked.dy)}
            for smoothing in ("none", "adaptive"):
                prior = coarse_prior_grid(ArraySource(pair.reference), ArraySource(pair.secondary),
                                          config=replace(prior_config(64), smoothing=smoothing, **step))
                pdx, pdy = prior.window(Block(0, args.size, 0, args.size))
                estimates[smoothing] = (pdx[grid], pdy[grid])
            for m, (dx, dy) in estimates.items():
                pooled[m].append((np.where(on_points, dx, np.nan), np.where(on_points, dy, np.nan),
                                  pair.dx[grid], pair.dy[grid], sharp))
        cells = []
        for m in methods:
            s = score(*(np.concatenate([part[i].ravel() for part in pooled[m]]) for i in range(5)))
            sharp_text = f" ({s['rmse_sharp']:.3f})" if s["rmse_sharp"] == s["rmse_sharp"] else ""
            cells.append(f"{s['rmse']:.3f}{sharp_text}")
        print(f"{name:<28} " + " ".join(f"{c:>16}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
