"""Simulator benchmark: training-pair throughput, and what sampling does to sub-pixel matching.

    python benchmarks/bench_simulate.py                      # full run (~2 min on 2 cores)
    python benchmarks/bench_simulate.py --quick              # smaller
    python benchmarks/bench_simulate.py --training --throughput-only   # throughput tables only
    nice -n 19 python benchmarks/bench_simulate.py --throughput-only --no-tuning

Table 1: 256 x 256 pairs per minute for mixed scenarios with random physical parameters, on one
process and on ``--workers`` processes (one per core), with the CPU time each pair takes (user +
system time of the simulating processes, all their threads): on a shared machine the CPU time is the
steadier figure, and CPU time per pair that grows with the number of processes shows contention.
Each process is set up with `sarflow.simulation.workers.configure_worker` (one OpenCV thread, heap
kept between pairs); ``--no-tuning`` only sets one OpenCV thread, as a data loader worker that
does nothing else. Warm-up (imports, first pairs, starting the processes) is not timed.
Table 1b (``--training``): the same for the training pairs, `sarflow.training.synthetic.make_sample`
with ``SyntheticRecipe(patch_size=256)``.
Table 2: the bias of two plain matchers (OpenCV normalized cross-correlation with a parabola peak,
scikit-image phase correlation upsampled x20) against the true sub-pixel shift, for critically
sampled amplitude (resolution_px = 1) and well-sampled amplitude (resolution_px = 2), each built on
the output grid (oversample 1) or a 2x grid (oversample 2). Critically sampled amplitude pulls every
matcher toward whole pixels; the 2x build grid keeps the simulated motion itself exact (a coherent
pair's complex cross-correlation recovers the shift), which a critically sampled field moved on its
own grid does not.

The script also runs against an older tree (``PYTHONPATH=old/src``) to compare versions in one run;
where `sarflow.simulation.workers` does not exist yet, processes only get one OpenCV thread.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

import cv2
import numpy as np

from sarflow.simulation.fields import GeophysicalField, SmoothField, UniformShift
from sarflow.simulation.geometry import RadarGeometry
from sarflow.simulation.models import MODELS
from sarflow.simulation.pair import ImagingConfig, simulate_pair
from sarflow.simulation.textures import TEXTURES


def random_case(rng: np.random.Generator):
    """A random training-like case: scenario, parameters, imaging."""
    kind = rng.choice(["shift", "smooth", "glacier", "okada", "mogi", "landslide"])
    geometry = RadarGeometry(incidence_deg=float(rng.uniform(30, 45)), heading_deg=float(rng.uniform(-20, 20)))
    if kind == "shift":
        field = UniformShift(float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3)))
    elif kind == "smooth":
        field = SmoothField(amplitude_px=float(rng.uniform(0.05, 3)), correlation_px=float(rng.uniform(15, 80)),
                            seed=int(rng.integers(1 << 30)))
    else:
        field = GeophysicalField(MODELS[kind](), geometry)
    imaging = ImagingConfig(coherence=float(rng.uniform(0.3, 0.95)), looks=int(rng.integers(1, 3)),
                            snr_db=float(rng.uniform(5, 25)))
    return field, imaging, str(rng.choice(TEXTURES))


def setup_process(tuned: bool = True) -> str:
    """One OpenCV thread per process (cores not oversubscribed); with ``tuned`` the allocator too."""
    cv2.setNumThreads(1)
    if not tuned:
        return "one OpenCV thread"
    try:
        from sarflow.simulation.workers import configure_worker
    except ImportError:  # an older tree
        return "one OpenCV thread (no sarflow.simulation.workers)"
    return "configure_worker" + ("" if configure_worker() else " (allocator not tunable here)")


def make_pairs(seed: int, count: int, size: int, training: bool = False) -> tuple[int, float]:
    """Simulate ``count`` pairs; returns (count, CPU seconds of this process, all threads)."""
    before = os.times()
    if training:
        from sarflow.training.synthetic import SyntheticRecipe, make_sample

        recipe = SyntheticRecipe(patch_size=size)
        for i in range(count):
            make_sample(recipe, seed * 100000 + i)
    else:
        rng = np.random.default_rng(seed)
        for i in range(count):
            field, imaging, texture = random_case(rng)
            # Training configuration: motion interpolated between pixel centres (truth exact either way).
            simulate_pair(field, shape=(size, size), imaging=imaging, texture=texture, seed=seed * 100000 + i,
                          exact_motion=False)
    after = os.times()
    return count, (after.user - before.user) + (after.system - before.system)


def throughput(count: int, size: int, workers: int, *, training: bool = False, tuned: bool = True,
               details: dict | None = None) -> float:
    """Pairs per minute on ``workers`` processes (1: this process), warm-up excluded.

    ``details``, when given, receives ``cpu_ms_per_pair`` and ``setup`` (how processes were set up).
    """
    setup = setup_process(tuned)
    make_pairs(0, 2, size, training)  # warm-up (imports, caches)
    if workers == 1:
        start = time.perf_counter()
        results = [make_pairs(1, count, size, training)]
    else:
        with ProcessPoolExecutor(workers, initializer=setup_process, initargs=(tuned,)) as pool:
            # Start and warm the workers first: a training loader keeps its workers alive.
            list(pool.map(make_pairs, range(100, 100 + workers), [2] * workers, [size] * workers,
                          [training] * workers))
            start = time.perf_counter()
            results = list(pool.map(make_pairs, range(1, workers + 1), [count // workers] * workers,
                                    [size] * workers, [training] * workers))
    elapsed = time.perf_counter() - start
    done = sum(n for n, _ in results)
    if details is not None:
        details.update(cpu_ms_per_pair=1e3 * sum(c for _, c in results) / done, setup=setup)
    return done / elapsed * 60.0


def throughput_table(title: str, count: int, workers: int, *, training: bool, tuned: bool) -> None:
    print(title)
    print(f"{'processes':>9} {'pairs/min':>10} {'CPU ms/pair':>12}")
    info: dict = {}
    single = throughput(count // 2, 256, 1, training=training, tuned=tuned, details=info)
    print(f"{1:>9} {single:10.0f} {info['cpu_ms_per_pair']:12.1f}")
    if workers > 1:
        multi = throughput(count, 256, workers, training=training, tuned=tuned, details=info)
        print(f"{workers:>9} {multi:10.0f} {info['cpu_ms_per_pair']:12.1f}   ({multi / single:.2f}x one process)")
    print(f"(processes set up with: {info['setup']})")


def ncc_parabola(ref: np.ndarray, sec: np.ndarray, chip: int, radius: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Plain OpenCV NCC with a parabola peak at grid points: the matcher at the core of autoRIFT."""
    h, w = ref.shape
    half = chip // 2
    out_dx, out_dy = [], []
    for r in range(half + radius, h - half - radius, step):
        for c in range(half + radius, w - half - radius, step):
            tpl = ref[r - half : r + half, c - half : c + half]
            win = sec[r - half - radius : r + half + radius, c - half - radius : c + half + radius]
            cc = cv2.matchTemplate(win, tpl, cv2.TM_CCOEFF_NORMED)
            i, j = np.unravel_index(np.argmax(cc), cc.shape)
            if 0 < i < cc.shape[0] - 1 and 0 < j < cc.shape[1] - 1:
                di = 0.5 * (cc[i - 1, j] - cc[i + 1, j]) / (cc[i - 1, j] - 2 * cc[i, j] + cc[i + 1, j])
                dj = 0.5 * (cc[i, j - 1] - cc[i, j + 1]) / (cc[i, j - 1] - 2 * cc[i, j] + cc[i, j + 1])
                out_dy.append(i + di - radius)
                out_dx.append(j + dj - radius)
    return np.array(out_dx), np.array(out_dy)


