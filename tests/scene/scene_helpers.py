"""Small seeded networks and scenes for the scene-job tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sarflow.io import write_geotiff
from sarflow.nn import build_model
from sarflow.scene.inference import InferenceConfig
from sarflow.simulation.fields import SmoothField
from sarflow.simulation.pair import simulate_pair

#: Tiling small enough that a 160-pixel scene has several tiles and blocks.
SMALL_TILES = dict(tile_size=64, overlap=16, precision="fp32", device="cpu")


def loud_model(base_channels: int = 8, depth: int = 3):
    """A small untrained network whose heads are scaled so its outputs vary by pixels, not micro-pixels."""
    torch.manual_seed(0)
    model = build_model("ccressiamnet", base_channels=base_channels, depth=depth).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "head" in name and p.ndim == 4:
                p.mul_(300.0)
    return model


def export_weights(model, folder: Path) -> Path:
    """``model`` saved as exported weights (what `--model PATH` takes)."""
    from sarflow.training.export import export_model

    checkpoint = folder / "checkpoint.pt"
    torch.save({"format": "sarflow-checkpoint-1", "model_config": model.to_config(),
                "model_state": model.state_dict(), "train_config": {"seed": 0}, "step": 1}, checkpoint)
    return export_model(checkpoint, folder / "tiny.pt", measure_overlap=False)


def small_pair(shape=(160, 176), *, seed: int = 3, amplitude_px: float = 0.8):
    pair = simulate_pair(SmoothField(amplitude_px=amplitude_px, correlation_px=40, seed=seed), shape=shape, seed=seed)
    return pair.reference, pair.secondary


def write_pair(folder: Path, reference: np.ndarray, secondary: np.ndarray, **kwargs) -> tuple[Path, Path]:
    ref = write_geotiff(folder / "ref.tif", {"amplitude": reference}, **kwargs)
    sec = write_geotiff(folder / "sec.tif", {"amplitude": secondary}, **kwargs)
    return ref, sec


def small_config(**changes) -> InferenceConfig:
    return InferenceConfig(**{**SMALL_TILES, **changes})
