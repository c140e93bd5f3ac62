import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from sarflow.errors import InputError
from sarflow.models import load_model
from sarflow.training.export import export_model
from sarflow.training.loop import TrainConfig, batch_seeds, train
from sarflow.training.synthetic import SyntheticRecipe, make_sample

TINY = TrainConfig(model="ccressiamnet", model_kwargs={"base_channels": 8, "depth": 2},
                   recipe=SyntheticRecipe(patch_size=32), steps=6, batch_size=2, eval_every=3, validation_size=4,
                   warmup_steps=1, loader_workers=0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("run")
    return train(TINY, folder, resume=False, command="sarflow train -o run"), folder


def test_tiny_training_run_writes_checkpoints_and_curves(run):
    result, folder = run
    assert result.steps_done == 6
    assert (folder / "best.pt").exists() and (folder / "last.pt").exists()
    assert (folder / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    lines = (folder / "history.csv").read_text().splitlines()
    assert lines[0].startswith("step,train_loss") and len(lines) == 3
    assert {"val_rmse", "val_epe", "val_under_0.1", "val_under_0.5", "val_under_1"} <= set(result.history[0])
    assert json.loads((folder / "config.json").read_text())["command"] == "sarflow train -o run"


def test_resume_continues_from_the_checkpoint(run, tmp_path):
    _, folder = run
    longer = TrainConfig(**{**TINY.__dict__, "steps": 9})
    resumed = train(longer, folder, resume=True, command="sarflow train -o run")  # as the CLI passes its own
    assert resumed.steps_done == 9
    assert [row["step"] for row in resumed.history] == [3, 6, 9]


def test_resume_refuses_another_configuration(run):
    _, folder = run
    other = TrainConfig(**{**TINY.__dict__, "learning_rate": 0.5})
    with pytest.raises(InputError, match="different configuration"):
        train(other, folder, resume=True)


def test_card_tabulates_the_held_out_benchmark():
    from sarflow.training.export import _heldout_table

    nan = float("nan")
    metrics = {"glacier": {"tracker": {"rmse": 0.127, "rmse_sharp": 0.31},
                           "network_on_tracker_points": {"rmse": 0.121, "rmse_sharp": 0.303, "rmse_near": 0.2},
                           "network_pixels": {"rmse": 0.124, "rmse_sharp": nan, "within_1_sigma": 0.641},
                           "repeats": 5}}
    table = "\n".join(_heldout_table(metrics))
    assert "5 scene(s) per scenario" in table
    assert "| glacier | 0.127 (sharp 0.310) | 0.121 (sharp 0.303, near 0.200) | 0.124 | 64.1% |" in table


def test_a_run_can_start_from_an_earlier_runs_weights(run, tmp_path):
    from sarflow.nn import build_model
    from sarflow.training.loop import initial_weights

    _, folder = run
    state = torch.load(folder / "best.pt", weights_only=False)
    model = build_model(TINY.model, **TINY.model_kwargs)
    initial_weights(model, folder / "best.pt")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state["model_state"][key])
    other = build_model(TINY.model, **{**TINY.model_kwargs, "base_channels": 6})
    with pytest.raises(InputError, match="holds another network"):
        initial_weights(other, folder / "best.pt")
    with pytest.raises(InputError, match="no such checkpoint"):
        initial_weights(model, tmp_path / "missing.pt")
    # Through train(): the run starts from those weights (its first validation is theirs).
    config = TrainConfig(**{**TINY.__dict__, "steps": 1, "eval_every": 1, "learning_rate": 1e-12,
                            "init_from": str(folder / "best.pt")})
    started = train(config, tmp_path / "second", resume=False)
    # Its card names the run the weights came from.
    card = export_model(tmp_path / "second" / "best.pt", tmp_path / "second.pt", calibrate=False,
                        measure_overlap=False).with_suffix(".md").read_text()
    assert f"Initialised from the weights of `{folder / 'best.pt'}`, step {state['step']} of the run `sarflow train -o run`" in card
    # Resuming needs no --init-from any more (the weights come from the run's own checkpoint).
    longer = TrainConfig(**{**config.__dict__, "steps": 2, "init_from": None})
    assert train(longer, tmp_path / "second", resume=True).steps_done == 2
    before = train(TrainConfig(**{**TINY.__dict__, "steps": 1, "eval_every": 1, "learning_rate": 1e-12}),
                   tmp_path / "fresh", resume=False)
    assert started.history[-1]["val_rmse"] != pytest.approx(before.history[-1]["val_rmse"], rel=1e-6)


def test_prior_jitter_settings_are_checked():
    with pytest.raises(InputError, match="needs prior=True"):
        TrainConfig(prior_jitter_px=0.5)
    with pytest.raises(InputError, match="prior_jitter_share"):
        TrainConfig(prior=True, prior_jitter_px=0.5, prior_jitter_share=1.5)
    assert TrainConfig.from_dict(TrainConfig(prior=True, prior_jitter_px=0.5).to_dict()).prior_jitter_px == 0.5


def test_batches_are_deterministic_and_distinct():
    assert batch_seeds(0, 5, 4) == batch_seeds(0, 5, 4)
    assert batch_seeds(0, 5, 4) != batch_seeds(0, 6, 4)
    assert batch_seeds(0, 5, 4) != batch_seeds(1, 5, 4)


def test_export_and_load_round_trip(run, tmp_path):
    _, folder = run
    weights = export_model(folder / "best.pt", tmp_path / "tiny.pt", extra_metrics={"test_rmse": 0.5})
    card = weights.with_suffix(".md").read_text()
    assert "sarflow train -o run" in card and "Seed: 0" in card and "test_rmse" in card
    assert "| scenario |" not in card  # other metrics: no held-out table
    model = load_model(str(weights))
    # The tile overlap measured at export is stored, loaded and named in the card.
    assert isinstance(model.tile_overlap, int) and f"overlaps tiles by {model.tile_overlap} px" in card
    x = torch.rand(1, 1, 32, 32)
    out = model(x, x)
    assert out.offsets.shape == (1, 2, 32, 32)
    original = torch.load(folder / "best.pt", weights_only=False)["model_state"]
    # Export measured the network's constant output and took it from the last head's bias.
    constant = torch.load(weights, weights_only=True)["constant_offset"]
    assert constant["removed"] and "Constant output: dx" in card
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            expected = original[key].float()
            if key == constant["parameter"]:
                expected = expected - torch.tensor([constant["dx"], constant["dy"]])
            np.testing.assert_allclose(value.numpy(), expected.numpy(), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("name, parameter", [("ccressiamnet", "decoder.heads.0.bias"),
                                             ("unet", "decoder.offset_head.bias")])
def test_export_takes_the_constant_from_the_last_head(tmp_path, name, parameter):
    config = TrainConfig(**{**TINY.__dict__, "model": name, "steps": 1, "eval_every": 1})
    train(config, tmp_path / "run", resume=False)
    weights = export_model(tmp_path / "run" / "best.pt", tmp_path / "w.pt", calibrate=True, measure_overlap=False)
    constant = torch.load(weights, weights_only=True)["constant_offset"]
    assert constant["removed"] and constant["parameter"] == parameter
    assert f"`{parameter}`" in weights.with_suffix(".md").read_text()


def test_constant_offset_is_what_ignores_orientation():
    """A constant added to a network's output is measured from flipped pairs alone, without truth."""
    from sarflow.nn import build_model
    from sarflow.training.loop import constant_offset, validation_set

    torch.manual_seed(0)
    model = build_model("ccressiamnet", base_channels=8, depth=2)
    data = validation_set(SyntheticRecipe(patch_size=32), 4)
    before = constant_offset(model, data)
    with torch.no_grad():
        model.decoder.heads[0].bias += torch.tensor([0.3, -0.2])
    after = constant_offset(model, data)
    assert after[0] - before[0] == pytest.approx(0.3, abs=1e-4)
    assert after[1] - before[1] == pytest.approx(-0.2, abs=1e-4)


def test_validation_judges_the_network_without_its_constant_output():
    """Checkpoints are chosen on what export ships: the constant output is removed before scoring."""
    from sarflow.nn import build_model
    from sarflow.training.loop import evaluate_model, validation_constant, validation_set

    torch.manual_seed(0)
    model = build_model("ccressiamnet", base_channels=8, depth=2)
    data = validation_set(SyntheticRecipe(patch_size=32), 4)
    config = TrainConfig(**TINY.__dict__)
    plain = evaluate_model(model, data, device=torch.device("cpu"), precision="fp32",
                           constant=validation_constant(model, data, config))
    with torch.no_grad():
        model.decoder.heads[0].bias += torch.tensor([0.3, -0.2])
    raw = evaluate_model(model, data, device=torch.device("cpu"), precision="fp32")
    shifted = evaluate_model(model, data, device=torch.device("cpu"), precision="fp32",
                             constant=validation_constant(model, data, config))
    assert raw["rmse"] > plain["rmse"] + 0.1  # the constant itself would count as error
    assert shifted["rmse"] == pytest.approx(plain["rmse"], abs=1e-3)
    assert shifted["constant_dx"] - plain["constant_dx"] == pytest.approx(0.3, abs=1e-3)
    # a run on a dataset from disk ships no correction, so it is judged as it is
    assert validation_constant(model, data, replace(config, dataset="tiles.h5")) is None


def test_network_fits_a_batch_of_shifts_far_below_the_zero_guess():
    """The network can learn: it memorises a batch of shifts to a small fraction of their size."""
    from sarflow.nn import build_model, masked_huber_loss
    from sarflow.training.loop import _stack, to_tensors
    from sarflow.training.synthetic import make_sample

    torch.manual_seed(0)
    recipe = SyntheticRecipe(patch_size=48, nodata_probability=0.0, coherence=(0.9, 0.95), min_offset_px=0.6,
                             max_offset_px=2.0, background_px=0.0)
    batch = _stack([make_sample(recipe, s, kind="shift") for s in range(4)])
    ref, sec, target, mask = to_tensors(batch, torch.device("cpu"), False)
    model = build_model("ccressiamnet", base_channels=8, depth=2)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(80):
        loss = masked_huber_loss(model(ref, sec).offsets, target, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        err = (model(ref, sec).offsets - target) * mask
    rmse = float(err.pow(2).sum().div(2 * mask.sum()).sqrt())
    zero = float((target * mask).pow(2).sum().div(2 * mask.sum()).sqrt())
    assert zero > 0.3
    assert rmse < 0.15 * zero


def test_prior_run_records_the_tracker_baseline(tmp_path):
    torch.set_num_threads(1)
    config = TrainConfig(**{**TINY.__dict__, "recipe": SyntheticRecipe(patch_size=64), "steps": 2, "eval_every": 2,
                            "validation_size": 2, "prior": True})
    result = train(config, tmp_path, resume=False)
    assert [row["step"] for row in result.history] == [0, 2]
    # Step 0 is the tracker prior alone: a real, finite baseline on the residual target.
    assert 0 < result.history[0]["val_rmse"] < 5
    with pytest.raises(InputError, match="simulated pairs only"):
        TrainConfig(prior=True, dataset="x.h5")
    # Exported and loaded, the network remembers that it runs on the prior's residual.
    from sarflow.scene.predict import predict_arrays

    weights = export_model(tmp_path / "best.pt", tmp_path / "residual.pt")
    model = load_model(str(weights))
    assert model.prior_input is True
    # Its sigma is calibrated on scene-sized pairs, where the prior has its full chip set, and mixes
    # in the tracker prior's own error estimate.
    card = weights.with_suffix(".md").read_text()
    assert "validation pairs (384 px)" in card and "chips 32, 64, 128 px" in card
    stored = torch.load(weights, weights_only=True)
    assert stored["prior_sigma_scale"] >= 0 and stored["sigma_scale"] >= 0
    assert (model.prior_sigma_scale, model.sigma_scale, model.prior_sigma_power) == (
        stored["prior_sigma_scale"], stored["sigma_scale"], stored["prior_sigma_power"])
    assert ("tracker prior's sigma_px" in card) == (stored["prior_sigma_scale"] > 0)
    sample = make_sample(SyntheticRecipe(patch_size=64), 5)
    reference, secondary = np.nan_to_num(sample.reference, nan=1.0), np.nan_to_num(sample.secondary, nan=1.0)
    out = predict_arrays(model, reference, secondary, prior="auto")
    assert out["prior_used"] and np.isfinite(out["dx"]).mean() > 0.9
    with pytest.raises(InputError, match="residual after the tracker prior"):
        predict_arrays(model, reference, secondary, prior="none")


@pytest.mark.parametrize("informative", ["network", "prior"])
def test_sigma_mix_follows_the_sigma_that_tracks_the_errors(informative):
    from sarflow.training.loop import COVERAGE, fit_sigma_mix

    rng = np.random.default_rng(3)
    pair = np.repeat(np.arange(12), 3000)
    level = np.repeat(rng.uniform(0.02, 0.3, 12), 3000)  # each pair's error level
    errors = np.abs(rng.normal(0.0, level))
    tracking = 0.5 * level  # follows the errors, at half their size
    blind = rng.uniform(0.05, 0.15, pair.size)  # knows nothing of them
    net, prior = (tracking, blind) if informative == "network" else (blind, tracking)
    a, b, p = fit_sigma_mix(errors, net, prior, np.zeros_like(errors), pair, powers=(1.0,))
    kept, dropped = (a, b) if informative == "network" else (b, a)
    assert kept == pytest.approx(2.0, rel=0.05) and dropped < 0.2 * kept and p == 1.0
    sigma = np.hypot(a * net, b * prior)
    assert np.mean(errors <= sigma) == pytest.approx(COVERAGE, abs=0.005)
    # A gap spread is added, not scaled: where it alone covers the errors, less is asked of the rest.
    a2, b2, _ = fit_sigma_mix(errors, net, prior, np.full_like(errors, 0.05), pair, powers=(1.0,))
    assert np.hypot(a2, b2) < np.hypot(a, b)
    assert fit_sigma_mix(np.array([]), np.array([]), np.array([]), np.array([]), np.array([], int)) == (1.0, 0.0, 1.0)


@pytest.mark.parametrize("true_power", [1.0, 1.3])
def test_sigma_fit_finds_how_the_errors_grow_with_the_priors_sigma(true_power):
    from sarflow.training.loop import COVERAGE, fit_sigma_mix

    rng = np.random.default_rng(4)
    pair = np.repeat(np.arange(16), 4000)
    prior = np.repeat(np.geomspace(0.02, 0.4, 16), 4000)  # pixels; one level per pair
    errors = np.abs(rng.normal(0.0, 0.7 * prior ** true_power))
    net = rng.uniform(0.05, 0.15, pair.size)  # knows nothing of the errors
    a, b, p = fit_sigma_mix(errors, net, prior, np.zeros_like(errors), pair)
    assert a < 0.2 * b and p == pytest.approx(true_power, abs=0.051)
    sigma = np.hypot(a * net, b * prior ** p)
    assert np.mean(errors <= sigma) == pytest.approx(COVERAGE, abs=0.005)
    # every pair close to the target, which a proportional sigma misses when the power is not 1
    inside = np.bincount(pair, weights=errors <= sigma) / 4000
    assert np.abs(inside - COVERAGE).max() < 0.03
    if true_power != 1.0:
        a1, b1, _ = fit_sigma_mix(errors, net, prior, np.zeros_like(errors), pair, powers=(1.0,))
        inside1 = np.bincount(pair, weights=errors <= np.hypot(a1 * net, b1 * prior)) / 4000
        assert np.abs(inside1 - COVERAGE).max() > 0.1


@pytest.mark.parametrize("stored, expected", [
    ({"sigma_scale": 0.4, "prior_sigma_scale": 0.9, "prior_sigma_power": 1.2}, (0.4, 0.9, 1.2)),
    ({"sigma_scale": 0.0, "prior_sigma_scale": 0.9}, (0.0, 0.9, 1.0)),   # the prior's sigma carries it all
    ({"sigma_scale": 0.0, "prior_sigma_scale": 0.0}, (1.0, 0.0, 1.0)),   # no usable calibration: none
    ({"sigma_scale": float("nan"), "prior_sigma_scale": -1.0, "prior_sigma_power": 0.0}, (1.0, 0.0, 1.0)),
    ({"sigma_scale": True, "prior_sigma_scale": "0.5", "prior_sigma_power": 9.0}, (1.0, 0.0, 1.0)),
    ({}, (1.0, 0.0, 1.0)),                                  # weights from before the prior weight and power
])
def test_loaded_weights_take_only_sane_sigma_factors(run, tmp_path, stored, expected):
    _, folder = run
    weights = export_model(folder / "best.pt", tmp_path / "w.pt", calibrate=False, measure_overlap=False)
    state = torch.load(weights, weights_only=True)
    state.pop("sigma_scale"), state.pop("prior_sigma_scale"), state.pop("prior_sigma_power")
    torch.save({**state, **stored}, weights)
    from sarflow.models import record_checksum

    record_checksum(weights)
    model = load_model(str(weights))
    assert (model.sigma_scale, model.prior_sigma_scale, model.prior_sigma_power) == expected
