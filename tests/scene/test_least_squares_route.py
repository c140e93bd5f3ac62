"""The least-squares refinement on the tracker-prior route: export, loading and scene inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sarflow.errors import InputError
from sarflow.nn import build_model
from sarflow.scene.predict import predict_arrays
from sarflow.simulation.fields import SmoothField
from sarflow.simulation.pair import ImagingConfig, simulate_pair
from sarflow.tracking.lsq import LeastSquaresConfig

from scene_helpers import small_config


def silent_model():
    """A small network whose offset heads are zero: on the prior route it reproduces its prior."""
    torch.manual_seed(0)
    model = build_model("ccressiamnet", base_channels=4, depth=2).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "heads" in name:
                p.zero_()
    model.prior_input = True
    return model


@pytest.fixture(scope="module")
def smooth_pair():
    field = SmoothField(amplitude_px=0.35, correlation_px=60, seed=11)
    return simulate_pair(field, shape=(320, 320), imaging=ImagingConfig(coherence=0.9, snr_db=25.0), seed=11)


def rmse(dx, dy, pair, margin=32):
    s = (slice(margin, -margin), slice(margin, -margin))
    return float(np.sqrt(np.nanmean((dx[s] - pair.dx[s]) ** 2 + (dy[s] - pair.dy[s]) ** 2)))


def test_the_refinement_lowers_the_error_of_a_network_that_keeps_its_prior(smooth_pair):
    model = silent_model()
    config = small_config(tile_size=128, overlap=32)
    plain = predict_arrays(model, smooth_pair.reference, smooth_pair.secondary, config=config, search_radius=8)
    model.least_squares = LeastSquaresConfig().to_dict()
    refined = predict_arrays(model, smooth_pair.reference, smooth_pair.secondary, config=config, search_radius=8)
    before, after = rmse(plain["dx"], plain["dy"], smooth_pair), rmse(refined["dx"], refined["dy"], smooth_pair)
    assert after < 0.9 * before
    assert np.isfinite(refined["dx"]).mean() == pytest.approx(np.isfinite(plain["dx"]).mean())
    # switched off at inference: exactly the network's own offsets
    off = predict_arrays(model, smooth_pair.reference, smooth_pair.secondary,
                         config=small_config(tile_size=128, overlap=32, least_squares=False), search_radius=8)
    np.testing.assert_array_equal(off["dx"], plain["dx"])
    np.testing.assert_array_equal(off["dy"], plain["dy"])


def test_blocks_and_one_window_agree(smooth_pair):
    """Blocks refine on their tiles' window, which reaches past the block: the same values as one block."""
    model = silent_model()
    model.least_squares = LeastSquaresConfig(sigma=8, power_sigma=16).to_dict()
    config = small_config(tile_size=128, overlap=32)
    whole = predict_arrays(model, smooth_pair.reference, smooth_pair.secondary, config=config, search_radius=8)
    split = predict_arrays(model, smooth_pair.reference, smooth_pair.secondary, config=config, search_radius=8,
                           processes=2)
    assert np.nanmax(np.abs(whole["dx"] - split["dx"])) < 0.02
    assert np.nanmax(np.abs(whole["dy"] - split["dy"])) < 0.02


def _checkpoint(folder, prior: bool):
    model = silent_model()
    path = folder / ("prior.pt" if prior else "plain.pt")
    torch.save({"format": "sarflow-checkpoint-1", "model_config": model.to_config(), "model_state": model.state_dict(),
                "train_config": {"seed": 0, "prior": prior}, "step": 1}, path)
    return path


def test_export_stores_the_settings_and_loading_restores_them(tmp_path):
    from sarflow.models import load_model
    from sarflow.training.export import export_model

    config = LeastSquaresConfig(sigma=24)
    weights = export_model(_checkpoint(tmp_path, True), tmp_path / "lsq.pt", measure_overlap=False,
                           least_squares=config)
    model = load_model(str(weights))
    assert model.prior_input
    assert LeastSquaresConfig.from_dict(model.least_squares) == config
    assert "Least-squares refinement" in weights.with_suffix(".md").read_text()
    plain = export_model(_checkpoint(tmp_path, True), tmp_path / "plain.pt", measure_overlap=False)
    assert load_model(str(plain)).least_squares is None


def test_export_refuses_the_refinement_off_the_prior_route(tmp_path):
    from sarflow.training.export import export_model

    with pytest.raises(InputError, match="trained on the tracker prior"):
        export_model(_checkpoint(tmp_path, False), tmp_path / "out.pt", measure_overlap=False,
                     least_squares=LeastSquaresConfig())
    assert not (tmp_path / "out.pt").exists()


def test_corrupt_stored_settings_are_refused(tmp_path):
    from sarflow.models import load_model, record_checksum
    from sarflow.training.export import export_model

    weights = export_model(_checkpoint(tmp_path, True), tmp_path / "lsq.pt", measure_overlap=False,
                           least_squares=LeastSquaresConfig())
    state = torch.load(weights, weights_only=True)
    state["least_squares"] = {"sigma": -3.0}
    torch.save(state, weights)
    record_checksum(weights)
    with pytest.raises(InputError, match="corrupt least-squares settings"):
        load_model(str(weights))


def test_calibration_batches_see_the_refined_offsets():
    from sarflow.training.loop import refine_offsets

    pair = simulate_pair(SmoothField(amplitude_px=0.0, correlation_px=60, seed=1), shape=(96, 96), seed=2)
    reference = torch.from_numpy(pair.reference)[None, None]
    secondary = torch.from_numpy(pair.secondary)[None, None]
    zero = torch.zeros(1, 2, 96, 96)
    out = refine_offsets(zero, reference, secondary, LeastSquaresConfig(sigma=8, power_sigma=16).to_dict())
    assert out.shape == zero.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    # no motion: the refinement stays near zero
    assert float(out.abs().mean()) < 0.05
    # a small shift the base misses: the refined offsets take it up
    from sarflow.simulation.fields import UniformShift

    moved = simulate_pair(UniformShift(0.12, -0.08), shape=(96, 96), imaging=ImagingConfig(coherence=0.95), seed=3)
    out = refine_offsets(zero, torch.from_numpy(moved.reference)[None, None],
                         torch.from_numpy(moved.secondary)[None, None],
                         LeastSquaresConfig(sigma=8, power_sigma=16).to_dict())
    inner = out[0, :, 24:-24, 24:-24]
    assert abs(float(inner[0].mean()) - 0.12) < 0.03
    assert abs(float(inner[1].mean()) + 0.08) < 0.03
