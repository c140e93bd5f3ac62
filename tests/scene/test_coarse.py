import numpy as np
import pytest

from sarflow.errors import InputError
from sarflow.scene.blocks import ArraySource, Block
from sarflow.scene.coarse import CoarsePriorConfig, PriorGrid, coarse_prior_grid, resample, warp_window
from sarflow.simulation.fields import UniformShift
from sarflow.simulation.pair import ImagingConfig, simulate_pair


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


def test_strips_on_threads_give_the_values_of_one_thread(monkeypatch):
    from sarflow.scene import coarse

    rng = np.random.default_rng(4)
    secondary = ArraySource(rng.exponential(size=(100, 110)).astype(np.float32))
    grid = smooth_grid()
    block = Block(0, 100, 0, 110)
    residual = rng.normal(0, 0.5, (2, 100, 110)).astype(np.float32)
    results = {}
    monkeypatch.setattr(coarse, "STRIP_MIN_PIXELS", 0)  # threads even on this small window
    for threads in (1, 3):
        monkeypatch.setattr(coarse, "STRIP_THREADS", threads)
        results[threads] = (warp_window(secondary, grid, block, strip_rows=9),
                            *grid.compose(block, residual[0], residual[1], strip_rows=9))
    for one, many in zip(results[1], results[3]):
        np.testing.assert_array_equal(one, many)


@pytest.mark.parametrize("shape", [(6, 7), (1, 5), (4, 1), (1, 1)])
def test_the_prior_over_a_window_is_the_prior_at_its_pixels(shape):
    """The separable window interpolation equals `PriorGrid.at` pixel by pixel (to float32 round-off),
    over blocks inside, across and outside the grid, and for grids of one row or column."""
    rng = np.random.default_rng(3)
    grid = PriorGrid(rng.normal(3, 2, shape).astype(np.float32), rng.normal(-2, 2, shape).astype(np.float32),
                     row0=8, col0=8, step=16, sigma=rng.uniform(0.01, 0.5, shape).astype(np.float32))
    for block in (Block(0, 100, 0, 110), Block(-30, 5, 97, 160), Block(50, 51, 3, 4), Block(20, 20, 0, 9)):
        rows = np.arange(block.row0, block.row1, dtype=np.float64)[:, None]
        cols = np.arange(block.col0, block.col1, dtype=np.float64)[None, :]
        for got, expected in zip(grid.window(block), grid.at(rows, cols)):
            assert got.shape == block.shape and got.dtype == np.float32
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
        expected_sigma = grid._bilinear((grid.sigma,), rows, cols)[0]
        np.testing.assert_allclose(grid.sigma_window(block), expected_sigma, rtol=1e-6, atol=1e-6)


def test_prior_variance_is_the_term_combined_sigma_adds():
    from sarflow.scene.coarse import combined_sigma, prior_variance

    sigma = np.array([0.0, 0.04, 0.3, -0.1], dtype=np.float32)  # a negative one counts as 0
    np.testing.assert_allclose(prior_variance(sigma, 2.0, 1.5), (2.0 * np.maximum(sigma, 0) ** 1.5) ** 2, rtol=1e-6)
    assert prior_variance(sigma, 0.0) is None and prior_variance(None, 2.0) is None
    net = np.array([0.1, 0.2, 0.0, 0.5], dtype=np.float32)
    np.testing.assert_allclose(combined_sigma(net, sigma, None, 2.0, 1.5),
                               np.sqrt(net**2 + prior_variance(sigma, 2.0, 1.5)), rtol=1e-6)
    np.testing.assert_array_equal(sigma, np.array([0.0, 0.04, 0.3, -0.1], dtype=np.float32))  # inputs untouched


@pytest.mark.parametrize("kernel, tolerance", [("sinc", 1e-3), ("keys", 5e-3)])
def test_resample_moves_a_smooth_image_by_the_prior(kernel, tolerance):
    rows, cols = np.mgrid[0:64, 0:64].astype(np.float64)

    def image(r, c):
        return (2 + np.sin(r / 5.0) * np.cos(c / 7.0)).astype(np.float32)

    shift_r, shift_c = 2.3, -1.6
    out = resample(ArraySource(image(rows, cols)), np.full((64, 64), shift_c, np.float32),
                   np.full((64, 64), shift_r, np.float32), Block(0, 64, 0, 64), kernel=kernel)
    inner = (slice(8, -8), slice(8, -8))  # the sinc reaches 4 px: outside the image counts as 0
    truth = image(rows + shift_r, cols + shift_c)
    error = (out - truth)[inner]
    assert float(np.abs(error).max()) < tolerance
    # the shift that best explains the error (least squares on the image gradient) is nil
    g_r, g_c = (g[inner] for g in np.gradient(truth.astype(np.float64)))
    shift_error = np.linalg.lstsq(np.stack([g_r.ravel(), g_c.ravel()], axis=1), error.ravel(), rcond=None)[0]
    assert np.abs(shift_error).max() < 3e-3  # Keys with a = -0.75 would give 0.04 px here


