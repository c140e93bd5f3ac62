"""Shipped network weights and their model cards.

Weights live beside this file as ``NAME.pt`` (float16 state dict plus the network's configuration)
with ``NAME.md``, the model card: data recipe, training command, seed, wall time and metrics. They
are made by ``sarflow train`` and ``sarflow export-model`` (see the card for the exact commands).
"""

from __future__ import annotations

from pathlib import Path

from sarflow.errors import InputError

__all__ = ["DEFAULT_MODEL", "available_models", "model_path", "load_model"]

DEFAULT_MODEL = "ccressiamnet"
_HERE = Path(__file__).resolve().parent


def available_models() -> list[str]:
    """Names of the shipped weights."""
    return sorted(p.stem for p in _HERE.glob("*.pt"))


def model_path(name: str = DEFAULT_MODEL) -> Path:
    """Path of shipped weights ``name``, or of a weights file given by path."""
    candidate = Path(name)
    if candidate.suffix == ".pt" and candidate.exists():
        return candidate
    path = _HERE / f"{name}.pt"
    if not path.exists():
        shipped = ", ".join(available_models()) or "none"
        raise InputError(f"no model {name!r} (shipped: {shipped}); train one with `sarflow train` and export it "
                         "with `sarflow export-model`, or pass the path of a .pt file")
    return path


def load_model(name: str = DEFAULT_MODEL, *, device: str = "cpu"):
    """Build the network of shipped (or exported) weights and load them, in eval mode, float32."""
    import torch

    from sarflow.nn import model_from_config

    path = model_path(name)
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:
        raise InputError(f"{path}: cannot be read as sarflow weights ({exc})") from exc
    if not isinstance(state, dict) or state.get("format") != "sarflow-weights-1":
        raise InputError(f"{path}: not a sarflow weights file")
    model = model_from_config(state["model_config"])
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["state_dict"].items()})
    return model.to(device).eval()
