"""The least-squares refinement of the residual route (`sarflow.tracking.lsq`) against the prior alone.

    python benchmarks/bench_least_squares.py --first-repeat 20 --repeats 3   # seeds bench_network does not use
    python benchmarks/bench_least_squares.py                                 # bench_network's five per scenario
    python benchmarks/bench_least_squares.py --sigmas 16,32,48 --kappas 0,1,1.5,2,3   # the choice

The scenes are those of `benchmarks/bench_network.py` (384 px, seeds from the 'test' range; repeat
k draws its k-th set of seeds). For each: the network's tracker prior
(`sarflow.training.synthetic.prior_config`, search radius 64 as `sarflow predict`), the secondary
resampled by it (`sarflow.scene.coarse.resample`), then the least-squares residual of the
reference and that secondary in a Gaussian window of each ``--sigmas`` (composed with the prior,
`sarflow.tracking.prior.compose_residual`), unfused ("raw") and fused with a zero base residual
(what a network that reproduces its prior gives) at each ``--kappas`` (``kappa`` 0 is the raw
estimate where it exists). RMSE of the vector error against the exact truth, pooled over the
repeats, on every pixel at least 24 px from the edge; for scenes with sharp motion (where the true
offset changes by more than 0.05 px per pixel) a second row gives the RMSE on the band within 12 px
of those points (`bench_network.NEAR_PX`), where window-based estimates spread a step. No network is
run: the rows are what the refinement adds to its prior; `bench_network.py --model <weights exported
with --least-squares>` gives the shipped route's figures.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
# this folder is on the path when a benchmark runs as a script
from bench_network import TEST_SEED, near_sharp, scenes, score

from sarflow.scene.blocks import ArraySource, Block
from sarflow.scene.coarse import coarse_prior_grid, resample
from sarflow.simulation.pair import simulate_pair
from sarflow.tracking.lsq import LeastSquaresConfig, fuse, least_squares_residual
from sarflow.tracking.prior import compose_residual
from sarflow.training.synthetic import prior_config

MARGIN = 24


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=5, help="scenes per scenario; errors are pooled")
    parser.add_argument("--first-repeat", type=int, default=0, help="seed set of the first scene (0: bench_network's)")
    parser.add_argument("--sigmas", default="32", help="windows of the normal equations, px (comma-separated)")
    parser.add_argument("--kappas", default="1.5", help="shrinkage factors of the fusion (comma-separated)")
    parser.add_argument("--power-sigma", type=float, default=LeastSquaresConfig.power_sigma)
    args = parser.parse_args()
    sigmas = [float(v) for v in args.sigmas.split(",")]
    kappas = [float(v) for v in args.kappas.split(",")]
    columns = ["prior"] + [f"raw s{s:g}" for s in sigmas] + [f"s{s:g} k{k:g}" for s in sigmas for k in kappas]
    print(f"{args.repeats} scene(s) per scenario of {args.size} px from repeat {args.first_repeat}; power window "
          f"{args.power_sigma:g} px; RMSE px on every pixel {MARGIN} px or more from the edge")
    print(f"{'scene':<28} " + " ".join(f"{c:>11}" for c in columns) + f" {'lsq s/Mpx':>10}")
    block = Block(0, args.size, 0, args.size)
    margin = (slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    for k, (name, *_) in enumerate(scenes(args.size)):
        pooled = {c: [] for c in columns}
        seconds = 0.0
        for repeat in range(args.first_repeat, args.first_repeat + args.repeats):
            _, field, imaging, texture = scenes(args.size, repeat)[k]
            pair = simulate_pair(field, shape=(args.size, args.size), imaging=imaging, texture=texture,
                                 seed=TEST_SEED + k + 1000 * repeat)
            prior = coarse_prior_grid(ArraySource(pair.reference), ArraySource(pair.secondary), config=prior_config(64))
            pdx, pdy = prior.window(block)
            warped = resample(ArraySource(pair.secondary), pdx, pdy, block)
            zero = np.zeros_like(pdx)
            out = {"prior": (pdx, pdy)}
            for s in sigmas:
                config = replace(LeastSquaresConfig(), sigma=s, power_sigma=args.power_sigma)
                start = time.perf_counter()
                estimate = least_squares_residual(pair.reference, warped, config)
                seconds += time.perf_counter() - start
                out[f"raw s{s:g}"] = compose_residual(np.nan_to_num(estimate.dx), np.nan_to_num(estimate.dy), pdx, pdy)
                for kappa in kappas:
                    rdx, rdy = fuse(zero, zero, estimate, replace(config, kappa=kappa))
                    out[f"s{s:g} k{kappa:g}"] = compose_residual(rdx, rdy, pdx, pdy)
            gy, gx = np.gradient(pair.dx)
            hy, hx = np.gradient(pair.dy)
            near = near_sharp(np.maximum.reduce([np.abs(gx), np.abs(gy), np.abs(hx), np.abs(hy)]) > 0.05)
            for c, (dx, dy) in out.items():
                pooled[c].append((dx[margin], dy[margin], pair.dx[margin], pair.dy[margin], near[margin]))
        cells, near_cells = [], []
        for c in columns:
            parts = pooled[c]
            flat = [np.concatenate([p[i].ravel() for p in parts]) for i in range(5)]
            m = score(*flat[:4], np.zeros(flat[0].shape, bool), flat[4])
            cells.append(f"{m['rmse']:11.4f}")
            near_cells.append(f"{m['rmse_near']:11.4f}")
        rate = seconds / (args.repeats * len(sigmas) * args.size ** 2 / 1e6)
        print(f"{name:<28} " + " ".join(cells) + f" {rate:10.2f}", flush=True)
        if near_cells[0].strip() != "nan":
            print(f"{'  near sharp motion':<28} " + " ".join(near_cells), flush=True)


if __name__ == "__main__":
    main()