def test_tabulated_sinc_weights_equal_the_kernel_weights():
    from sarflow.tracking.subpixel import fraction_weights, kernel_weights

    t = np.random.default_rng(3).random((5, 7))
    t[0, :3] = [0.0, 0.5, 1.0]
    table = fraction_weights(t, "sinc")
    assert table.shape == (5, 7, 8) and table.dtype == np.float32
    direct = kernel_weights(t.ravel(), 4, "sinc")
    assert np.abs(direct[:, 0]).max() == 0.0  # the tap 4 + t px away lies outside the kernel
    np.testing.assert_array_equal(table.reshape(-1, 8), direct[:, 1:].astype(np.float32))
    with pytest.raises(ValueError, match="fractions"):
        fraction_weights(np.array([1.2]), "sinc")


def test_resample_kernel_is_checked():
    with pytest.raises(InputError, match="kernel"):
        resample(ArraySource(np.ones((8, 8), np.float32)), np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32),
                 Block(0, 8, 0, 8), kernel="lanczos")


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


def test_gap_spread_is_the_variability_around_each_gap():
    from sarflow.scene.coarse import gap_spread

    grid = np.zeros((9, 12), dtype=np.float32)
    grid[:, 6:] = 10.0
    grid[:, 5:7] = np.nan  # a gap between still and moving ground
    spread = gap_spread(grid)
    assert (spread[np.isfinite(grid)] == 0).all()
    assert np.allclose(spread[:, 5:7], 5.0, atol=0.6)  # about as many 0 as 10 around: std 5
    uniform = np.full((9, 12), 3.0, dtype=np.float32)
    uniform[4, 4] = np.nan
    assert gap_spread(uniform).max() == 0  # filling inside uniform motion costs nothing
    assert gap_spread(np.full((4, 4), np.nan, dtype=np.float32)).max() == 0


