"""Speed of dense network inference (`sarflow predict`) against an OpenCV matchTemplate loop and the machine's limit.

    python benchmarks/bench_predict_speed.py                       # 4096 x 4096 pair (long: measure on a quiet machine)
    python benchmarks/bench_predict_speed.py --size 1024           # a quick check
    python benchmarks/bench_predict_speed.py --tile-sizes 512 1024 --model runs/x/best-export.pt
    python benchmarks/bench_predict_speed.py --write-pair /tmp/p4096   # only write the pair, for `sarflow predict`
    python benchmarks/bench_predict_speed.py --processes 0 --no-least-squares   # without the weights' refinement

On one simulated pair (smooth sub-pixel motion, 2 cores by default):

- the network: `predict_arrays` over the whole pair (the tiles, the blending, the normalisation
  included; reading and writing files are not), the shipped network by default (``--model PATH``
  for other weights, ``--untrained [NETWORK]`` for a default-size untrained network), bfloat16 autocast
  and channels-last (``--precision fp32`` for float32), for each tile size asked. Tiles overlap by
  what the weights were measured to need at export (``tile_overlap``, `sarflow.scene.context`), or
  by the receptive field (capped at half a tile) for weights without that measurement, or by
  ``--overlap``. A network trained on the tracker prior runs its prior first (the shipped one
  does): its time is printed apart, and the network's own time is the total minus it;
- the peer: a Python loop of OpenCV ``matchTemplate`` (TM_CCOEFF_NORMED) per 32 px chip with a
  parabola peak, search radius 16, on a step-8 grid, the matcher at the core of autoRIFT;
- the machine: torch bfloat16 and float32 matmul rates (2048 x 2048, best of several), and what the
  network's multiply-accumulates per pixel (`sarflow.nn.conv_flops_per_pixel`, times the tiles'
  overlap) would allow at the bfloat16 rate.

Besides the network's part of the pipeline (the total minus the prior: the tiles, the resampling
by the prior, the blending, the composition), the network's forward passes alone are timed
(``passes s``, hooks around the network's calls) and set against the same limit: how well the
network itself uses the machine, apart from the NumPy work around it.

Each tile size runs twice by default (``--processes 1 0``): in this process on ``--threads``
threads, and on every core as `sarflow predict` does by default (forked worker processes of one
thread each, `sarflow.scene.processes`, for the prior's blocks and the network's); the prior is
timed apart for each. The forward passes are timed in the single-process run only (the hooks do
not see the workers').

The ratio compares wall times for the whole pair: the network gives an estimate at every pixel
(16.8 M at 4096), the loop one every 8 pixels (262 k).
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch


def opencv_loop(reference, secondary, *, chip: int, radius: int, step: int):
    """matchTemplate per chip on a step grid, parabola peak; returns the number of points matched."""
    h, w = reference.shape
    half = chip // 2
    count = 0
    for r in range(step // 2, h, step):
        if r - half - radius < 0 or r + half + radius > h:
            continue
        for c in range(step // 2, w, step):
            if c - half - radius < 0 or c + half + radius > w:
                continue
            tpl = reference[r - half : r + half, c - half : c + half]
            win = secondary[r - half - radius : r + half + radius, c - half - radius : c + half + radius]
            cc = cv2.matchTemplate(win, tpl, cv2.TM_CCOEFF_NORMED)
            y, x = np.unravel_index(np.argmax(cc), cc.shape)
            if 0 < y < cc.shape[0] - 1 and 0 < x < cc.shape[1] - 1:
                den_y = cc[y - 1, x] - 2 * cc[y, x] + cc[y + 1, x]
                den_x = cc[y, x - 1] - 2 * cc[y, x] + cc[y, x + 1]
                _ = (0.5 * (cc[y - 1, x] - cc[y + 1, x]) / den_y if den_y else 0.0,
                     0.5 * (cc[y, x - 1] - cc[y, x + 1]) / den_x if den_x else 0.0)
            count += 1
    return count


class ForwardTimer:
    """Wall time spent inside the network's forward passes (hooks on the top module; plain functions,
    so that the copy scene inference folds its BatchNorms into shares them and this timer)."""

    def __init__(self, model):
        self.seconds = 0.0
        started = []

        def before(module, args):
            started.append(time.perf_counter())

        def after(module, args, output):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.seconds += time.perf_counter() - started.pop()

        model.register_forward_pre_hook(before)
        model.register_forward_hook(after)


def matmul_gflops(dtype, size: int = 2048, repeats: int = 5) -> float:
    """Best torch.matmul rate for square ``size`` matrices, GFLOP/s (2 n^3 flops per product)."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(dtype)
    b = torch.randn(size, size, generator=generator).to(dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def simulate(size: int, seed: int = 0):
    from sarflow.simulation.fields import SmoothField
    from sarflow.simulation.pair import simulate_pair

    pair = simulate_pair(SmoothField(amplitude_px=1.5, correlation_px=size / 8, seed=seed), shape=(size, size),
                         seed=seed)
    return pair.reference, pair.secondary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096, help="pair side, pixels")
    parser.add_argument("--threads", type=int, default=2, help="torch and OpenCV threads")
    parser.add_argument("--model", default=None, help="weights file or shipped name (default: the shipped network)")
    parser.add_argument("--untrained", nargs="?", const="ccressiamnet", default=None, metavar="NETWORK",
                        help="a default-size untrained network instead (default CC-ResSiamNet; e.g. ccressiamnet-fast)")
    parser.add_argument("--overlap", type=int, default=None, help="tile overlap, pixels (default: see above)")
    parser.add_argument("--write-pair", default=None, metavar="DIR",
                        help="write the pair as DIR/reference.tif and DIR/secondary.tif and stop (to time the "
                             "command line on it, e.g. `sarflow predict` with and without --workers)")
    parser.add_argument("--tile-sizes", type=int, nargs="+", default=[512])
    parser.add_argument("--no-least-squares", dest="least_squares", action="store_false",
                        help="leave out the least-squares refinement that the weights carry (sarflow.tracking.lsq)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--search-radius", type=int, default=16,
                        help="of the OpenCV loop, and of the network's tracker prior")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 0],
                        help="worker processes of the runs (`predict_arrays(processes=...)`; 0: every core, as "
                             "`sarflow predict` by default; 1: this process, on --threads threads)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    from sarflow.nn import build_model, conv_flops_per_pixel
    from sarflow.scene.inference import InferenceConfig, lattice_for
    from sarflow.scene.predict import predict_arrays

    if args.untrained:
        torch.manual_seed(0)
        model = build_model(args.untrained).eval()
    else:
        from sarflow.models import DEFAULT_MODEL, load_model

        model = load_model(args.model or DEFAULT_MODEL)
    prior = "always" if getattr(model, "prior_input", False) else "none"
    macs = conv_flops_per_pixel(model, 256, 256)
    print(f"pair {args.size} x {args.size}, {args.threads} threads; network {model.to_config()['name']}: "
          f"{macs:,.0f} MAC per pixel per pass, receptive field {model.receptive_field} px")

    bf16 = matmul_gflops(torch.bfloat16)
    fp32 = matmul_gflops(torch.float32)
    print(f"torch.matmul 2048 x 2048: bfloat16 {bf16:.1f} GFLOP/s, float32 {fp32:.1f} GFLOP/s")

    start = time.perf_counter()
    reference, secondary = simulate(args.size)
    print(f"simulated the pair in {time.perf_counter() - start:.1f} s")
    if args.write_pair:
        from pathlib import Path

        from sarflow.io import write_geotiff

        folder = Path(args.write_pair)
        folder.mkdir(parents=True, exist_ok=True)
        for name, image in (("reference", reference), ("secondary", secondary)):
            write_geotiff(folder / f"{name}.tif", {"amplitude": image})
        print(f"wrote {folder / 'reference.tif'} and {folder / 'secondary.tif'}")
        return

    reference32 = np.ascontiguousarray(reference, dtype=np.float32)
    secondary32 = np.ascontiguousarray(secondary, dtype=np.float32)
    start = time.perf_counter()
    points = opencv_loop(reference32, secondary32, chip=32, radius=args.search_radius, step=8)
    t_cv = time.perf_counter() - start
    print(f"OpenCV matchTemplate loop (chip 32, radius {args.search_radius}, step 8): {points:,} points in "
          f"{t_cv:.1f} s ({points / t_cv:,.0f} points/s)")

    from sarflow.scene.processes import resolve_processes

    t_prior = {}
    for processes in args.processes:
        workers = resolve_processes(processes)
        t_prior[workers] = 0.0
        if prior == "always":
            from sarflow.scene.blocks import ArraySource
            from sarflow.scene.coarse import coarse_prior_grid, coarse_track_config
            from sarflow.scene.predict import prior_route

            _, coarse = prior_route(model, prior, args.search_radius)  # the loop's search radius
            start = time.perf_counter()
            coarse_prior_grid(ArraySource(reference), ArraySource(secondary), config=coarse, processes=workers)
            t_prior[workers] = time.perf_counter() - start
            chips = ", ".join(str(c) for c in coarse_track_config(reference.shape, coarse).chip_sizes)
            blocks = (-(-args.size // coarse.block_size)) ** 2  # its blocks: never more workers than these
            how = f"{min(workers, blocks)} processes" if min(workers, blocks) > 1 else \
                f"1 process, {args.threads} threads"
            print(f"the network's tracker prior (step {coarse.step}, chips {chips}, radius {coarse.search_radius}), "
                  f"{how}: {t_prior[workers]:.1f} s ({t_prior[workers] / t_cv:.2f} x the OpenCV loop)")

    pixels = args.size * args.size
    passes_timer = ForwardTimer(model)
    print()
    print(f"{'tile':>5} {'procs':>5} {'overlap':>7} {'passes/px':>9} {'total s':>8} {'net s':>8} {'net/OpenCV':>10} "
          f"{'total/OpenCV':>12} {'Mpx/s':>7} {'GFLOP/s':>8} {'bf16 limit Mpx/s':>16} {'of limit':>8} "
          f"{'passes s':>8} {'passes of limit':>15}")
    for tile, workers in [(t, resolve_processes(p)) for t in args.tile_sizes for p in args.processes]:
        config = InferenceConfig(tile_size=tile, overlap=args.overlap, batch_size=args.batch_size,
                                 least_squares=args.least_squares,
                                 precision=args.precision, device="cpu")
        lattice = lattice_for(model, (args.size, args.size), config)
        tile_pixels = lattice.count * lattice.tile[0] * lattice.tile[1]
        passes = tile_pixels / pixels  # each output pixel is computed this many times (overlaps)
        passes_timer.seconds = 0.0
        start = time.perf_counter()
        out = predict_arrays(model, reference, secondary, config=config, prior=prior,
                             search_radius=args.search_radius, processes=workers)
        t_total = time.perf_counter() - start
        t_passes = passes_timer.seconds  # the hooks see the passes of this process only
        t_net = t_total - t_prior[workers]
        assert np.isfinite(out["dx"]).mean() > 0.99
        flops = 2 * macs * tile_pixels
        limit = bf16 * 1e9 / (2 * macs * passes) / 1e6
        rate = pixels / t_net / 1e6
        passes_text = f"{t_passes:>8.1f} {pixels / t_passes / 1e6 / limit:>15.1%}" if workers == 1 else \
            f"{'-':>8} {'-':>15}"
        print(f"{tile:>5} {workers:>5} {lattice.ramp[0]:>7} {passes:>9.2f} {t_total:>8.1f} {t_net:>8.1f} {t_net / t_cv:>10.2f} "
              f"{t_total / t_cv:>12.2f} {rate:>7.3f} "
              f"{flops / t_net / 1e9:>8.1f} {limit:>16.3f} {rate / limit:>8.1%} {passes_text}")


if __name__ == "__main__":
    main()
