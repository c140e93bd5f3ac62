"""Which of the tracker's tests decide its coverage on the low-coherence benchmark scene.

    python benchmarks/bench_coverage_thresholds.py                  # seeds 11-13, both sub-pixel windows
    python benchmarks/bench_coverage_thresholds.py --seeds 11 --betas 6

The "low coherence (0.3, 1 look)" scene of `benchmarks/bench_track.py` (512 px, a uniform shift),
simulated with other seeds, is tracked with the benchmark's settings (step 8, search radius 6,
default chips) and the sub-pixel window of each ``KAISER_BETA`` given, once with the defaults and
once per changed test: ``max_sigma_px`` of 1.25, 1.5 and 2 px, no normalized median test, no
significance test, no peak-ratio test, no NCC floor. Prints the mean coverage of the grid over the
seeds (the grid's edge rows, where chips leave the image, never have an estimate).
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_subpixel_bias import set_sinc  # this folder is on the path when a benchmark runs as a script
from bench_track import scenes

from sarflow.simulation.pair import simulate_pair
from sarflow.tracking import TrackConfig, subpixel, track_offsets

VARIANTS = {
    "default": {},
    "max_sigma_px 1.25": dict(max_sigma_px=1.25),
    "max_sigma_px 1.5": dict(max_sigma_px=1.5),
    "max_sigma_px 2": dict(max_sigma_px=2.0),
    "no median test": dict(median_test=False),
    "no significance test": dict(min_significance=0.0),
    "no peak-ratio test": dict(min_peak_ratio=0.0),
    "no NCC floor": dict(min_ncc=-1.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="11,12,13")
    parser.add_argument("--betas", default="3,6", help="KAISER_BETA values")
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()

    name, field, imaging, texture = next(s for s in scenes(args.size) if s[0].startswith("low coherence"))
    seeds = [int(s) for s in args.seeds.split(",")]
    betas = [float(b) for b in args.betas.split(",")]
    pairs = [simulate_pair(field, shape=(args.size, args.size), imaging=imaging, texture=texture, seed=s)
             for s in seeds]
    print(f"{name}, {args.size} px, seeds {seeds}: mean coverage of the step-8 grid")
    print(f"{'variant':<22}" + "".join(f"{'beta ' + format(b, 'g'):>10}" for b in betas))
    cover = {}
    for beta in betas:
        set_sinc(subpixel.BALANCE_SPAN, beta)
        for label, changes in VARIANTS.items():
            config = TrackConfig(step=8, search_radius=6, **changes)
            cover[label, beta] = np.mean([np.isfinite(track_offsets(p.reference, p.secondary, config=config).dx).mean()
                                          for p in pairs])
    for label in VARIANTS:
        print(f"{label:<22}" + "".join(f"{cover[label, b]:10.1%}" for b in betas))


if __name__ == "__main__":
    main()
