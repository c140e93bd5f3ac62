import numpy as np
import pytest
import torch

from sarflow.nn import build_model
from sarflow.scene.inference import InferenceConfig, blend_window, predict_offsets
from sarflow.simulation.fields import SmoothField
from sarflow.simulation.pair import simulate_pair


@pytest.fixture(scope="module")
def loud_model():
    """A small untrained network whose head is scaled so its outputs vary by pixels, not micro-pixels."""
    torch.manual_seed(0)
    model = build_model("ccressiamnet", base_channels=8, depth=3).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "head" in name and p.ndim == 4:
                p.mul_(300.0)
    return model


@pytest.fixture(scope="module")
def scene():
    pair = simulate_pair(SmoothField(amplitude_px=1.0, correlation_px=40, seed=1), shape=(320, 336), seed=4)
    return pair.reference, pair.secondary


def test_tiled_equals_single_tile_away_from_edges(loud_model, scene):
    ref, sec = scene
    config = dict(precision="fp32", channels_last=False, device="cpu")
    single = predict_offsets(loud_model, ref, sec, config=InferenceConfig(tile_size=512, **config))
    tiled = predict_offsets(loud_model, ref, sec, config=InferenceConfig(tile_size=192, overlap=96, **config))
    assert float(np.nanstd(single["dx"])) > 0.05  # the outputs are not trivially small
    inner = (slice(48, -48), slice(48, -48))
    diff = np.abs(tiled["dx"] - single["dx"])[inner]
    assert float(diff.max()) < 0.01
    assert float(np.abs(tiled["dy"] - single["dy"])[inner].max()) < 0.01


def test_nodata_stays_nodata_and_empty_tiles_are_skipped(loud_model, scene):
    ref, sec = scene
    ref = ref.copy()
    ref[:, :136] = np.nan  # the left part: its tiles hold no valid pixel
    calls = []
    out = predict_offsets(loud_model, ref, sec, config=InferenceConfig(tile_size=64, overlap=16, precision="fp32",
                                                                        device="cpu"),
                          progress=lambda done, total: calls.append((done, total)))
    assert np.isnan(out["dx"][:, :136]).all()
    assert np.isfinite(out["dx"][:, 140:]).all()
    assert calls[-1][0] == calls[-1][1]


def test_bfloat16_matches_float32(loud_model, scene):
    ref, sec = scene
    a = predict_offsets(loud_model, ref, sec, config=InferenceConfig(tile_size=256, precision="fp32", device="cpu"))
    b = predict_offsets(loud_model, ref, sec, config=InferenceConfig(tile_size=256, precision="bf16", device="cpu"))
    scale = float(np.nanstd(a["dx"]))
    assert float(np.nanmedian(np.abs(a["dx"] - b["dx"]))) < 0.05 * scale


def test_blend_window_is_positive_and_symmetric():
    w = blend_window(32, 8)
    assert (w > 0).all() and np.allclose(w, w[::-1]) and w[16] == 1.0


def test_shape_mismatch(loud_model):
    from sarflow.errors import InputError

    with pytest.raises(InputError, match="one shape"):
        predict_offsets(loud_model, np.ones((10, 10)), np.ones((10, 12)))


