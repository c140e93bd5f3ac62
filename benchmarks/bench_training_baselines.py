"""What a training run's validation figures should be compared with: no motion, and the tracker.

    python benchmarks/bench_training_baselines.py --max-offset-px 1
    python benchmarks/bench_training_baselines.py --scenario-weights shift=1 --min-offset-px 0.5 --max-offset-px 3

The validation pairs of the recipe that `sarflow train` builds from the same options (patch size,
scenario mix, offset range; ``--validation-size`` pairs from the validation seed range, the
direct route) are scored twice: predicting no motion (the RMSE a network that has learnt nothing
reaches, what `sarflow train` reports as ``val_rmse``) and the multi-kernel tracker on its step-8
grid (chips 32 and 64, ``--search-radius``), RMSE of the vector error on the points it keeps,
with its coverage of the grid.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from sarflow.errors import SarflowError
from sarflow.tracking import TrackConfig, track_offsets
from sarflow.training.loop import _metrics_of, validation_set
from sarflow.training.synthetic import SCENARIO_KINDS, SyntheticRecipe, parse_scenario_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patch-size", type=int, default=128)
    parser.add_argument("--min-offset-px", type=float, default=0.02)
    parser.add_argument("--max-offset-px", type=float, default=6.0)
    parser.add_argument("--scenario-weights", default=None, help="KIND=W,... as for sarflow train")
    parser.add_argument("--validation-size", type=int, default=32)
    parser.add_argument("--search-radius", type=int, default=None, help="default: max offset + 3 px")
    args = parser.parse_args()

    mix = {"weights": parse_scenario_weights(args.scenario_weights)} if args.scenario_weights else {}
    recipe = SyntheticRecipe(patch_size=args.patch_size, min_offset_px=args.min_offset_px,
                             max_offset_px=args.max_offset_px, **mix)
    data = validation_set(recipe, args.validation_size)
    zero = _metrics_of(torch.zeros_like(data["target"]), data)
    radius = args.search_radius or int(np.ceil(args.max_offset_px)) + 3
    errors, coverage = [], []
    for i in range(data["reference"].shape[0]):
        truth, mask = data["target"][i].numpy(), data["mask"][i, 0].numpy()
        try:
            result = track_offsets(data["reference"][i, 0].numpy(), data["secondary"][i, 0].numpy(),
                                   config=TrackConfig(chip_sizes=(32, 64), step=8, search_radius=radius))
        except SarflowError:  # a pair the tracker refuses (e.g. mostly nodata): no points
            coverage.append(0.0)
            continue
        rows, cols = np.meshgrid(result.rows, result.cols, indexing="ij")
        kept = np.isfinite(result.dx) & mask[rows, cols]
        coverage.append(float(kept.mean()))
        errors.append(np.hypot(result.dx - truth[0][rows, cols], result.dy - truth[1][rows, cols])[kept])
    e = np.concatenate(errors) if errors else np.array([np.nan])
    print(f"{args.validation_size} validation pairs of {args.patch_size} px, offsets {args.min_offset_px:g}-"
          f"{args.max_offset_px:g} px, weights {dict(zip(SCENARIO_KINDS, recipe.weights))}")
    print(f"no motion: RMSE {zero['rmse']:.4f} px, EPE {zero['epe']:.4f} px (every valid pixel)")
    print(f"tracker (chips 32, 64, step 8, radius {radius}): RMSE {np.sqrt(np.mean(e ** 2)):.4f} px, median "
          f"{np.median(e):.4f} px on its points, coverage {np.mean(coverage):.1%}")


if __name__ == "__main__":
    main()
