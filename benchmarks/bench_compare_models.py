"""The comparison study: every network trained with the same data and budget, then measured.

    python benchmarks/bench_compare_models.py --steps 1500 --out runs/compare      # about 1.5 h on 2 cores
    python benchmarks/bench_compare_models.py --steps 200 --out /tmp/cmp --quick    # a smoke run
    python benchmarks/bench_compare_models.py --steps 400 --prior --out runs/compare-prior   # the residual route

For each network (CC-ResSiamNet, U-Net on the stacked pair, Siamese U-Net without cross-connections,
the cost-volume network, and CC-ResSiamNet-Fast; ``--models`` picks) the same `TrainConfig` except the network, the same simulated batches
(same seed) and the same number of steps; then a table of parameters, multiply-accumulates per
pixel, validation RMSE by displacement band (< 0.5 px, 0.5-5 px, > 5 px) on a held-out test set,
validations to converge (first one within 5 % of the best RMSE), the train / validation loss gap,
and inference megapixels per second (bfloat16, channels-last). The multi-kernel tracker is scored on
the same test pairs (on its step-8 grid). Runs resume: the same command continues where it stopped.

With ``--prior`` every network is trained on the residual after the tracker prior (``sarflow train
--prior``, the shipped route); its errors are those of the residual, which equal those of the
recomposed offsets to first order, and the displacement bands are those of the true offsets. A row
"prior alone" (zero residual) is the baseline such a network must beat.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from sarflow.models import load_data_file
from sarflow.nn import MODELS, build_model, conv_flops_per_pixel
from sarflow.training.loop import (
    CONSTANT_PAIRS,
    TrainConfig,
    evaluate_model,
    select_device,
    train,
    validation_constant,
    validation_set,
)
from sarflow.training.synthetic import SyntheticRecipe
from sarflow.tracking import TrackConfig, track_offsets

BANDS = (("< 0.5 px", 0.0, 0.5), ("0.5-5 px", 0.5, 5.0), ("> 5 px", 5.0, np.inf))


def banded_rmse(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, truth: np.ndarray | None = None
                ) -> dict[str, float]:
    """RMSE of the vector error by true displacement magnitude; pred/target (N, 2, H, W), mask (N, 1, H, W).

    ``truth`` gives the displacement that decides the band when ``target`` is a residual.
    """
    truth = target if truth is None else truth
    mag = np.hypot(truth[:, 0], truth[:, 1])
    err = np.hypot(pred[:, 0] - target[:, 0], pred[:, 1] - target[:, 1])
    ok = mask[:, 0] & np.isfinite(err)
    out = {}
    for name, lo, hi in BANDS:
        sel = ok & (mag >= lo) & (mag < hi)
        out[name] = float(np.sqrt(np.mean(err[sel] ** 2))) if sel.any() else float("nan")
    return out


def predict_set(model, data, device) -> np.ndarray:
    from sarflow.training.loop import forward_pair, to_tensors

    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, data["reference"].shape[0], 8):
            part = {k: v[i : i + 8] for k, v in data.items()}
            ref, sec, _, _ = to_tensors(part, device, True)
            offsets, _, _ = forward_pair(model, ref, sec, device=device, precision="bf16")
            preds.append(offsets.cpu().numpy())
    return np.concatenate(preds)


def throughput(model, device, size=256, batch=4, repeats=3) -> float:
    model.eval().to(memory_format=torch.channels_last)
    x = torch.randn(batch, 1, size, size, device=device).contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
        model(x, x)
        start = time.perf_counter()
        for _ in range(repeats):
            model(x, x)
    return batch * size * size * repeats / (time.perf_counter() - start) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/compare"))
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--patch-size", type=int, default=128)
    parser.add_argument("--test-size", type=int, default=48)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--quick", action="store_true", help="tiny test set and evaluations")
    parser.add_argument("--warmup-steps", type=int, default=None,
                        help="learning-rate warm-up (default: a tenth of the steps, at most 300 as in training)")
    parser.add_argument("--prior", action="store_true", help="train and test on the residual after the tracker prior")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (1 per process is the reliable choice on 2 shared cores; run two "
                             "processes with different --models, then the full command to print the table)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = select_device("auto")
    recipe = SyntheticRecipe(patch_size=args.patch_size)
    raw = validation_set(recipe, 8 if args.quick else args.test_size, split="test")
    test = validation_set(recipe, 8 if args.quick else args.test_size, split="test", prior=True) if args.prior else raw
    target, mask = test["target"].numpy(), test["mask"].numpy()
    # Bands by the true displacement (the residual's is near zero everywhere).
    truth = raw["target"].numpy()
    rows = []
    for name in args.models.split(","):
        warmup = args.warmup_steps if args.warmup_steps is not None else min(300, max(1, args.steps // 10))
        config = TrainConfig(model=name, recipe=recipe, steps=args.steps, batch_size=8, prior=args.prior,
                             warmup_steps=warmup,
                             eval_every=max(1, args.steps // 10), validation_size=16 if args.quick else 48, seed=0)
        result = train(config, args.out / name, resume=True)
        state = load_data_file(result.best_checkpoint, map_location=device, what="a training checkpoint")
        model = build_model(name, **{k: v for k, v in state["model_config"].items() if k != "name"}).to(device)
        model.load_state_dict(state["model_state"])
        # scored as export ships it: its constant output, measured on the run's validation pairs, removed
        constant = validation_constant(model, validation_set(recipe, min(CONSTANT_PAIRS, config.validation_size),
                                                             prior=args.prior), config)
        pred = predict_set(model, test, device)
        if constant is not None:
            pred = pred - np.asarray(constant, dtype=pred.dtype).reshape(1, 2, 1, 1)
        bands = banded_rmse(pred, target, mask, truth)
        test_metrics = evaluate_model(model, test, device=device, constant=constant)
        history = result.history
        best = min(r["val_rmse"] for r in history)
        converge = next(i + 1 for i, r in enumerate(history) if r["val_rmse"] <= 1.05 * best)
        last = history[-1]
        rows.append((name, sum(p.numel() for p in model.parameters()), conv_flops_per_pixel(model),
                     test_metrics["rmse"], bands, converge, len(history), last["val_loss"] - last["train_loss"],
                     throughput(model, device), result.wall_seconds))

    # The tracker on the same test pairs, at its grid points.
    t_bands, start, n = {b[0]: [] for b in BANDS}, time.perf_counter(), 0
    errs = {b[0]: [] for b in BANDS}
    all_err = []
    raw_mask = raw["mask"].numpy()
    for i in range(target.shape[0]):
        ref, sec = raw["reference"][i, 0].numpy(), raw["secondary"][i, 0].numpy()
        chips = tuple(c for c in (32, 64, 128) if c + 16 <= min(ref.shape))  # chip + 2 x search radius
        res = track_offsets(ref, sec, config=TrackConfig(chip_sizes=chips, step=8, search_radius=8))
        r, c = res.rows, res.cols
        t = truth[i][:, r][:, :, c]
        m = raw_mask[i, 0][np.ix_(r, c)]
        e = np.hypot(res.dx - t[0], res.dy - t[1])
        mag = np.hypot(t[0], t[1])
        ok = m & np.isfinite(e)
        n += ok.size
        all_err.append(e[ok])
        for bname, lo, hi in BANDS:
            errs[bname].append(e[ok & (mag >= lo) & (mag < hi)])
    t_track = time.perf_counter() - start
    track_bands = {k: float(np.sqrt(np.mean(np.concatenate(v) ** 2))) if sum(len(x) for x in v) else float("nan")
                   for k, v in errs.items()}
    del t_bands

    route = "residual after the tracker prior" if args.prior else "direct"
    print(f"\nComparison study ({route}): {args.steps} steps (warm-up {warmup}), batch 8, {args.patch_size} px "
          f"simulated patches, seed 0; test set of {target.shape[0]} held-out pairs")
    print(f"{'method':<16} {'params':>9} {'MAC/px':>8} {'RMSE':>7} " + " ".join(f"{b[0]:>9}" for b in BANDS)
          + f" {'converge':>9} {'val-train':>9} {'MP/s':>6} {'train h':>7}")
    for name, params, flops, rmse, bands, conv, nval, gap, mps, wall in rows:
        print(f"{name:<16} {params:9,d} {flops / 1e3:7.1f}k {rmse:7.3f} "
              + " ".join(f"{bands[b[0]]:9.3f}" for b in BANDS)
              + f" {conv:>4}/{nval:<4} {gap:9.4f} {mps:6.2f} {wall / 3600:7.2f}")
    if args.prior:
        zero = banded_rmse(np.zeros_like(target), target, mask, truth)
        err = np.hypot(target[:, 0], target[:, 1])[mask[:, 0]]
        print(f"{'prior alone':<16} {'-':>9} {'-':>8} {float(np.sqrt(np.mean(err ** 2))):7.3f} "
              + " ".join(f"{zero[b[0]]:9.3f}" for b in BANDS))
    overall = float(np.sqrt(np.mean(np.concatenate(all_err) ** 2)))
    print(f"{'tracker (grid)':<16} {'-':>9} {'-':>8} {overall:7.3f} "
          + " ".join(f"{track_bands[b[0]]:9.3f}" for b in BANDS)
          + f" {'-':>9} {'-':>9} {n / t_track / 1e6 * 64:6.2f} {'-':>7}")
    print("(tracker MP/s: grid points per second x 64 pixels per step-8 cell)")


if __name__ == "__main__":
    main()
