import numpy as np
import pytest

from sarflow.errors import InputError
from sarflow.training.synthetic import SCENARIO_KINDS, SEED_RANGES, SyntheticRecipe, make_sample

RECIPE = SyntheticRecipe(patch_size=48)


def test_sample_is_a_pure_function_of_its_seed():
    a = make_sample(RECIPE, 123)
    b = make_sample(RECIPE, 123)
    np.testing.assert_array_equal(a.reference, b.reference)
    np.testing.assert_array_equal(a.target, b.target)
    assert not np.array_equal(make_sample(RECIPE, 124).reference, a.reference)


@pytest.mark.parametrize("kind", SCENARIO_KINDS)
def test_every_kind_gives_a_valid_sample(kind):
    sample = make_sample(RECIPE, 7, kind=kind)
    assert sample.reference.shape == sample.secondary.shape == (48, 48)
    assert sample.target.shape == (2, 48, 48) and sample.target.dtype == np.float32
    assert sample.mask.any()
    assert np.isfinite(sample.target[:, sample.mask]).all()
    assert sample.info["max_offset_px"] <= RECIPE.max_offset_px * 1.5


def test_offset_magnitudes_span_the_recipe_range():
    peaks = [make_sample(RECIPE, s).info["max_offset_px"] for s in range(40)]
    assert min(peaks) < 0.3 and max(peaks) > 1.5


def test_nodata_is_masked_never_a_number():
    recipe = SyntheticRecipe(patch_size=48, nodata_probability=1.0)
    sample = make_sample(recipe, 3)
    invalid = ~np.isfinite(sample.reference) | ~np.isfinite(sample.secondary)
    assert invalid.any()
    assert not sample.mask[invalid].any()


def test_seed_ranges_are_disjoint():
    spans = sorted(SEED_RANGES.values())
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def test_recipe_validation():
    with pytest.raises(InputError, match="weights must be 6 non-negative numbers"):
        SyntheticRecipe(weights=(1.0, 2.0))
    with pytest.raises(InputError, match="min_offset_px < max_offset_px"):
        SyntheticRecipe(min_offset_px=2.0, max_offset_px=1.0)
    with pytest.raises(InputError, match="unknown scenario kind 'tsunami'"):
        make_sample(RECIPE, 0, kind="tsunami")


def test_with_prior_leaves_a_small_residual_that_recomposes_to_the_truth():
    from sarflow.tracking.prior import compose_residual
    from sarflow.training.synthetic import with_prior

    recipe = SyntheticRecipe(patch_size=128, nodata_probability=0.0, coherence=(0.9, 0.95), min_offset_px=3.0,
                             max_offset_px=5.0)
    sample = make_sample(recipe, 11, kind="shift")
    residual = with_prior(sample)
    m = residual.mask
    assert m.mean() > 0.8
    # The tracker prior takes out the pixel-scale shift; what is left is a small fraction of it.
    assert np.hypot(*sample.target[:, m]).max() > 1.5
    assert np.sqrt(np.mean(residual.target[:, m] ** 2)) < 0.15
    dx, dy = compose_residual(residual.target[0], residual.target[1], *residual.info["prior"])
    np.testing.assert_allclose(dx[m], sample.target[0][m], atol=2e-3)
    np.testing.assert_allclose(dy[m], sample.target[1][m], atol=2e-3)


def test_prior_jitter_perturbs_a_share_of_samples_and_keeps_the_target_exact():
    from sarflow.tracking.prior import compose_residual
    from sarflow.training.synthetic import prior_perturbation, with_prior

    rng = np.random.default_rng(3)
    field = prior_perturbation(rng, (100, 120), 0.4)
    assert field.shape == (100, 120) and np.abs(field).max() == pytest.approx(0.4, rel=1e-5)
    assert np.abs(np.diff(field, axis=1)).max() < 0.1  # smooth: a fraction of its amplitude per pixel

    recipe = SyntheticRecipe(patch_size=96, nodata_probability=0.0, coherence=(0.9, 0.95))
    sample = make_sample(recipe, 5, kind="shift")
    plain = with_prior(sample)
    assert "prior_jitter_px" not in with_prior(sample, jitter_px=0.6, jitter_share=0.0).info
    jittered = with_prior(sample, jitter_px=0.6, jitter_share=1.0)
    again = with_prior(sample, jitter_px=0.6, jitter_share=1.0)
    np.testing.assert_array_equal(jittered.secondary, again.secondary)  # the sample's seed fixes the draw
    assert 0.05 <= jittered.info["prior_jitter_px"] <= 0.6
    m = jittered.mask & plain.mask
    moved = np.abs(jittered.info["prior"] - plain.info["prior"])[:, m].max()
    assert moved == pytest.approx(jittered.info["prior_jitter_px"], rel=0.05)
    # The target is the residual against the perturbed prior: it recomposes to the truth.
    dx, dy = compose_residual(jittered.target[0], jittered.target[1], *jittered.info["prior"])
    np.testing.assert_allclose(dx[m], sample.target[0][m], atol=2e-3)
    np.testing.assert_allclose(dy[m], sample.target[1][m], atol=2e-3)
    with pytest.raises(InputError, match="jitter"):
        with_prior(sample, jitter_px=-1)
