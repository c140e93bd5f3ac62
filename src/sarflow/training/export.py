"""Export a training checkpoint as small shipped weights with a model card."""

from __future__ import annotations

import json
from pathlib import Path

from sarflow._version import __version__
from sarflow.errors import InputError
from sarflow.io.atomic import atomic_path, check_writable

__all__ = ["export_model"]


def _plain(value, where: str = "weights"):
    """``value`` as tensors, dicts, lists, tuples, strings, numbers, booleans and None only.

    These are what ``torch.load(..., weights_only=True)`` accepts; NumPy scalars become
    Python numbers. Anything else is refused rather than pickled.
    """
    import numpy as np
    import torch

    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise InputError(f"{where} holds a {type(value).__name__}, which a weights file may not contain")


def _card(name: str, state: dict, extra_metrics: dict | None, size_bytes: int, sha256: str = "") -> str:
    config = state["train_config"]
    best = state.get("best", {})
    recipe = config.get("recipe", {})
    lines = [
        f"# Model card: {name}",
        "",
        f"Network: `{state['model_config'].get('name')}` with `{json.dumps(state['model_config'].get('kwargs', {}))}`,"
        f" {state.get('parameters', 0):,} parameters, weights stored in float16 ({size_bytes / 1e6:.1f} MB).",
        "",
        "## Training",
        f"- Command: `{state.get('command') or 'sarflow train (command not recorded)'}`",
        f"- Seed: {config.get('seed')}; steps done: {state.get('step')} of {config.get('steps')}; batch size "
        f"{config.get('batch_size')}; AdamW lr {config.get('learning_rate')}, cosine schedule; precision "
        f"{config.get('precision')}",
        f"- Wall time: {state.get('wall_seconds', 0) / 3600:.2f} h",
        "- Data: " + (f"tile dataset `{config['dataset']}`" if config.get("dataset") else
                      "simulated pairs made on the fly by `sarflow.training.synthetic` (seed range 'train'), "
                      f"recipe `{json.dumps(recipe)}`"),
        "- Validation: fixed simulated pairs from the 'validation' seed range (never trained on).",
    ]
    if config.get("init_from"):
        origin = state.get("init_origin")
        if origin and origin.get("command"):
            lines.append(f"- Initialised from the weights of `{config['init_from']}`, step {origin.get('step')} of "
                         f"the run `{origin['command']}` ({origin.get('wall_seconds', 0) / 3600:.2f} h).")
        else:
            lines.append(f"- Initialised from the weights of `{config['init_from']}` (an earlier run; its own card "
                         "or config.json gives its command).")
    if config.get("prior"):
        baseline = next((row for row in state.get("history", []) if row.get("step") == 0), {})
        lines.append("- Input: the residual after the multi-kernel tracker prior (`--prior`, "
                     "`sarflow.tracking.prior`); `sarflow predict` runs the same prior before the network: "
                     + _prior_description(int(recipe.get("patch_size", 128))) + ".")
        if config.get("prior_jitter_px"):
            lines.append(f"- Prior perturbation in training: smooth fields of up to {config['prior_jitter_px']} px on "
                         f"{config.get('prior_jitter_share', 0.5):.0%} of the samples (`--prior-jitter-px`); "
                         "validation pairs unperturbed.")
        if "val_rmse" in baseline:
            lines.append(f"- Baseline: the tracker prior alone on the validation pairs has RMSE "
                         f"{baseline['val_rmse']:.4f} px, EPE {baseline.get('val_epe', float('nan')):.4f} px, "
                         f"{baseline.get('val_under_0.1', float('nan')):.1%} of errors under 0.1 px.")
    refine = state.get("least_squares")
    if refine:
        lines.append(f"- Least-squares refinement (`sarflow.tracking.lsq`, chosen at export with `--least-squares`; no "
                     f"trained weights): after the network, its residual is fused with a dense least-squares "
                     f"(Lucas-Kanade) residual of the reference and the resampled secondary, Gaussian window "
                     f"{refine['sigma']:g} px, kept where it differs from the network's by more than its noise "
                     f"(shrinkage kappa {refine['kappa']:g} over {refine['power_sigma']:g} px); the uncertainty "
                     "below is fitted on the refined offsets. `sarflow predict --no-least-squares` leaves it out.")
    if "sigma_scale" in best:
        side = CALIBRATION_SIDE if config.get("prior") and recipe.get("patch_size", 0) < CALIBRATION_SIDE else \
            recipe.get("patch_size")
        if best.get("prior_sigma_scale"):
            a, b = best["sigma_scale"], best["prior_sigma_scale"]
            p = best.get("prior_sigma_power", 1.0)
            power = "" if p == 1.0 else f"^{p:g}"
            terms = (f"({a:.4f} x the predicted sigma)^2 + " if a > 0 else "") + \
                f"({b:.4f} x the tracker prior's sigma_px{power})^2 + gap spread^2"
            lines.append(f"- Uncertainty: sigma = sqrt({terms}), sigma_px in pixels, fitted at export on the "
                         f"validation pairs ({side} px): 68.27 % of their errors within one sigma, with the mix of "
                         "the network's and the prior's sigma, then the power of the prior's, that strays least "
                         "from it pair by pair (`sarflow.training.loop.prior_sigma_scales`)"
                         + ("; the network's own sigma got no weight: it does not follow the errors from pair "
                            "to pair." if a == 0 else "."))
        else:
            lines.append(f"- Uncertainty: the predicted sigma is multiplied by {best['sigma_scale']:.4f}, fitted at "
                         f"export so that 68.27 % of the errors on the validation pairs ({side} px) lie within one "
                         "sigma.")
    constant = state.get("constant_offset")
    if constant:
        what = (f"removed from the last offset head's bias (`{constant['parameter']}`)" if constant["removed"]
                else "not removed (this network has no final offset bias to take it from)")
        lines.append(f"- Constant output: dx {constant['dx']:+.4f} px, dy {constant['dy']:+.4f} px, measured at export "
                     f"by flipping {constant['pairs']} validation pairs (offsets must turn with the images, so it "
                     f"should be zero; `sarflow.training.loop.constant_offset`); {what}.")
    measured = state.get("overlap_measurement")
    if measured:
        errors = ", ".join(f"{k} px: {v:.4f}" for k, v in measured["errors_px"].items())
        if measured["overlap"] is not None:
            lines.append(f"- Tiling: scene inference overlaps tiles by {measured['overlap']} px, the smallest overlap "
                         f"whose seams stay within {measured['tolerance_px']} px of a single tile (largest "
                         f"difference per overlap tried: {errors}; `sarflow.scene.context`).")
        else:
            lines.append(f"- Tiling: no overlap tried kept seams within {measured['tolerance_px']} px ({errors}); "
                         "scene inference overlaps tiles by the receptive field (at most half a tile).")
    lines += [
        "",
        "## Metrics",
        f"Validation at the best step ({best.get('step')}):",
        "",
        "| metric | value |",
        "|---|---:|",
    ]
    for key, value in best.items():
        if key != "step":
            lines.append(f"| {key} | {value:.4f} |" if isinstance(value, float) else f"| {key} | {value} |")
    if extra_metrics:
        lines += ["", "Held-out test set (benchmark):", ""]
        lines += _heldout_table(extra_metrics)
        lines += ["```", json.dumps(extra_metrics, indent=2), "```"]
    lines += ["", f"Exported by sarflow {__version__}."]
    if sha256:
        lines += ["", f"SHA-256 of `{name}.pt`: `{sha256}` (also in `checksums.json`, checked when the weights load)."]
    lines += [""]
    return "\n".join(lines)


