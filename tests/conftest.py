"""Shared test fixtures: where the optional real data lives; tiny exported weights."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the project; tests using it skip cleanly where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def envisat_pair(shared_data):
    """The Envisat SLC (complex) and its copy resampled by a known warp, with the truth in our convention:
    ``(reference, secondary, true_dx, true_dy)``; see ``../shared/data/README.md``."""
    import numpy as np

    from sarflow.io import read_raster

    d = shared_data / "envisat"
    reference = read_raster(f"{d}/envisat.h5:/science/LSAR/SLC/swaths/frequencyA/HH").data
    secondary = read_raster(d / "warped_envisat.slc.vrt").data
    true_dx = -np.fromfile(d / "offsets" / "range.off", "<f4").reshape(500, 500)
    true_dy = -np.fromfile(d / "offsets" / "azimuth.off", "<f4").reshape(500, 500)
    return reference, secondary, true_dx, true_dy


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """An untrained CC-ResSiamNet with 4 base channels, exported in the shipped weights format."""
    torch = pytest.importorskip("torch")
    from sarflow.nn import build_model
    from sarflow.training.export import export_model

    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    net = build_model("ccressiamnet", base_channels=4, depth=2)
    torch.save({"format": "sarflow-checkpoint-1", "model_config": net.to_config(), "model_state": net.state_dict(),
                "train_config": {"seed": 0}, "step": 0}, folder / "checkpoint.pt")
    return export_model(folder / "checkpoint.pt", folder / "tiny.pt", measure_overlap=False)
