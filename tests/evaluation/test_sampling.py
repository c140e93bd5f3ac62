import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from sarflow.errors import GridMismatchError
from sarflow.evaluation import cell_centres, check_same_crs, grid_bounds, sample_onto
from sarflow.io.products import grid_transform

REF = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 6650000.0)


def column_field(shape):
    """A per-pixel field holding each pixel's own column index (dx) and row index (dy)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    return cols, rows


def test_step8_grid_reads_the_truth_at_its_own_pixels():
    truth_dx, truth_dy = column_field((64, 96))
    at = grid_transform(REF, row0=4, col0=4, step=8)
    dx, inside = sample_onto(truth_dx, REF, at, (8, 12))
    dy, _ = sample_onto(truth_dy, REF, at, (8, 12))
    assert inside.all()
    np.testing.assert_array_equal(dx[0], 4 + 8 * np.arange(12))
    np.testing.assert_array_equal(dy[:, 0], 4 + 8 * np.arange(8))


def test_exact_centres_read_one_cell_even_beside_nan():
    truth_dx, _ = column_field((16, 16))
    truth_dx[5, 6] = np.nan  # the neighbour of (4, 4)... and of nothing sampled below
    truth_dx[4, 5] = np.nan
    at = grid_transform(REF, row0=4, col0=4, step=8)
    dx, _ = sample_onto(truth_dx, REF, at, (2, 2))
    assert dx[0, 0] == 4.0  # reference pixel (4, 4) itself, its NaN neighbour has zero weight


def test_bilinear_between_coarse_points_is_exact_for_a_linear_field():
    # Truth on a step-16 grid starting at pixel 8; points of a step-8 grid starting at pixel 12.
    cols16 = 8 + 16 * np.arange(10.0)
    rows16 = 8 + 16 * np.arange(6.0)
    coarse = 0.5 * cols16[None, :] - 0.25 * rows16[:, None]
    at = grid_transform(REF, row0=12, col0=12, step=8)
    out, inside = sample_onto(coarse, grid_transform(REF, row0=8, col0=8, step=16), at, (8, 16))
    rows8, cols8 = 12 + 8 * np.arange(8.0), 12 + 8 * np.arange(16.0)
    expected = 0.5 * cols8[None, :] - 0.25 * rows8[:, None]
    ok = np.isfinite(out)
    assert ok[:-1, :-1].all()
    np.testing.assert_allclose(out[ok], expected[ok], atol=1e-9)


def test_nan_neighbours_and_outside_points_give_nan():
    grid = np.ones((4, 4))
    grid[1, 1] = np.nan
    # Points half-way between cell centres of the same grid: centre indices 0.5, 1.5, 2.5, 3.5.
    at = Affine.translation(0.5, 0.5)
    out, inside = sample_onto(grid, Affine.identity(), at, (4, 4))
    assert np.isnan(out[0, 0]) and np.isnan(out[1, 1])  # both touch cell (1, 1)
    assert out[2, 2] == 1.0
    assert inside.all() and out[3, 3] == 1.0  # on the grid's edge: the edge cell's value
    shifted = Affine.translation(2.0, 0.0)  # the last two columns of points fall outside
    out, inside = sample_onto(grid, Affine.identity(), shifted, (4, 4))
    assert inside[:, :2].all() and not inside[:, 2:].any() and np.isnan(out[:, 2:]).all()
    far = Affine.translation(100, 100)
    out, inside = sample_onto(grid, Affine.identity(), far, (2, 2))
    assert not inside.any() and np.isnan(out).all()


def test_nearest_reads_the_cell_a_point_falls_in():
    mask = np.array([[1.0, 0.0], [0.0, 1.0]])
    at = Affine.scale(0.5)  # a grid twice as fine
    out, inside = sample_onto(mask, Affine.identity(), at, (4, 4), method="nearest")
    np.testing.assert_array_equal(out, np.kron(mask, np.ones((2, 2))))
    assert inside.all()


def test_cell_centres_and_bounds():
    x, y = cell_centres(REF, (2, 3))
    assert (x[0, 0], y[0, 0]) == (500005.0, 6649995.0)
    assert grid_bounds(REF, (2, 3)) == (500000.0, 6649980.0, 500030.0, 6650000.0)


def test_crs_checks_name_both_sides():
    check_same_crs(None, None, name_a="a", name_b="b")
    check_same_crs(CRS.from_epsg(32607), CRS.from_epsg(32607), name_a="a", name_b="b")
    with pytest.raises(GridMismatchError, match="estimate is in EPSG:32607 but truth is in EPSG:32606"):
        check_same_crs(CRS.from_epsg(32607), CRS.from_epsg(32606), name_a="estimate", name_b="truth")
    with pytest.raises(GridMismatchError, match="truth is in EPSG:32606 but estimate has no CRS"):
        check_same_crs(None, CRS.from_epsg(32606), name_a="estimate", name_b="truth")
