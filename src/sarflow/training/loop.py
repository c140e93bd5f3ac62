"""The training loop: simulated (or on-disk) pairs, masked Huber loss, AdamW with a cosine schedule.

Resumable and deterministic: batch ``k`` is always made of the same samples (seeds derived from the
run's seed and ``k``), so a run stopped and resumed from its checkpoint continues exactly where it
was. bfloat16 autocast and channels-last on the CPU (measured several times faster than fp32 eager
on AVX-512 bf16 machines), CUDA when present.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from sarflow.errors import InputError
from sarflow.io.atomic import atomic_path
from sarflow.training.augment import augment_batch
from sarflow.training.synthetic import SEED_RANGES, SyntheticRecipe, make_sample, with_prior

__all__ = ["TrainConfig", "TrainResult", "train", "select_device", "batch_seeds", "validation_set", "evaluate_model",
           "to_tensors", "forward_pair", "sigma_scale", "prior_sigma_scales", "refine_offsets", "fit_sigma_mix",
           "COVERAGE", "SIGMA_POWERS", "constant_offset", "validation_constant", "OUTPUT_BIASES", "CONSTANT_PAIRS"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (stored in its checkpoints and model card).

    Attributes
    ----------
    model : str
        Network name in `sarflow.nn.MODELS`.
    model_kwargs : dict
        Constructor arguments of the network.
    recipe : SyntheticRecipe
        Distribution of the simulated training pairs.
    dataset : str or None
        A tile dataset on disk (see `sarflow.training.tiles`) used instead of simulated pairs.
    steps : int
        Optimiser steps in all (the cosine schedule spans them).
    batch_size : int
    learning_rate, weight_decay : float
        AdamW settings.
    warmup_steps : int
        Linear learning-rate warm-up.
    huber_delta : float
        Huber transition, pixels (0.1 as in the authors' loss).
    nll_weight : float
        Weight of the Gaussian negative log-likelihood that trains the uncertainty head (on
        detached offsets, so it cannot pull the offsets themselves).
    pyramid_weight : float
        Weight of the deep supervision of coarser offset estimates (networks that return them).
    eval_every : int
        Steps between validations and checkpoints (one "epoch" in the learning curves).
    validation_size : int
        Fixed validation pairs (seeds never used for training).
    patience : int
        Validations without improvement before stopping early (0 = never).
    seed : int
    precision : {"bf16", "fp32"}
        Autocast precision on the CPU (CUDA uses bf16 autocast when "bf16").
    channels_last : bool
    loader_workers : int
        Processes simulating batches ahead of the optimiser (0 = in the training process).
    augment : bool
    prior : bool
        Train on the residual problem left by the multi-kernel tracker's dense prior
        (`sarflow.tracking.prior`, the paper's tracking-as-preprocessing route): the secondary is
        resampled by the prior and the target is the residual; inference must then do the same
        (recorded in the exported weights). Validation metrics are then those of the residual,
        i.e. of the recomposed offsets; the step-0 row of the history is the tracker prior alone.
    prior_jitter_px : float
        Largest smooth perturbation of the prior in training samples, pixels (0: none), so that the
        network must measure residuals (`sarflow.training.synthetic.with_prior`); validation
        pairs are never perturbed.
    prior_jitter_share : float
        Share of the training samples whose prior is perturbed.
    init_from : str or None
        Training checkpoint (``best.pt``/``last.pt`` of an earlier run of the same network) whose
        weights start this run; the optimiser, schedule and history start afresh.
    """

    model: str = "ccressiamnet"
    model_kwargs: dict = field(default_factory=dict)
    recipe: SyntheticRecipe = field(default_factory=lambda: SyntheticRecipe(patch_size=128))
    dataset: str | None = None
    steps: int = 20000
    batch_size: int = 8
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 300
    huber_delta: float = 0.1
    nll_weight: float = 0.01
    pyramid_weight: float = 0.5
    eval_every: int = 500
    validation_size: int = 48
    patience: int = 0
    seed: int = 0
    precision: str = "bf16"
    channels_last: bool = True
    loader_workers: int = 1
    augment: bool = True
    prior: bool = False
    prior_jitter_px: float = 0.0
    prior_jitter_share: float = 0.5
    init_from: str | None = None

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise InputError("steps, batch_size and eval_every must be positive")
        if self.precision not in ("bf16", "fp32"):
            raise InputError(f"precision must be 'bf16' or 'fp32', got {self.precision!r}")
        if not self.learning_rate > 0:
            raise InputError("learning_rate must be positive")
        if self.prior and self.dataset:
            raise InputError("prior=True trains on simulated pairs only (tile datasets carry no prior)")
        if self.prior_jitter_px < 0 or not 0 <= self.prior_jitter_share <= 1:
            raise InputError("prior_jitter_px must be >= 0 and prior_jitter_share within [0, 1]")
        if self.prior_jitter_px > 0 and not self.prior:
            raise InputError("prior_jitter_px perturbs the tracker prior: it needs prior=True")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["recipe"] = self.recipe.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        recipe = d.pop("recipe", None)
        if recipe is not None:
            recipe = SyntheticRecipe(**{k: tuple(v) if isinstance(v, list) else v for k, v in recipe.items()})
            d["recipe"] = recipe
        return cls(**d)