def test_predict_job_writes_dense_product_with_uncertainty(loud_model, tmp_path):
    from sarflow.io import read_offsets, write_geotiff
    from sarflow.scene.predict import predict, predict_arrays
    from sarflow.training.export import export_model

    # Weights file in the shipped format, from a checkpoint-like dict.
    checkpoint = tmp_path / "best.pt"
    torch.save({"format": "sarflow-checkpoint-1", "model_config": loud_model.to_config(),
                "model_state": loud_model.state_dict(), "train_config": {"seed": 0}, "step": 1}, checkpoint)
    weights = export_model(checkpoint, tmp_path / "loud.pt", measure_overlap=False)
    pair = simulate_pair(SmoothField(amplitude_px=0.5, correlation_px=30, seed=2), shape=(96, 96), seed=5)
    ref = write_geotiff(tmp_path / "r.tif", {"amplitude": pair.reference})
    sec = write_geotiff(tmp_path / "s.tif", {"amplitude": pair.secondary})
    config = InferenceConfig(tile_size=64, overlap=16, device="cpu")
    summary = predict(ref, sec, tmp_path / "out.tif", model=str(weights), prior="none", config=config)
    back = read_offsets(tmp_path / "out.tif")
    assert back.shape == (96, 96) == summary.shape and list(back.quality) == ["sigma_dx", "sigma_dy"]
    assert (back.quality["sigma_dx"] > 0).all()
    # The file job (windowed reads, blocks, journal, assembly) gives what the in-memory route gives.
    from sarflow.models import load_model

    direct = predict_arrays(load_model(str(weights)), pair.reference, pair.secondary, config=config, prior="none")
    np.testing.assert_array_equal(back.dx, direct["dx"])
    np.testing.assert_array_equal(back.quality["sigma_dy"], direct["sigma_dy"])


def test_windowed_statistics_equal_in_memory_ones_bit_for_bit():
    from sarflow.scene.blocks import ArraySource
    from sarflow.scene.inference import log_statistics
    from sarflow.scene.predict import scene_statistics

    rng = np.random.default_rng(0)
    a = rng.exponential(size=(1100, 1030)).astype(np.float32)
    b = rng.exponential(size=(1100, 1030)).astype(np.float32)
    a[:50] = np.nan
    assert scene_statistics(ArraySource(a), ArraySource(b)) == log_statistics(a, b)
    mean, std = log_statistics(a, b)
    values = np.log(np.concatenate([a[np.isfinite(a)], b.ravel()]).astype(np.float64) + 1e-6)
    assert mean == pytest.approx(values.mean(), rel=1e-12) and std == pytest.approx(values.std(), rel=1e-9)


def test_coarse_prior_handles_large_motion():
    from sarflow.scene.predict import coarse_prior, warp_by_prior
    from sarflow.simulation.fields import UniformShift

    pair = simulate_pair(UniformShift(21.3, -17.8), shape=(256, 256), seed=6)
    pdx, pdy = coarse_prior(pair.reference, pair.secondary, search_radius=32)
    assert np.median(pdx) == pytest.approx(21.3, abs=0.3) and np.median(pdy) == pytest.approx(-17.8, abs=0.3)
    warped = warp_by_prior(pair.secondary, pdx, pdy)
    inner = (slice(40, -40), slice(40, -40))
    corr = np.corrcoef(warped[inner].ravel(), pair.reference[inner].ravel())[0, 1]
    assert corr > 0.5


def test_a_sigma_the_calibration_weighs_zero_is_zero_where_there_is_an_estimate(scene):
    """``sigma_scale`` 0 (the network's own sigma got no weight at export): the log-variance is not
    accumulated, the sigma bands are 0 where there are offsets and NaN where there are none."""
    ref, sec = scene
    ref = ref.copy()
    ref[:40, :50] = np.nan
    torch.manual_seed(0)
    model = build_model("ccressiamnet-fast", base_channels=4, depth=2).eval()
    config = InferenceConfig(tile_size=128, overlap=32, precision="fp32", device="cpu")
    weighed = predict_offsets(model, ref, sec, config=config)
    model.sigma_scale = 0.0
    unweighed = predict_offsets(model, ref, sec, config=config)
    del model.sigma_scale
    np.testing.assert_array_equal(unweighed["dx"], weighed["dx"])
    assert (weighed["sigma_dx"][np.isfinite(weighed["dx"])] > 0).all()
    for band in ("sigma_dx", "sigma_dy"):
        np.testing.assert_array_equal(np.isnan(unweighed[band]), np.isnan(weighed["dx"]))
        assert (unweighed[band][np.isfinite(weighed["dx"])] == 0).all()