def phase_corr(ref: np.ndarray, sec: np.ndarray, chip: int, step: int) -> np.ndarray:
    from skimage.registration import phase_cross_correlation

    h, w = ref.shape
    out = []
    for r in range(chip, h - chip, step):
        for c in range(chip, w - chip, step):
            shift, _, _ = phase_cross_correlation(ref[r : r + chip, c : c + chip], sec[r : r + chip, c : c + chip],
                                                  upsample_factor=20)
            out.append(-shift[1])  # the shift that registers sec onto ref is minus the offset
    return np.array(out)


def complex_shift(moved: np.ndarray, reference: np.ndarray) -> float:
    """Column shift of identical-speckle complex images (cross-correlation upsampled x200)."""
    from skimage.registration import phase_cross_correlation

    inner = (slice(8, -8), slice(8, -8))
    shift, _, _ = phase_cross_correlation(moved[inner], reference[inner], upsample_factor=200, normalization=None)
    return float(shift[1])


def sampling_table(fractions: np.ndarray, size: int) -> list[tuple]:
    rows = []
    for resolution in (1.0, 2.0):
        for oversample in (1, 2):
            bias_ncc, bias_pc, rms_ncc, sim_err = [], [], [], []
            for k, frac in enumerate(fractions):
                pair = simulate_pair(UniformShift(float(frac), 0.0), shape=(size, size), seed=100 + k,
                                     imaging=ImagingConfig(resolution_px=resolution, oversample=oversample,
                                                           coherence=0.95, snr_db=np.inf))
                exact = simulate_pair(UniformShift(float(frac), 0.0), shape=(size, size), seed=200 + k,
                                      texture_contrast=0.0, return_complex=True,
                                      imaging=ImagingConfig(resolution_px=resolution, oversample=oversample,
                                                            coherence=1.0, snr_db=np.inf))
                sim_err.append(complex_shift(exact.secondary_complex, exact.reference_complex) - frac)
                dx, _ = ncc_parabola(pair.reference, pair.secondary, 32, 3, 16)
                bias_ncc.append(np.median(dx) - frac)
                rms_ncc.append(np.sqrt(np.mean((dx - frac) ** 2)))
                bias_pc.append(np.median(phase_corr(pair.reference, pair.secondary, 32, 48)) - frac)
            rows.append((resolution, oversample, float(np.max(np.abs(sim_err))), float(np.max(np.abs(bias_ncc))),
                         float(np.mean(rms_ncc)), float(np.max(np.abs(bias_pc)))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer pairs and shifts")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--training", action="store_true", help="also time make_sample (the training pairs)")
    parser.add_argument("--throughput-only", action="store_true", help="skip the matcher-bias table")
    parser.add_argument("--no-tuning", action="store_true",
                        help="processes only get one OpenCV thread (no configure_worker)")
    args = parser.parse_args()
    count = 40 if args.quick else 200
    tuned = not args.no_tuning

    throughput_table("Table 1: simulated 256 x 256 training pairs (mixed scenarios, random parameters)",
                     count, args.workers, training=False, tuned=tuned)
    if args.training:
        throughput_table("\nTable 1b: training pairs, make_sample(SyntheticRecipe(patch_size=256), seed)",
                         count, args.workers, training=True, tuned=tuned)
    if args.throughput_only:
        return

    fractions = np.linspace(0, 1, 5 if args.quick else 9)[:-1]
    print("\nTable 2: matcher bias vs true sub-pixel shift (fractions "
          f"{', '.join(f'{f:.3g}' for f in fractions)} px)")
    print("(simulated-shift error: coherent complex pair, coherence 1; the matchers: amplitude, coherence 0.95)")
    print(f"{'resolution_px':>13} {'oversample':>10} {'simulated-shift error':>22} {'NCC+parabola max|bias|':>23} "
          f"{'NCC RMSE':>9} {'phase-corr max|bias|':>21}")
    for resolution, oversample, e_sim, b_ncc, r_ncc, b_pc in sampling_table(fractions, 192 if args.quick else 256):
        print(f"{resolution:13.0f} {oversample:10d} {e_sim:22.3f} {b_ncc:23.3f} {r_ncc:9.3f} {b_pc:21.3f}")


if __name__ == "__main__":
    main()