@dataclass
class TrainResult:
    """Where a run left its files, and its best validation metrics."""

    directory: Path
    best_checkpoint: Path
    last_checkpoint: Path
    steps_done: int
    best_metrics: dict
    history: list[dict]
    stopped_early: bool
    wall_seconds: float


def select_device(device: str | None = None) -> torch.device:
    """``"auto"``/None: CUDA when present, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def batch_seeds(seed: int, step: int, batch_size: int) -> list[int]:
    """Sample seeds of training batch ``step``: a pure function, disjoint from validation and test seeds."""
    lo, hi = SEED_RANGES["train"]
    mixer = np.random.default_rng([int(seed), int(step), 0x7EA1])
    return [int(v) for v in mixer.integers(lo, hi, size=batch_size)]


def _stack(samples) -> dict[str, torch.Tensor]:
    out = {
        "reference": torch.from_numpy(np.stack([s.reference for s in samples])[:, None]),
        "secondary": torch.from_numpy(np.stack([s.secondary for s in samples])[:, None]),
        "target": torch.from_numpy(np.stack([s.target for s in samples])),
        "mask": torch.from_numpy(np.stack([s.mask for s in samples])[:, None]),
    }
    if samples and all("prior_sigma" in s.info for s in samples):  # the residual route (`with_prior`)
        out["prior_sigma"] = torch.from_numpy(np.stack([s.info["prior_sigma"] for s in samples])[:, None])
        out["prior_spread"] = torch.from_numpy(np.stack([s.info["prior_spread"] for s in samples]))
    return out


class _SyntheticBatches(torch.utils.data.Dataset):
    """Batch ``k`` of a run, simulated on demand (map-style, so workers can prefetch in order)."""

    def __init__(self, recipe: SyntheticRecipe, seed: int, batch_size: int, start: int, stop: int,
                 prior: bool = False, jitter: tuple[float, float] = (0.0, 0.5)):
        self.recipe, self.seed, self.batch_size, self.start, self.stop = recipe, seed, batch_size, start, stop
        self.prior, self.jitter = prior, jitter

    def __len__(self):
        return self.stop - self.start

    def __getitem__(self, k):
        seeds = batch_seeds(self.seed, self.start + k, self.batch_size)
        return _stack([_robust_sample(self.recipe, s, prior=self.prior, jitter=self.jitter) for s in seeds])


def _robust_sample(recipe: SyntheticRecipe, seed: int, *, prior: bool = False, jitter: tuple[float, float] = (0.0, 0.5)):
    """`make_sample`, or (should a random draw be physically invalid) the next seed: still deterministic."""
    for attempt in range(9):
        try:
            sample = make_sample(recipe, seed + attempt)
            return with_prior(sample, jitter_px=jitter[0], jitter_share=jitter[1]) if prior else sample
        except InputError:
            if attempt == 8:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def validation_set(recipe: SyntheticRecipe, size: int, *, split: str = "validation",
                   prior: bool = False) -> dict[str, torch.Tensor]:
    """Fixed pairs from a seed range never used for training (``validation`` or ``test``)."""
    lo, _ = SEED_RANGES[split]
    samples = [make_sample(recipe, lo + i) for i in range(size)]
    return _stack([with_prior(s) for s in samples] if prior else samples)


def to_tensors(batch: dict, device: torch.device, channels_last: bool):
    """Normalised network inputs, target and mask on ``device``."""
    from sarflow.nn import normalize_pair

    ref, sec = normalize_pair(batch["reference"].to(device), batch["secondary"].to(device))
    target = torch.nan_to_num(batch["target"].to(device))
    mask = batch["mask"].to(device)
    if channels_last:
        ref = ref.contiguous(memory_format=torch.channels_last)
        sec = sec.contiguous(memory_format=torch.channels_last)
    return ref, sec, target, mask


def _autocast(device: torch.device, precision: str):
    enabled = precision == "bf16"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def forward_pair(model, ref, sec, *, device, precision):
    """Run the network under the run's precision; offsets, log-variance and pyramid in float32."""
    with _autocast(device, precision):
        out = model(ref, sec)
    offsets = out.offsets.float()
    log_var = None if out.log_var is None else out.log_var.float()
    return offsets, log_var, tuple(level.float() for level in out.pyramid)


