"""Time the parts of the residual route apart from the network: tracker prior, resampling, composition.

    python benchmarks/bench_prior_parts.py                # 2048 x 2048, grid steps 8 and 16
    python benchmarks/bench_prior_parts.py --size 1024 --steps 8 16 32
    python benchmarks/bench_prior_parts.py --strip-sizes 128 384 768 1536   # resampling on 1 and 2 threads

A simulated pair (a smooth field of up to 2 px, correlation 300 px) is made once; for each grid
step the network's tracker prior (`sarflow.training.synthetic.prior_config` with that step and a
search radius of 16 px) is built over the whole scene, the secondary is resampled by it
(`sarflow.scene.coarse.resample` with the shipped windowed sinc, and with Keys cubic for
comparison) and a zero residual is composed with it
(`PriorGrid.compose`). Prints the seconds of each part, one run, 2 threads or as the machine gives
(the resampling and the composition also on one thread: `sarflow.scene.coarse.STRIP_THREADS`),
and the prior's RMSE against the truth 64 px or more from the edges. These parts bound how fast a
dense map on this route can be before any network runs (`benchmarks/bench_predict_speed.py` times
the whole).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from sarflow.scene import coarse
from sarflow.scene.blocks import ArraySource, Block
from sarflow.scene.coarse import coarse_prior_grid, resample
from sarflow.simulation.fields import SmoothField
from sarflow.simulation.pair import simulate_pair
from sarflow.training.synthetic import prior_config


def strip_threads(sizes) -> None:
    """Resampling a window of each side by a constant 0.3 px prior, one thread against two."""
    rng = np.random.default_rng(0)
    saved = coarse.STRIP_THREADS, coarse.STRIP_MIN_PIXELS
    coarse.STRIP_MIN_PIXELS = 0
    print(f"{'side':>5} {'1 thread ms':>12} {'2 threads ms':>13} {'ratio':>6}")
    try:
        for n in sizes:
            source = ArraySource(rng.exponential(size=(n, n)).astype(np.float32))
            prior = np.full((n, n), 0.3, np.float32)
            repeats = max(3, 2_000_000 // (n * n))
            best = {}
            for threads in (1, 2, 1, 2):
                coarse.STRIP_THREADS = threads
                start = time.perf_counter()
                for _ in range(repeats):
                    resample(source, prior, prior, Block(0, n, 0, n))
                best[threads] = min(best.get(threads, np.inf), (time.perf_counter() - start) / repeats)
            print(f"{n:>5} {best[1] * 1e3:12.2f} {best[2] * 1e3:13.2f} {best[1] / best[2]:6.2f}")
    finally:
        coarse.STRIP_THREADS, coarse.STRIP_MIN_PIXELS = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--steps", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--strip-sizes", type=int, nargs="+", default=None,
                        help="only time the resampling of windows of these sides on one and on two threads "
                             "(best of several; what `sarflow.scene.coarse.STRIP_MIN_PIXELS` rests on)")
    args = parser.parse_args()
    if args.strip_sizes:
        strip_threads(args.strip_sizes)
        return

    n = args.size
    pair = simulate_pair(SmoothField(amplitude_px=2.0, correlation_px=300, seed=1), shape=(n, n), seed=2)
    reference, secondary = ArraySource(pair.reference), ArraySource(pair.secondary)
    whole = Block(0, n, 0, n)
    zero = np.zeros((n, n), dtype=np.float32)
    inner = (slice(64, n - 64), slice(64, n - 64))
    print(f"pair {n} x {n} ({n * n / 1e6:.1f} Mpx), smooth field up to 2 px; one run per part")
    print(f"{'step':>4} {'prior s':>8} {'resample s':>10} {'(keys) s':>9} {'compose s':>9} {'prior RMSE px':>13} "
          f"{'1 thread: resample s':>20} {'compose s':>9}")
    for step in args.steps:
        start = time.perf_counter()
        grid = coarse_prior_grid(reference, secondary, config=replace(prior_config(16), step=step))
        t_prior = time.perf_counter() - start
        pdx, pdy = grid.window(whole)
        t_warp = {}
        for kernel in ("sinc", "keys"):
            start = time.perf_counter()
            resample(secondary, pdx, pdy, whole, kernel=kernel)
            t_warp[kernel] = time.perf_counter() - start
        start = time.perf_counter()
        grid.compose(whole, zero, zero)
        t_compose = time.perf_counter() - start
        rmse = float(np.sqrt(np.mean((pdx - pair.dx)[inner] ** 2 + (pdy - pair.dy)[inner] ** 2)))
        threads = coarse.STRIP_THREADS
        coarse.STRIP_THREADS = 1  # the same two parts on one thread
        start = time.perf_counter()
        resample(secondary, pdx, pdy, whole)
        t_warp1 = time.perf_counter() - start
        start = time.perf_counter()
        grid.compose(whole, zero, zero)
        t_compose1 = time.perf_counter() - start
        coarse.STRIP_THREADS = threads
        print(f"{step:>4} {t_prior:8.2f} {t_warp['sinc']:10.2f} {t_warp['keys']:9.2f} {t_compose:9.2f} {rmse:13.4f} "
              f"{t_warp1:20.2f} {t_compose1:9.2f}")


if __name__ == "__main__":
    main()
