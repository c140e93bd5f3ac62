import json
import math

import numpy as np
import pytest

from sarflow.errors import InputError
from sarflow.evaluation import (
    calibration,
    compare_estimates,
    evaluate_offsets,
    stable_ground_statistics,
)


def known_errors():
    """Four points with vector errors 0.25, 0, 1.3 and 2 px on a 2 x 2 grid."""
    truth_dx = np.array([[0.1, 0.6], [3.0, 8.0]])
    truth_dy = np.array([[0.0, 0.0], [4.0, 6.0]])  # |truth| 0.1, 0.6, 5, 10 px
    err_dx = np.array([[0.15, 0.0], [1.2, 0.0]])
    err_dy = np.array([[0.2, 0.0], [-0.5, 2.0]])
    return truth_dx + err_dx, truth_dy + err_dy, truth_dx, truth_dy


def test_figures_of_known_errors():
    m = evaluate_offsets(*known_errors())
    e = np.array([0.25, 0.0, 1.3, 2.0])
    assert m["n_points"] == m["n_valid"] == 4 and m["coverage"] == 1.0
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean(e**2)))
    assert m["mae"] == pytest.approx(e.mean())
    assert m["median"] == pytest.approx(np.median(e))
    assert m["p95"] == pytest.approx(np.percentile(e, 95))
    assert m["max"] == pytest.approx(2.0)
    assert (m["share_above_0.1px"], m["share_above_0.5px"], m["share_above_1px"]) == (0.75, 0.5, 0.5)
    assert m["dx"]["bias"] == pytest.approx((0.15 + 1.2) / 4)
    assert m["dy"]["bias"] == pytest.approx((0.2 - 0.5 + 2.0) / 4)
    assert m["dx"]["mae"] == pytest.approx((0.15 + 1.2) / 4)
    assert m["dy"]["rmse"] == pytest.approx(np.sqrt((0.04 + 0.25 + 4.0) / 4))


def test_bands_split_on_true_magnitude():
    m = evaluate_offsets(*known_errors())
    bands = m["bands"]
    assert list(bands) == ["below_0.5px", "0.5_to_5px", "above_5px"]
    # Bands are [low, high): |truth| = 5 px belongs to the top band.
    assert [bands[k]["n_points"] for k in bands] == [1, 1, 2]
    assert bands["below_0.5px"]["rmse"] == pytest.approx(0.25)
    assert bands["0.5_to_5px"]["rmse"] == 0.0
    assert bands["above_5px"]["rmse"] == pytest.approx(np.sqrt((1.3**2 + 2.0**2) / 2))
    assert bands["0.5_to_5px"]["range_px"] == [0.5, 5.0]
    assert bands["above_5px"]["range_px"] == [5.0, None]


def test_missing_estimates_lower_coverage_and_unknown_truth_is_not_counted():
    edx, edy, tdx, tdy = known_errors()
    edx[0, 0] = np.nan          # no estimate at a counted point
    tdx[1, 1] = np.nan          # no truth: not counted at all
    m = evaluate_offsets(edx, edy, tdx, tdy)
    assert (m["n_points"], m["n_valid"]) == (3, 2)
    assert m["coverage"] == pytest.approx(2 / 3)
    assert m["rmse"] == pytest.approx(np.sqrt((0.0 + 1.69) / 2))


def test_empty_groups_give_none_and_valid_json():
    tdx = np.zeros((3, 3))
    est = np.full((3, 3), np.nan)
    m = evaluate_offsets(est, est, tdx, tdx, mask=np.ones((3, 3), bool))
    assert m["coverage"] == 0.0 and m["rmse"] is None and m["dx"]["bias"] is None
    assert m["bands"]["above_5px"]["n_points"] == 0 and m["bands"]["above_5px"]["coverage"] is None
    assert m["mask"]["outside"]["n_points"] == 0
    json.dumps(m, allow_nan=False)  # no NaN or infinity anywhere


def test_mask_splits_inside_and_outside_and_nan_is_neither():
    tdx = np.zeros((2, 3))
    edx = np.array([[1.0, 1.0, 5.0], [0.0, 0.0, 9.0]])
    mask = np.array([[1.0, 1.0, np.nan], [0.0, 0.0, np.nan]])
    m = evaluate_offsets(edx, tdx, tdx, tdx, mask=mask)
    assert m["mask"]["inside"]["n_points"] == 2 and m["mask"]["inside"]["rmse"] == pytest.approx(1.0)
    assert m["mask"]["outside"]["n_points"] == 2 and m["mask"]["outside"]["rmse"] == 0.0
    assert m["n_points"] == 6