@torch.no_grad()
def evaluate_model(model, data: dict, *, device, precision: str = "bf16", channels_last: bool = True,
                   batch_size: int = 8, constant: tuple[float, float] | None = None) -> dict:
    """Validation metrics (EPE, RMSE, shares under 0.1/0.5/1 px, loss) over a fixed set.

    ``constant``: a constant output ``(c_dx, c_dy)`` (`constant_offset`) subtracted from every
    prediction first, as export removes it from the shipped weights; the metrics then also hold it
    (``constant_dx``, ``constant_dy``).
    """
    from sarflow.nn import flow_metrics, masked_huber_loss

    model.eval()
    preds, logs = [], []
    n = data["reference"].shape[0]
    for i in range(0, n, batch_size):
        part = {k: v[i : i + batch_size] for k, v in data.items()}
        ref, sec, _, _ = to_tensors(part, device, channels_last)
        offsets, log_var, _ = forward_pair(model, ref, sec, device=device, precision=precision)
        preds.append(offsets.cpu())
        if log_var is not None:
            logs.append(log_var.cpu())
    pred = torch.cat(preds)
    if constant is not None:
        pred = pred - torch.tensor(constant, dtype=pred.dtype).view(1, 2, 1, 1)
    metrics = _metrics_of(pred, data)
    if constant is not None:
        metrics["constant_dx"], metrics["constant_dy"] = float(constant[0]), float(constant[1])
    if logs:
        log_var = torch.cat(logs)
        err = (pred - torch.nan_to_num(data["target"])).abs()
        mask = data["mask"]
        sigma = torch.exp(0.5 * log_var)
        inside = (err <= sigma) & mask.expand_as(err)
        metrics["within_1_sigma"] = float(inside.sum() / mask.expand_as(err).sum().clamp_min(1))
    model.train()
    return metrics


def _uncertain_batches(model, data: dict, device, precision: str, batch_size: int,
                       least_squares: dict | None = None):
    """``(first index, batch, offsets, log_var, target, mask)`` of ``data`` batch by batch, in evaluation mode.

    ``least_squares``: settings of the residual's least-squares refinement (`sarflow.tracking.lsq`),
    applied to the offsets as scene inference applies it (pairs of the residual route)."""
    device = device or torch.device("cpu")
    model.eval()
    for i in range(0, data["reference"].shape[0], batch_size):
        part = {k: v[i : i + batch_size] for k, v in data.items()}
        ref, sec, target, mask = to_tensors(part, device, False)
        offsets, log_var, _ = forward_pair(model, ref, sec, device=device, precision=precision)
        if least_squares:
            offsets = refine_offsets(offsets, part["reference"], part["secondary"], least_squares)
        yield i, part, offsets, log_var, target, mask