def _prior_description(patch_size: int) -> str:
    """The residual route's prior settings, as scenes and as the training patches get them."""
    from sarflow.scene.coarse import RESAMPLE_KERNEL, coarse_track_config
    from sarflow.tracking.subpixel import BALANCE_SPAN, KAISER_BETA
    from sarflow.training.synthetic import prior_config

    config = prior_config()

    def chips(side):
        return ", ".join(str(c) for c in coarse_track_config((side, side), config).chip_sizes)

    full = chips(1 << 16)
    smallest = next(side for side in range(config.chip_size, 1 << 16, 8) if chips(side) == full)
    smoothing = ", adaptively smoothed (`sarflow.tracking.gridops.adaptive_smooth`)" \
        if config.smoothing == "adaptive" else ""
    kernel = {"sinc": "a Kaiser-windowed sinc, 8 x 8 taps", "keys": "Keys cubic convolution"}[RESAMPLE_KERNEL]
    return (f"grid step {config.step}, chips {full} px in scenes of {smallest} px or more a side (the "
            f"{patch_size} px training patches: {chips(patch_size)} px), sub-pixel window beta {KAISER_BETA:g}, "
            f"span {BALANCE_SPAN:g} px{smoothing}; the secondary resampled by it with {kernel} "
            f"(`sarflow.scene.coarse.resample`)")


