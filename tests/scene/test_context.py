import numpy as np
import pytest

from sarflow.errors import InputError
from sarflow.scene.context import measure_overlap
from sarflow.scene.inference import InferenceConfig, lattice_for, predict_offsets
from sarflow.simulation.fields import SmoothField
from sarflow.simulation.pair import simulate_pair

from scene_helpers import loud_model


@pytest.fixture(scope="module")
def loud():
    return loud_model()


def test_measured_overlap_is_the_smallest_that_keeps_seams_and_holds_on_other_scenes(loud):
    result = measure_overlap(loud, tile_size=224, candidates=(16, 32, 48, 64, 80, 96, 112), pairs=1,
                             tolerance_px=0.008)
    assert result.overlap is not None
    tried = list(result.errors_px)
    assert tried[-1] == result.overlap and result.errors_px[result.overlap] < 0.008
    assert all(result.errors_px[c] >= 0.008 for c in tried[:-1])
    # A scene the measurement never saw: tiled with that overlap equals one tile within 0.01 px.
    pair = simulate_pair(SmoothField(amplitude_px=1.5, correlation_px=50, seed=11), shape=(420, 450), seed=12)
    options = dict(precision="fp32", channels_last=False, device="cpu")
    single = predict_offsets(loud, pair.reference, pair.secondary, config=InferenceConfig(tile_size=464, **options))
    tiled = predict_offsets(loud, pair.reference, pair.secondary,
                            config=InferenceConfig(tile_size=224, overlap=result.overlap, **options))
    assert float(np.nanstd(single["dx"])) > 0.05
    inner = (slice(32, -32), slice(32, -32))
    for key in ("dx", "dy"):
        assert float(np.abs(tiled[key] - single[key])[inner].max()) < 0.01


def test_no_overlap_when_none_passes(loud):
    result = measure_overlap(loud, tile_size=64, candidates=(8,), pairs=1, tolerance_px=1e-9)
    assert result.overlap is None and set(result.errors_px) == {8}
    assert result.to_dict()["errors_px"]["8"] > 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(tolerance_px=0.0), "tolerance_px must be positive"),
    (dict(pairs=0), "pairs must be at least 1"),
    (dict(tile_size=64, candidates=(48, 64)), "no candidate overlap fits"),
])
def test_bad_arguments(loud, kwargs, message):
    with pytest.raises(InputError, match=message):
        measure_overlap(loud, **kwargs)


def test_lattice_uses_the_stored_overlap_unless_one_is_given(loud):
    loud.tile_overlap = 40
    try:
        assert lattice_for(loud, (1000, 1000), InferenceConfig(tile_size=256)).ramp == (40, 40)
        assert lattice_for(loud, (1000, 1000), InferenceConfig(tile_size=256, overlap=24)).ramp == (24, 24)
    finally:
        del loud.tile_overlap
    assert lattice_for(loud, (1000, 1000), InferenceConfig(tile_size=256)).ramp == (128, 128)  # receptive field


@pytest.mark.parametrize("name", ["ccressiamnet", "ccressiamnet-fast"])
def test_shipped_network_seams_stay_under_0_01_px_with_its_measured_overlap(name):
    from sarflow.models import load_model
    from sarflow.scene.predict import predict_arrays

    model = load_model(name)
    assert model.tile_overlap is not None and model.tile_overlap < model.receptive_field
    pair = simulate_pair(SmoothField(amplitude_px=2.0, correlation_px=90, seed=21), shape=(768, 768), seed=22)
    options = dict(precision="fp32", channels_last=False, device="cpu")
    single = predict_arrays(model, pair.reference, pair.secondary, config=InferenceConfig(tile_size=768, **options))
    tiled = predict_arrays(model, pair.reference, pair.secondary, config=InferenceConfig(tile_size=384, **options))
    assert lattice_for(model, (768, 768), InferenceConfig(tile_size=384)).ramp == (model.tile_overlap,) * 2
    inner = (slice(64, -64), slice(64, -64))  # the scene's edges: padding differs there
    for key in ("dx", "dy"):
        assert float(np.nanmax(np.abs(tiled[key] - single[key])[inner])) < 0.01