def refine_offsets(offsets: torch.Tensor, reference, secondary, settings: dict) -> torch.Tensor:
    """Residual offsets ``(B, 2, H, W)`` fused with the least-squares residual of each pair
    (`sarflow.tracking.lsq.refine_residual`; ``reference`` and ``secondary``: ``(B, 1, H, W)``
    amplitudes, the secondary resampled by the prior)."""
    from sarflow.tracking.lsq import LeastSquaresConfig, refine_residual

    config = LeastSquaresConfig.from_dict(settings)
    out = offsets.detach().float().cpu().numpy().copy()
    for j in range(out.shape[0]):
        out[j, 0], out[j, 1] = refine_residual(np.asarray(reference[j, 0], np.float32),
                                               np.asarray(secondary[j, 0], np.float32), out[j, 0], out[j, 1], config)
    return torch.from_numpy(out).to(offsets.device)


#: Share of errors within one sigma of a calibrated Gaussian uncertainty.
COVERAGE = 0.6827

#: Parameters that end a network's offsets, so a constant subtracted there leaves the output by it:
#: the full-resolution head's bias of `sarflow.nn.refine_decoder.CoarseToFineDecoder` (CC-ResSiamNet,
#: added last) and the offset head's of `sarflow.nn.unet_parts.UNetDecoder` (the comparison networks)
#: and of `sarflow.nn.fastnet` (CC-ResSiamNet-Fast's `ShuffleHead`, one bias per output).
OUTPUT_BIASES = ("decoder.heads.0.bias", "decoder.offset_head.bias")

#: Validation pairs the constant output is measured on (`constant_offset`), in training and at export.
CONSTANT_PAIRS = 16


def output_bias_name(state: dict) -> str | None:
    """The `OUTPUT_BIASES` entry of a network's ``state_dict`` (a 2-vector), or None."""
    return next((k for k in OUTPUT_BIASES if tuple(getattr(state.get(k), "shape", ())) == (2,)), None)


def validation_constant(model, data: dict, config) -> tuple[float, float] | None:
    """The constant that export will remove from ``model`` (`constant_offset` on the first
    `CONSTANT_PAIRS` validation pairs), or None where export removes none (no output bias, or a
    run on a dataset from disk). Validation subtracts it, so that the checkpoint kept is the best
    of what will be shipped."""
    if config.dataset or output_bias_name(dict(model.named_parameters())) is None:
        return None
    first = {k: v[:CONSTANT_PAIRS] for k, v in data.items()}
    return constant_offset(model, first)


@torch.no_grad()
def sigma_scale(model, data: dict, *, device=None, precision: str = "bf16", batch_size: int = 8) -> float:
    """Factor that calibrates a network's sigma on ``data``: 68.27 % of ``|error|`` within ``factor * sigma``.

    The log-variance head learns the shape of the uncertainty (where errors are large); one global
    factor, fitted on validation pairs (never trained on), sets its scale, as temperature scaling
    does for classifiers. Returns 1.0 for a network without uncertainty.
    """
    ratios = []
    for _, _, offsets, log_var, target, mask in _uncertain_batches(model, data, device, precision, batch_size):
        if log_var is None:
            return 1.0
        ratio = (offsets - target).abs() / torch.exp(0.5 * log_var)
        ratios.append(ratio[mask.expand_as(ratio)].cpu())
    values = torch.cat(ratios)
    if values.numel() == 0:
        return 1.0
    return float(torch.quantile(values[:1_000_000].double(), COVERAGE))


@torch.no_grad()
def constant_offset(model, data: dict, *, device=None, batch_size: int = 8) -> tuple[float, float]:
    """The part of a network's output that ignores orientation, ``(c_dx, c_dy)`` pixels, in float32.

    Offsets turn with the images: flipping the columns of both inputs must negate ``dx`` and
    mirror it, flipping the rows must do so to ``dy``. A network that adds a constant ``c`` (a
    bias that training's symmetric augmentation leaves free to wander, likely because Adam moves
    every parameter by about its learning rate whatever the gradient's size) breaks that:
    ``f_dx(x) + flip(f_dx(flip(x))) = 2 c_dx`` wherever it is, so ``c`` is measured from the
    pairs alone, without their truth. Averaged over the valid pixels of ``data``.
    """
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums, count = torch.zeros(2, dtype=torch.float64), 0.0
    try:
        for i in range(0, data["reference"].shape[0], batch_size):
            batch = {k: v[i:i + batch_size] for k, v in data.items()}
            ref, sec, _, mask = to_tensors(batch, device, channels_last=False)
            direct = model(ref, sec).offsets.float()
            cols = model(ref.flip(-1), sec.flip(-1)).offsets.float().flip(-1)
            rows = model(ref.flip(-2), sec.flip(-2)).offsets.float().flip(-2)
            valid = mask.float()  # the flipped runs' outputs are flipped back onto the same pixels
            sums[0] += float(((direct[:, 0:1] + cols[:, 0:1]) * valid).sum()) / 2
            sums[1] += float(((direct[:, 1:2] + rows[:, 1:2]) * valid).sum()) / 2
            count += float(valid.sum())
    finally:
        model.train(was_training)
    if count == 0:
        return 0.0, 0.0
    return float(sums[0] / count), float(sums[1] / count)


