"""Export a training checkpoint as small shipped weights with a model card."""

from __future__ import annotations

import json
from pathlib import Path

from sarflow._version import __version__
from sarflow.errors import InputError
from sarflow.io.atomic import atomic_path

__all__ = ["export_model"]


def _card(name: str, state: dict, extra_metrics: dict | None, size_bytes: int) -> str:
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
        lines += ["", "Held-out test set (benchmark):", "", "```", json.dumps(extra_metrics, indent=2), "```"]
    lines += ["", f"Exported by sarflow {__version__}.", ""]
    return "\n".join(lines)


def export_model(checkpoint: str | Path, output: str | Path, *, extra_metrics: dict | None = None) -> Path:
    """Write ``output`` (``NAME.pt``: float16 weights + network config) and ``NAME.md`` beside it.

    Parameters
    ----------
    checkpoint : path
        A ``best.pt`` / ``last.pt`` written by `sarflow.training.train`.
    output : path
        Target ``.pt`` file (e.g. ``src/sarflow/models/ccressiamnet.pt``).
    extra_metrics : dict, optional
        Further metrics for the card (e.g. the held-out benchmark's).
    """
    import torch

    checkpoint, output = Path(checkpoint), Path(output)
    if output.suffix != ".pt":
        raise InputError(f"{output}: weights must be written to a .pt file")
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise InputError(f"{checkpoint}: cannot be read as a training checkpoint ({exc})") from exc
    if not isinstance(state, dict) or state.get("format") != "sarflow-checkpoint-1":
        raise InputError(f"{checkpoint}: not a sarflow training checkpoint")
    weights = {k: v.half() if v.is_floating_point() else v for k, v in state["model_state"].items()}
    state["parameters"] = int(sum(v.numel() for k, v in state["model_state"].items()
                                  if v.is_floating_point() and "running" not in k and "num_batches" not in k))
    shipped = {
        "format": "sarflow-weights-1",
        "model_config": state["model_config"],
        "state_dict": weights,
        "train_config": state["train_config"],
        "command": state.get("command", ""),
        "step": state["step"],
        "best": state.get("best", {}),
        "wall_seconds": state.get("wall_seconds", 0.0),
        "sarflow_version": __version__,
    }
    with atomic_path(output) as tmp:
        torch.save(shipped, tmp)
    card = _card(output.stem, state, extra_metrics, output.stat().st_size)
    with atomic_path(output.with_suffix(".md")) as tmp:
        tmp.write_text(card)
    return output