def test_prior_grid_keeps_its_spread_through_arrays_and_windows():
    grid = smooth_grid()
    spread = np.zeros_like(grid.dx)
    spread[2, 3] = 4.0
    with_gaps = PriorGrid(grid.dx, grid.dy, grid.row0, grid.col0, grid.step, spread, spread)
    back = PriorGrid.from_arrays(with_gaps.to_arrays())
    np.testing.assert_array_equal(back.spread_dx, spread)
    assert back.has_gaps and not smooth_grid().has_gaps
    sx, sy = back.spread_window(Block(0, 100, 0, 110))
    row, col = grid.row0 + 2 * grid.step, grid.col0 + 3 * grid.step
    assert sx[row, col] == pytest.approx(4.0) and sx[row + grid.step // 2, col] == pytest.approx(2.0)
    assert (smooth_grid().spread_window(Block(0, 10, 0, 10))[0] == 0).all()


def test_prior_grid_keeps_the_trackers_sigma_and_adds_it_to_the_networks():
    from sarflow.scene.coarse import combined_sigma

    grid = smooth_grid()
    sigma = np.full_like(grid.dx, 0.1)
    sigma[2, 3] = 0.3
    known = PriorGrid.from_arrays(PriorGrid(grid.dx, grid.dy, grid.row0, grid.col0, grid.step, sigma=sigma).to_arrays())
    np.testing.assert_array_equal(known.sigma, sigma)
    assert smooth_grid().sigma_window(Block(0, 10, 0, 10)) is None
    block = Block(0, 100, 0, 110)
    row, col = grid.row0 + 2 * grid.step, grid.col0 + 3 * grid.step
    assert known.sigma_window(block)[row, col] == pytest.approx(0.3)
    assert known.sigma_window(block)[row, col + grid.step // 2] == pytest.approx(0.2)
    net = np.full(block.shape, 0.4, dtype=np.float32)
    sx, sy = known.sigma_of_network(block, net, net, prior_scale=2.0)
    assert sx[row, col] == pytest.approx(np.hypot(0.4, 0.6)) and sy[0, 0] == pytest.approx(np.hypot(0.4, 0.2))
    sx, _ = known.sigma_of_network(block, net, net, prior_scale=0.0)  # a weight of 0 leaves the prior out
    np.testing.assert_array_equal(sx, net)
    spread = np.array([0.3], dtype=np.float32)
    assert combined_sigma(np.array([0.0]), np.array([0.2]), spread, 2.0)[0] == pytest.approx(0.5)
    # a power other than 1 applies to the prior's sigma (in pixels) before its weight
    assert combined_sigma(np.array([0.0]), np.array([0.04]), None, 2.0, 1.5)[0] == pytest.approx(2.0 * 0.04 ** 1.5)
    sx, _ = known.sigma_of_network(block, net, net, prior_scale=2.0, prior_power=2.0)
    assert sx[row, col] == pytest.approx(np.hypot(0.4, 2.0 * 0.09))


def test_coarse_prior_carries_the_trackers_error_estimate():
    pair = simulate_pair(UniformShift(0.3, -0.2), shape=(256, 256), seed=8)
    noisy = simulate_pair(UniformShift(0.3, -0.2), shape=(256, 256), seed=8,
                          imaging=ImagingConfig(coherence=0.3, snr_db=5.0))
    config = CoarsePriorConfig(search_radius=4, step=8, chip_size=32, kernels=3)
    sharp, blurred = (coarse_prior_grid(ArraySource(p.reference), ArraySource(p.secondary), config=config).sigma
                      for p in (pair, noisy))
    assert np.isfinite(sharp).all() and (sharp > 0).all()
    # Decorrelated, noisy ground: the tracker says its estimates are worse, and the prior keeps it.
    assert np.median(blurred) > 2 * np.median(sharp)


def test_network_sigma_grows_where_the_prior_was_gap_filled(tiny_weights):
    from sarflow.models import load_model
    from sarflow.scene.inference import InferenceConfig
    from sarflow.scene.predict import predict_arrays
    from sarflow.simulation.fields import SmoothField

    pair = simulate_pair(SmoothField(amplitude_px=3.0, correlation_px=60, seed=3), shape=(256, 256), seed=4)
    secondary = pair.secondary.copy()
    rng = np.random.default_rng(0)
    secondary[:, 160:] = rng.exponential(size=(256, 96)).astype(np.float32)  # decorrelated: no estimate there
    model = load_model(str(tiny_weights))
    config = InferenceConfig(tile_size=256, precision="fp32", device="cpu")
    out = predict_arrays(model, pair.reference, secondary, config=config, prior="always", search_radius=8)
    plain = predict_arrays(model, pair.reference, secondary, config=config, prior="none")
    inside, outside = (slice(20, 236), slice(200, 236)), (slice(20, 236), slice(20, 120))
    # What the prior adds to the network's own sigma (about 1 px for this untrained network).
    added = np.sqrt(np.maximum(out["sigma_dx"] ** 2 - plain["sigma_dx"] ** 2, 0))
    assert np.nanmedian(added[inside]) > 0.3  # the guessed prior's spread (the motion varies by pixels)
    assert np.nanmedian(added[outside]) < 0.1  # where the tracker measured, nothing


@pytest.mark.parametrize("side, kernels, chips", [
    (384, 3, (32, 64, 128)),   # a scene: the tracker's full chip set
    (256, 3, (32, 64, 128)),
    (255, 3, (32, 64)),        # a 128 px chip needs a scene of twice its size
    (128, 3, (32, 64)),        # the 128 px training patches of the residual route
    (384, 2, (32, 64)),
    (384, 1, (32,)),
    (40, 3, (20, 40)),         # a tiny scene scales the chips down
])
def test_coarse_pass_chip_sizes_follow_kernels_and_scene_size(side, kernels, chips):
    from sarflow.scene.coarse import coarse_track_config

    config = CoarsePriorConfig(search_radius=16, step=8, chip_size=32, kernels=kernels)
    assert coarse_track_config((side, side + 50), config).chip_sizes == chips


def test_residual_route_prior_uses_the_trackers_chip_set():
    from sarflow.tracking import TrackConfig
    from sarflow.training.synthetic import prior_config

    config = prior_config()
    assert (config.step, config.chip_size, config.kernels) == (8, 32, 3)
    assert tuple(32 * 2**k for k in range(config.kernels)) == TrackConfig().chip_sizes


def test_kernels_must_be_positive():
    from sarflow.errors import InputError

    with pytest.raises(InputError, match="kernels"):
        CoarsePriorConfig(kernels=0)


def test_adaptive_smoothing_brings_the_prior_closer_to_a_uniform_shift():
    from sarflow.errors import InputError

    pair = simulate_pair(UniformShift(0.3, -0.2), shape=(256, 256), seed=9, imaging=ImagingConfig(coherence=0.5))
    source = ArraySource(pair.reference), ArraySource(pair.secondary)
    errors = {}
    for smoothing in ("adaptive", "none"):
        config = CoarsePriorConfig(search_radius=4, step=8, chip_size=32, kernels=3, smoothing=smoothing)
        grid = coarse_prior_grid(*source, config=config)
        errors[smoothing] = float(np.sqrt(np.mean((grid.dx[4:-4, 4:-4] - 0.3) ** 2 + (grid.dy[4:-4, 4:-4] + 0.2) ** 2)))
    assert errors["adaptive"] < 0.9 * errors["none"]
    with pytest.raises(InputError, match="smoothing"):
        CoarsePriorConfig(smoothing="gaussian")