@torch.no_grad()
def prior_sigma_scales(model, data: dict, *, device=None, precision: str = "bf16", batch_size: int = 8,
                       angles: int = 31, max_pixels: int = 2_000_000,
                       least_squares: dict | None = None) -> tuple[float, float, float]:
    """Factors ``(a, b)`` and power ``p`` of a residual network's sigma
    ``sqrt((a s_net)**2 + (b s_prior**p)**2 + spread**2)``.

    A network that barely moves its tracker prior inherits the prior's error, which its own sigma
    (learnt on the small residual) does not follow from scene to scene; the tracker's error
    estimate does, in part. ``data`` must hold the validation pairs of the residual route with
    ``prior_sigma`` and ``prior_spread`` (`validation_set` with ``prior=True``). For each mixing
    angle ``t`` (``a : b = cos t : sin t``, ``angles`` values over 0..90 degrees) the overall scale is
    set so that `COVERAGE` of all errors lie within one sigma; the angle kept is the one whose
    coverage *per pair* strays least from `COVERAGE` on average (what a user of one scene sees);
    then, at that angle, the power ``p`` of the prior's sigma (`SIGMA_POWERS`) by the same rule.
    Pairs with fewer than 1000 valid pixels count in the overall scale only. Returns ``(1.0, 0.0,
    1.0)`` for a network without uncertainty. ``least_squares``: the offsets are refined first
    (`refine_offsets`), as scene inference will refine them.
    """
    if "prior_sigma" not in data:
        raise InputError("the prior's sigma is missing: validation pairs of the residual route are needed")
    errors, net, prior, spread, owner = [], [], [], [], []
    for i, part, offsets, log_var, target, mask in _uncertain_batches(model, data, device, precision, batch_size,
                                                                      least_squares):
        if log_var is None:
            return 1.0, 0.0, 1.0
        m = mask.expand_as(offsets).cpu()
        sample = torch.arange(i, i + offsets.shape[0]).view(-1, 1, 1, 1).expand_as(offsets)
        errors.append((offsets - target).abs().cpu()[m])
        net.append(torch.exp(0.5 * log_var).cpu()[m])
        prior.append(part["prior_sigma"].expand_as(offsets)[m])
        spread.append(part["prior_spread"][m])
        owner.append(sample[m])
    e, s_net, s_prior, s_gap, who = (torch.cat(x).double().numpy() for x in (errors, net, prior, spread, owner))
    if e.size > max_pixels:  # a fixed stride keeps every pair in
        keep = np.arange(0, e.size, -(-e.size // max_pixels))
        e, s_net, s_prior, s_gap, who = e[keep], s_net[keep], s_prior[keep], s_gap[keep], who[keep]
    return fit_sigma_mix(e, s_net, s_prior, s_gap, who.astype(int), angles=angles)


#: Powers of the prior's sigma that `fit_sigma_mix` tries. On the shipped network's validation pairs
#: (384 px) the per-pair stray from `COVERAGE` fell from 0.075 at power 1 to 0.067 at 1.2, and rose
#: again beyond (0.068 at 1.3, 0.086 at 1.5): the tracker's error estimate grows more slowly than
#: the errors do from easy to hard scenes.
SIGMA_POWERS = tuple(np.round(np.arange(0.8, 1.601, 0.05), 2))


def fit_sigma_mix(errors: np.ndarray, net_sigma: np.ndarray, prior_sigma: np.ndarray, spread: np.ndarray,
                  pair: np.ndarray, *, angles: int = 31, min_pixels: int = 1000,
                  powers: tuple[float, ...] = SIGMA_POWERS) -> tuple[float, float, float]:
    """The fit of `prior_sigma_scales` on flat arrays: absolute errors, the network's raw sigma, the
    prior's sigma, the gap spread (all per pixel and component) and the index of each value's pair.
    Returns ``(a, b, p)``; ``(1.0, 0.0, 1.0)`` without errors. ``powers=(1.0,)`` keeps the prior's
    sigma proportional."""
    if errors.size == 0:
        return 1.0, 0.0, 1.0
    counts = np.bincount(pair)
    judged = counts >= min_pixels

    def stray_of(base):
        scale = _coverage_scale(errors, base, spread)
        inside = errors <= np.hypot(scale * base, spread)
        per_pair = np.bincount(pair, weights=inside, minlength=counts.size)[judged] / counts[judged]
        return (float(np.mean(np.abs(per_pair - COVERAGE))) if per_pair.size else 0.0), scale

    best = None
    for t in np.linspace(0.0, 0.5 * np.pi, angles):
        stray, scale = stray_of(np.hypot(np.cos(t) * net_sigma, np.sin(t) * prior_sigma))
        if best is None or stray < best[0] - 1e-12:
            best = (stray, scale, t)
    _, scale, t = best
    power = 1.0
    if np.sin(t) > 1e-9:  # the prior's sigma has a weight: its power, at that mix
        positive = np.maximum(prior_sigma, 0.0)
        for p in powers:
            if p == 1.0:
                continue
            stray, s = stray_of(np.hypot(np.cos(t) * net_sigma, np.sin(t) * positive ** p))
            if stray < best[0] - 1e-12:
                best, scale, power = (stray, s, t), s, float(p)
    # cos(90 degrees) is not exactly 0: weights below 1e-9 of the scale are none
    a, b = (float(scale * v) if v > 1e-9 else 0.0 for v in (np.cos(t), np.sin(t)))
    return a, b, power


def _coverage_scale(errors: np.ndarray, base: np.ndarray, floor: np.ndarray) -> float:
    """``k`` with `COVERAGE` of ``errors`` within ``hypot(k base, floor)`` (bisection on log k)."""
    lo, hi = 1e-4, 1e4
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if np.mean(errors <= np.hypot(mid * base, floor)) < COVERAGE:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


def _metrics_of(pred: torch.Tensor, data: dict) -> dict:
    from sarflow.nn import flow_metrics, masked_huber_loss

    target = torch.nan_to_num(data["target"])
    mask = data["mask"]
    metrics = flow_metrics(pred, target, mask)
    metrics["loss"] = float(masked_huber_loss(pred, target, mask))
    return metrics


def _lr_lambda(config: TrainConfig):
    def factor(step):
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return factor


def _save_checkpoint(path: Path, *, model, optimizer, scheduler, config: TrainConfig, step: int, best: dict,
                     history: list, wall: float, command: str = "") -> None:
    state = {
        "format": "sarflow-checkpoint-1",
        "model_config": model.to_config(),
        "model_state": model.state_dict(),
        "optimizer_state": optimizer.state_dict(),
        "scheduler_state": scheduler.state_dict(),
        "train_config": config.to_dict(),
        "step": step,
        "best": best,
        "history": history,
        "wall_seconds": wall,
        "torch_rng": torch.get_rng_state(),
        "command": command,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _write_history(directory: Path, history: list[dict]) -> None:
    if not history:
        return
    keys = list(history[0])
    for row in history:
        keys += [k for k in row if k not in keys]
    with atomic_path(directory / "history.csv") as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(history)
    try:
        from sarflow.io.quicklook import pyplot_backend

        plt = pyplot_backend()
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
        steps = [r["step"] for r in history]
        axes[0].semilogy(steps, [r["train_loss"] for r in history], label="training loss")
        axes[0].semilogy(steps, [r["val_loss"] for r in history], label="validation loss")
        axes[0].set_xlabel("step")
        axes[0].legend()
        axes[1].plot(steps, [r["val_rmse"] for r in history], label="validation RMSE (px)")
        axes[1].plot(steps, [r["val_epe"] for r in history], label="validation EPE (px)")
        axes[1].set_xlabel("step")
        axes[1].legend()
        with atomic_path(directory / "learning_curves.png") as tmp:
            fig.savefig(tmp, dpi=100, format="png")
        plt.close(fig)
    except ImportError:  # pragma: no cover - matplotlib is a dependency; curves are a convenience
        pass


def initial_weights(model, checkpoint: str | Path) -> None:
    """Load the weights of an earlier run's checkpoint into ``model`` (the same network and settings)."""
    from sarflow.models import load_data_file

    path = Path(checkpoint)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file (init_from)")
    state = load_data_file(path, map_location="cpu", what="a training checkpoint")
    if not isinstance(state, dict) or "model_state" not in state or "model_config" not in state:
        raise InputError(f"{path}: not a sarflow training checkpoint (init_from needs best.pt or last.pt of a run)")
    saved, wanted = dict(state["model_config"]), model.to_config()
    if saved != wanted:
        if saved.get("name") != wanted.get("name"):
            what = f"{saved.get('name')!r}, not {wanted.get('name')!r}"
        else:
            what = ", ".join(f"{k}={saved.get(k)!r} (here {wanted.get(k)!r})" for k in sorted(set(saved) | set(wanted))
                             if saved.get(k) != wanted.get(k))
        raise InputError(f"{path} holds another network: {what}")
    model.load_state_dict(state["model_state"])


def train(config: TrainConfig, directory: str | Path, *, resume: bool = True, device: str | None = None,
          progress: Callable[[int, int, dict], None] | None = None, max_seconds: float | None = None,
          command: str = "") -> TrainResult:
    """Train a network; checkpoints, history.csv and learning_curves.png go to ``directory``.

    Parameters
    ----------
    config : TrainConfig
    directory : path
        Run folder. With ``resume`` and a ``last.pt`` there, training continues from it (the
        configuration must match).
    device : str, optional
        ``"cpu"``, ``"cuda"``, or auto.
    progress : callable ``(step, steps, metrics)``, optional
    max_seconds : float, optional
        Stop cleanly (with a checkpoint) after this much wall time, to continue in a later sitting.
    command : str
        The command line that started the run, recorded in checkpoints for the model card.

    Returns
    -------
    TrainResult
    """
    from sarflow.nn import build_model, gaussian_nll_loss, masked_huber_loss, multiscale_huber_loss

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    dev = select_device(device)
    torch.manual_seed(config.seed)
    model = build_model(config.model, **config.model_kwargs).to(dev)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config))
    step, best, history, wall_before = 0, {}, [], 0.0
    last = directory / "last.pt"
    if resume and last.exists():
        from sarflow.models import load_data_file  # torch.load(weights_only=True), errors naming the file

        state = load_data_file(last, map_location=dev, what="a training checkpoint")
        saved = TrainConfig.from_dict(state["train_config"])
        # The steps and patience may change between sittings; where the first weights came from no longer matters.
        if replace(saved, steps=config.steps, patience=config.patience, init_from=config.init_from) != config:
            raise InputError(f"{last} was written by a different configuration; use another directory or "
                             "resume=False to start over")
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        scheduler.load_state_dict(state["scheduler_state"])
        step, best, history, wall_before = state["step"], state["best"], state["history"], state["wall_seconds"]
        torch.set_rng_state(state["torch_rng"])
    elif config.init_from:
        initial_weights(model, config.init_from)
    with atomic_path(directory / "config.json") as tmp:
        tmp.write_text(json.dumps({"command": command, **config.to_dict()}, indent=2) + "\n")

    if config.dataset:
        from sarflow.training.tiles import TileBatches, load_tiles, read_tiles

        tiles = load_tiles(config.dataset)
        val = read_tiles(tiles["path"], np.arange(min(config.validation_size, tiles["count"] - 1)))
        batches = TileBatches(tiles, config.seed, config.batch_size, step, config.steps,
                              skip=config.validation_size)
    else:
        val = validation_set(config.recipe, config.validation_size, prior=config.prior)
        batches = _SyntheticBatches(config.recipe, config.seed, config.batch_size, step, config.steps,
                                    prior=config.prior, jitter=(config.prior_jitter_px, config.prior_jitter_share))
    if not history and config.prior:
        # The baseline the network must beat: the tracker prior alone (zero residual).
        zero = {k: v for k, v in val.items()}
        metrics = _metrics_of(torch.zeros_like(zero["target"]), zero)
        history.append({"step": 0, "train_loss": float("nan"), "lr": 0.0, "wall_seconds": 0.0,
                        **{f"val_{k}": v for k, v in metrics.items()}})
    loader = torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False,
                                         num_workers=config.loader_workers,
                                         prefetch_factor=2 if config.loader_workers else None,
                                         persistent_workers=False)
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    started = time.perf_counter()
    best_val = best.get("val_rmse", math.inf)
    stale = _stale_count(history, best_val)
    running, count = 0.0, 0
    stopped_early = False
    model.train()
    for batch in loader:
        if config.augment:
            # On amplitudes, before normalisation: symmetries, gains, extra speckle.
            parts = augment_batch(batch["reference"], batch["secondary"], batch["target"], batch["mask"],
                                  generator=generator)
            batch = dict(zip(("reference", "secondary", "target", "mask"), parts))
        ref, sec, target, mask = to_tensors(batch, dev, config.channels_last)
        offsets, log_var, pyramid = forward_pair(model, ref, sec, device=dev, precision=config.precision)
        # Huber divided by its delta: errors beyond delta pull with unit gradient, smaller ones with
        # error / delta, so the offsets' gradient is not dwarfed by the uncertainty term's (a plain
        # Huber of 0.1 px gives sub-pixel errors gradients ~20x smaller than the NLL's).
        loss = masked_huber_loss(offsets, target, mask, delta=config.huber_delta) / config.huber_delta
        if pyramid and config.pyramid_weight > 0:
            coarse = multiscale_huber_loss(pyramid, target, mask, delta=config.huber_delta)
            loss = loss + config.pyramid_weight * coarse / config.huber_delta
        if log_var is not None and config.nll_weight > 0:
            loss = loss + config.nll_weight * gaussian_nll_loss(offsets.detach(), log_var, target, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        scheduler.step()
        step += 1
        running += loss.item()
        count += 1
        if step % config.eval_every == 0 or step == config.steps:
            metrics = evaluate_model(model, val, device=dev, precision=config.precision,
                                     channels_last=config.channels_last,
                                     constant=validation_constant(model, val, config))
            wall = wall_before + time.perf_counter() - started
            row = {"step": step, "train_loss": running / max(count, 1), "lr": scheduler.get_last_lr()[0],
                   "wall_seconds": round(wall, 1), **{f"val_{k}": v for k, v in metrics.items()}}
            history.append(row)
            running, count = 0.0, 0
            improved = metrics["rmse"] < best_val
            if improved:
                best_val = metrics["rmse"]
                best = {"step": step, **{f"val_{k}": v for k, v in metrics.items()}}
                stale = 0
            else:
                stale += 1
            _save_checkpoint(last, model=model, optimizer=optimizer, scheduler=scheduler, config=config, step=step,
                             best=best, history=history, wall=wall, command=command)
            if improved:
                _save_checkpoint(directory / "best.pt", model=model, optimizer=optimizer, scheduler=scheduler,
                                 config=config, step=step, best=best, history=history, wall=wall, command=command)
            _write_history(directory, history)
            if progress is not None:
                progress(step, config.steps, row)
            if config.patience and stale >= config.patience:
                stopped_early = True
                break
            if max_seconds is not None and time.perf_counter() - started > max_seconds:
                break
        elif progress is not None:
            progress(step, config.steps, {})
    wall = wall_before + time.perf_counter() - started
    return TrainResult(directory=directory, best_checkpoint=directory / "best.pt", last_checkpoint=last,
                       steps_done=step, best_metrics=best, history=history, stopped_early=stopped_early,
                       wall_seconds=wall)


def _stale_count(history: list[dict], best_val: float) -> int:
    stale = 0
    for row in reversed(history):
        if row.get("val_rmse", math.inf) <= best_val:
            break
        stale += 1
    return stale


def default_loader_workers() -> int:
    """One simulation process beside the optimiser on small machines, more on larger ones."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))