def _heldout_table(metrics: dict) -> list[str]:
    """RMSE table of `benchmarks/bench_network.py`'s JSON (empty for other metrics)."""
    if not all(isinstance(v, dict) and "tracker" in v for v in metrics.values()):
        return []
    labels = {"tracker": "tracker", "prior_on_tracker_points": "prior alone, tracker's points",
              "network_on_tracker_points": "network, tracker's points", "network_pixels": "network, every pixel"}
    columns = [key for key in labels if any(key in v for v in metrics.values())]
    repeats = "/".join(map(str, sorted({v.get("repeats", 1) for v in metrics.values()})))
    out = [f"RMSE of the vector error, pixels ({repeats} scene(s) per scenario; sharp: where the offset changes "
           "by more than 0.05 px per pixel; near: within 12 px of those points):", "",
           "| scenario | " + " | ".join(labels[key] for key in columns) + " | network within 1 sigma |",
           "|---|" + "---:|" * (len(columns) + 1)]
    for scenario, v in metrics.items():
        cells = []
        for key in columns:
            m = v.get(key, {})
            sharp = m.get("rmse_sharp", float("nan"))
            near = m.get("rmse_near", float("nan"))
            notes = [f"{label} {value:.3f}" for label, value in (("sharp", sharp), ("near", near)) if value == value]
            cells.append(f"{m.get('rmse', float('nan')):.3f}" + (f" ({', '.join(notes)})" if notes else ""))
        within = v.get("network_pixels", {}).get("within_1_sigma")
        cells.append(f"{within:.1%}" if within is not None else "")
        out.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return out + [""]


#: Side of the validation pairs the sigma of a tracker-prior network is calibrated on, pixels (the
#: prior's full chip set needs scenes of 256 px or more).
CALIBRATION_SIDE = 384


def _calibration(state: dict, least_squares: dict | None = None) -> tuple[float, float, float]:
    """Sigma factors ``(sigma_scale, prior_sigma_scale)`` and ``prior_sigma_power`` of the checkpoint's
    network on its own validation pairs (`sarflow.training.loop.sigma_scale`; `prior_sigma_scales` on
    the residual route)."""
    from sarflow.nn import model_from_config
    from sarflow.training.loop import TrainConfig, prior_sigma_scales, sigma_scale, validation_set

    if "recipe" not in state["train_config"]:
        return 1.0, 0.0, 1.0  # not written by `sarflow train`: no record of the data to calibrate on
    config = TrainConfig.from_dict(state["train_config"])
    model = model_from_config(state["model_config"])
    model.load_state_dict(state["model_state"])
    if not getattr(model, "uncertainty", False) or config.dataset:
        return 1.0, 0.0, 1.0
    recipe = config.recipe
    if config.prior and recipe.patch_size < CALIBRATION_SIDE:
        # The prior of a scene is stronger than that of a small training patch (its chip set grows
        # with the scene, `sarflow.training.synthetic.prior_config`), so its residuals are smaller:
        # calibrate on validation pairs of scene size, where the network will be used.
        from dataclasses import replace

        recipe = replace(recipe, patch_size=CALIBRATION_SIDE)
    data = validation_set(recipe, config.validation_size, prior=config.prior)
    if config.prior:
        return prior_sigma_scales(model, data, precision=config.precision, least_squares=least_squares)
    return sigma_scale(model, data, precision=config.precision), 0.0, 1.0


