import numpy as np
import pytest

from sarflow.scene.blocks import ArraySource, Block
from sarflow.scene.coarse import CoarsePriorConfig, PriorGrid, coarse_prior_grid, resample, warp_window
from sarflow.simulation.fields import UniformShift
from sarflow.simulation.pair import simulate_pair


def smooth_grid():
    rng = np.random.default_rng(1)
    return PriorGrid(rng.normal(3, 2, (6, 7)).astype(np.float32), rng.normal(-2, 2, (6, 7)).astype(np.float32),
                     row0=8, col0=8, step=16)


def test_prior_grid_interpolates_and_holds_edges():
    grid = smooth_grid()
    dx, dy = grid.at(np.array([8.0, 24.0, 16.0, -50.0]), np.array([8.0, 8.0, 8.0, 8.0]))
    assert dx[0] == pytest.approx(grid.dx[0, 0]) and dx[1] == pytest.approx(grid.dx[1, 0])
    assert dx[2] == pytest.approx(0.5 * (grid.dx[0, 0] + grid.dx[1, 0]))
    assert dx[3] == pytest.approx(grid.dx[0, 0])  # outside: the nearest edge value


def test_a_window_of_the_warp_equals_the_whole_warp_bit_for_bit():
    rng = np.random.default_rng(2)
    secondary = rng.exponential(size=(100, 110)).astype(np.float32)
    secondary[40:45, 50:60] = np.nan
    grid = smooth_grid()
    source = ArraySource(secondary)
    whole = warp_window(source, grid, Block(0, 100, 0, 110))
    part = warp_window(source, grid, Block(30, 70, 20, 90), strip_rows=7)
    np.testing.assert_array_equal(part, whole[30:70, 20:90])
    assert np.isnan(whole).any() and np.isfinite(whole).mean() > 0.8  # nodata and the border propagate


def test_resample_moves_a_smooth_image_by_the_prior():
    rows, cols = np.mgrid[0:64, 0:64].astype(np.float64)

    def image(r, c):
        return (2 + np.sin(r / 5.0) * np.cos(c / 7.0)).astype(np.float32)

    shift_r, shift_c = 2.3, -1.6
    out = resample(ArraySource(image(rows, cols)), np.full((64, 64), shift_c, np.float32),
                   np.full((64, 64), shift_r, np.float32), Block(0, 64, 0, 64))
    inner = (slice(4, -4), slice(4, -4))
    assert float(np.abs(out - image(rows + shift_r, cols + shift_c))[inner].max()) < 5e-3


def test_blockwise_coarse_prior_finds_large_motion():
    pair = simulate_pair(UniformShift(14.4, -9.7), shape=(256, 288), seed=6)
    ref, sec = ArraySource(pair.reference), ArraySource(pair.secondary)
    config = CoarsePriorConfig(search_radius=24, step=16, chip_size=32)
    one = coarse_prior_grid(ref, sec, config=config)
    several = coarse_prior_grid(ref, sec, config=CoarsePriorConfig(search_radius=24, step=16, chip_size=32,
                                                                   block_size=64))
    for grid in (one, several):
        assert np.median(grid.dx) == pytest.approx(14.4, abs=0.15)
        assert np.median(grid.dy) == pytest.approx(-9.7, abs=0.15)
    assert float(np.percentile(np.abs(one.dx - several.dx), 90)) < 0.1
    assert one.max_offset() == pytest.approx(np.hypot(14.4, 9.7), abs=1.0)