def test_r2_perfect_mean_and_uniform_truth():
    rng = np.random.default_rng(0)
    tdx, tdy = rng.normal(size=(8, 8)), rng.normal(size=(8, 8))
    assert evaluate_offsets(tdx, tdy, tdx, tdy)["r2"] == pytest.approx(1.0)
    mean = evaluate_offsets(np.full_like(tdx, tdx.mean()), np.full_like(tdy, tdy.mean()), tdx, tdy)
    assert mean["r2"] == pytest.approx(0.0, abs=1e-12) and mean["dx"]["r2"] == pytest.approx(0.0, abs=1e-12)
    uniform = evaluate_offsets(tdx, tdy, np.full_like(tdx, 0.3), np.full_like(tdy, -0.2))
    assert uniform["r2"] is None and uniform["dx"]["r2"] is None


def test_shape_mismatch_is_refused():
    with pytest.raises(InputError, match=r"truth_dx has shape \(4, 4\) but the estimate has shape \(3, 3\)"):
        evaluate_offsets(np.zeros((3, 3)), np.zeros((3, 3)), np.zeros((4, 4)), np.zeros((4, 4)))
    with pytest.raises(InputError, match="2-D"):
        evaluate_offsets(np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3))
    with pytest.raises(InputError, match="both sigma_dx and sigma_dy"):
        evaluate_offsets(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)),
                         sigma_dx=np.ones((2, 2)))


def test_agreement_of_two_estimates():
    a = np.array([[0.0, 1.0], [2.0, np.nan]])
    b = np.array([[0.5, 1.0], [np.nan, 3.0]])
    zero = np.zeros((2, 2))
    m = compare_estimates(a, zero, b, zero)
    assert (m["n_points"], m["n_valid"]) == (4, 2)  # either covers 4 points, both cover 2
    assert m["coverage"] == 0.5 and m["coverage_first"] == 0.75 and m["coverage_second"] == 0.75
    assert m["dx"]["bias"] == pytest.approx(-0.25) and m["rmse"] == pytest.approx(np.sqrt(0.125))
    assert m["r2"] is None and "r2" not in m["dx"]
    rng = np.random.default_rng(1)
    f = rng.normal(size=(6, 6))
    same = compare_estimates(f, -f, f, -f)
    assert same["rmse"] == 0.0 and same["dx"]["correlation"] == pytest.approx(1.0)


def test_stable_ground_offsets_should_be_zero():
    dx = np.full((4, 4), 0.2)
    dy = np.full((4, 4), -0.1)
    dx[0, 0] = np.nan
    stable = np.zeros((4, 4), bool)
    stable[:2] = True  # 8 stable points, one without an estimate
    m = stable_ground_statistics(dx, dy, stable)
    assert m["n_points"] == 8 and m["coverage"] == pytest.approx(7 / 8)
    assert m["dx"]["bias"] == pytest.approx(0.2) and m["dy"]["bias"] == pytest.approx(-0.1)
    assert m["rmse"] == pytest.approx(math.hypot(0.2, 0.1)) and m["r2"] is None


def test_calibration_of_honest_and_pessimistic_sigmas():
    rng = np.random.default_rng(2)
    sigma = rng.uniform(0.05, 0.5, size=40_000)
    ex, ey = rng.normal(size=sigma.size) * sigma, rng.normal(size=sigma.size) * sigma
    honest = calibration(ex, ey, sigma, sigma)
    assert honest["n"] == 80_000
    assert honest["within_1sigma"] == pytest.approx(0.6827, abs=0.006)
    np.testing.assert_allclose(honest["observed"], honest["expected"], atol=0.006)
    pessimistic = calibration(ex, ey, 2 * sigma, 2 * sigma)
    assert pessimistic["within_1sigma"] == pytest.approx(0.9545, abs=0.004)


def test_calibration_inside_evaluate_leaves_out_points_without_sigma():
    tdx = np.zeros((2, 2))
    est = np.array([[0.1, 0.3], [0.1, 0.1]])
    sigma = np.array([[0.2, 0.2], [np.nan, 0.0]])
    m = evaluate_offsets(est, tdx, tdx, tdx, sigma_dx=sigma, sigma_dy=sigma)
    cal = m["calibration"]
    assert cal["n"] == 4  # 2 points x 2 components
    assert cal["within_1sigma"] == pytest.approx(3 / 4)