def _remove_constant_offset(state: dict) -> dict | None:
    """Measure the network's constant output (`sarflow.training.loop.constant_offset`) on its run's
    validation pairs and, for a network whose offsets end with a head bias
    (`sarflow.training.loop.OUTPUT_BIASES`), remove it from that bias in ``state["model_state"]``.
    Returns the measurement (None: not measured). Validation in training subtracts the same
    measurement (`sarflow.training.loop.validation_constant`)."""
    from sarflow.nn import model_from_config
    from sarflow.training.loop import CONSTANT_PAIRS, TrainConfig, constant_offset, output_bias_name, validation_set

    if "recipe" not in state["train_config"]:
        return None
    config = TrainConfig.from_dict(state["train_config"])
    if config.dataset:
        return None
    model = model_from_config(state["model_config"])
    model.load_state_dict(state["model_state"])
    data = validation_set(config.recipe, min(CONSTANT_PAIRS, config.validation_size), prior=config.prior)
    c_dx, c_dy = constant_offset(model, data)
    name = output_bias_name(state["model_state"])
    if name is not None:
        bias = state["model_state"][name]
        state["model_state"] = {**state["model_state"], name: bias - bias.new_tensor([c_dx, c_dy])}
    return {"dx": c_dx, "dy": c_dy, "removed": name is not None, "parameter": name,
            "pairs": int(data["reference"].shape[0])}


def _init_origin(path) -> dict | None:
    """Command, step and wall time of the checkpoint a run started from (``--init-from``), if it is still there."""
    from sarflow.models import load_data_file

    if not path or not Path(path).is_file():
        return None
    try:
        origin = load_data_file(path, what="a training checkpoint")
    except InputError:
        return None
    if not isinstance(origin, dict):
        return None
    return {"command": str(origin.get("command", "")), "step": origin.get("step"),
            "wall_seconds": float(origin.get("wall_seconds", 0.0) or 0.0)}


def _overlap(state: dict) -> dict:
    """Tile overlap the checkpoint's network needs for invisible seams (`sarflow.scene.context`)."""
    from sarflow.nn import model_from_config
    from sarflow.scene.context import measure_overlap

    model = model_from_config(state["model_config"])
    model.load_state_dict(state["model_state"])
    return measure_overlap(model.eval()).to_dict()


