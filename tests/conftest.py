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