def export_model(checkpoint: str | Path, output: str | Path, *, extra_metrics: dict | None = None,
                 overwrite: bool = False, calibrate: bool = True, measure_overlap: bool = True,
                 least_squares=None) -> Path:
    """Write ``output`` (``NAME.pt``: float16 weights + network config) and ``NAME.md`` beside it.

    The weights file holds only tensors, dicts, lists, strings and numbers, so it loads with
    ``torch.load(..., weights_only=True)``; its SHA-256 goes into the card and into
    ``checksums.json`` in the same folder (other entries kept), which `sarflow.models.load_model`
    checks.

    Parameters
    ----------
    checkpoint : path
        A ``best.pt`` / ``last.pt`` written by `sarflow.training.train`.
    output : path
        Target ``.pt`` file (e.g. ``src/sarflow/models/ccressiamnet.pt``).
    extra_metrics : dict, optional
        Further metrics for the card (e.g. the held-out benchmark's).
    overwrite : bool
        Replace existing weights and card; without it they are refused before any work.
    calibrate : bool
        Fit the factor that calibrates the network's sigma on the run's validation pairs (stored as
        ``sigma_scale``; `sarflow.models.load_model` applies it), for simulated-data runs; on the
        residual route also the weight of the tracker prior's own error and its power
        (``prior_sigma_scale``, ``prior_sigma_power``, `sarflow.training.loop.prior_sigma_scales`).
        Before that, the network's constant output is measured on 16 validation pairs
        (`sarflow.training.loop.constant_offset`) and taken from its last offset head's bias
        (`sarflow.training.loop.OUTPUT_BIASES`); the card states it.
    measure_overlap : bool
        Measure the tile overlap that keeps tiled inference within 0.005 px of one tile
        (`sarflow.scene.context.measure_overlap`, two to three minutes for the default network on
        one core) and store it as ``tile_overlap``; scene inference then uses it instead of the
        receptive field. Without it (or if no candidate passes) the receptive field is used.
    least_squares : `sarflow.tracking.lsq.LeastSquaresConfig` or dict, optional
        Store these settings of the least-squares refinement of the residual (networks on the
        tracker prior only); scene inference then fuses the network's residual with it, and the
        uncertainty is calibrated on the refined offsets. The card states it.

    Raises
    ------
    OutputExistsError
        The weights or the card exist and ``overwrite`` is False.
    InputError
        A missing output folder, an output not ending in ``.pt``, or a checkpoint that is not a
        sarflow training checkpoint.
    """
    import torch

    from sarflow.models import load_data_file, record_checksum

    checkpoint, output = Path(checkpoint), Path(output)
    if output.suffix != ".pt":
        raise InputError(f"{output}: weights must be written to a .pt file")
    for path in (output, output.with_suffix(".md")):
        check_writable(path, overwrite=overwrite)
    if not checkpoint.is_file():
        raise InputError(f"{checkpoint}: no such checkpoint file")
    state = load_data_file(checkpoint, what="a training checkpoint")
    if not isinstance(state, dict) or state.get("format") != "sarflow-checkpoint-1":
        raise InputError(f"{checkpoint}: not a sarflow training checkpoint")
    missing = [k for k in ("model_config", "model_state", "train_config", "step") if k not in state]
    if missing or not isinstance(state["model_state"], dict) or not all(
            isinstance(v, torch.Tensor) for v in state["model_state"].values()):
        raise InputError(f"{checkpoint}: incomplete training checkpoint (missing {', '.join(missing) or 'weights'})")
    if least_squares is not None:
        from sarflow.tracking.lsq import LeastSquaresConfig

        if not isinstance(least_squares, LeastSquaresConfig):
            least_squares = LeastSquaresConfig.from_dict(least_squares)
        if not state["train_config"].get("prior"):
            raise InputError(f"{checkpoint}: the least-squares refinement needs a network trained on the tracker "
                             "prior (sarflow train --prior)")
        least_squares = least_squares.to_dict()
    state["least_squares"] = least_squares
    state["constant_offset"] = _remove_constant_offset(state) if calibrate else None
    weights = {k: v.half() if v.is_floating_point() else v for k, v in state["model_state"].items()}
    state["parameters"] = int(sum(v.numel() for k, v in state["model_state"].items()
                                  if v.is_floating_point() and "running" not in k and "num_batches" not in k))
    state["init_origin"] = _init_origin(state["train_config"].get("init_from"))
    scale, prior_scale, prior_power = _calibration(state, least_squares) if calibrate else (1.0, 0.0, 1.0)
    state.setdefault("best", {})
    state["best"] = {**state["best"], "sigma_scale": scale, "prior_sigma_scale": prior_scale,
                     "prior_sigma_power": prior_power}
    state["overlap_measurement"] = _overlap(state) if measure_overlap else None
    tile_overlap = state["overlap_measurement"]["overlap"] if state["overlap_measurement"] else None
    shipped = _plain({
        "format": "sarflow-weights-1",
        "model_config": state["model_config"],
        "state_dict": weights,
        "train_config": state["train_config"],
        "command": state.get("command", ""),
        "step": state["step"],
        "best": state.get("best", {}),
        "wall_seconds": state.get("wall_seconds", 0.0),
        "sigma_scale": scale,
        "prior_sigma_scale": prior_scale,
        "prior_sigma_power": prior_power,
        "tile_overlap": tile_overlap,
        "overlap_measurement": state["overlap_measurement"],
        "least_squares": least_squares,
        "constant_offset": state["constant_offset"],
        "sarflow_version": __version__,
    })
    with atomic_path(output) as tmp:
        torch.save(shipped, tmp)
        torch.load(tmp, map_location="cpu", weights_only=True)  # the format promise, checked before the rename
    sha256 = record_checksum(output)
    card = _card(output.stem, state, extra_metrics, output.stat().st_size, sha256)
    with atomic_path(output.with_suffix(".md")) as tmp:
        tmp.write_text(card)
    return output
