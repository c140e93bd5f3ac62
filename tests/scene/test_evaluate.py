import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from sarflow.errors import GridMismatchError, InputError, NoValidDataError, RasterFormatError
from sarflow.io import OffsetProduct, grid_transform, write_geotiff, write_offsets
from sarflow.scene.evaluate import evaluate

TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 6650000.0)
UTM7 = CRS.from_epsg(32607)
SHAPE = (64, 96)


def truth_field(shape=SHAPE):
    """dx = column / 10, dy = -row / 20 (pixels): every pixel's truth is known in closed form."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    return cols / 10, -rows / 20


@pytest.fixture
def truth(tmp_path):
    dx, dy = truth_field()
    return write_geotiff(tmp_path / "truth.tif", {"dx": dx, "dy": dy}, transform=TRANSFORM, crs=UTM7)


def step8_estimate(tmp_path, *, error_dx=0.25, error_dy=0.0, name="off.tif", crs=UTM7, transform=TRANSFORM,
                   nan_rows=0, sigma=None):
    """An estimate on a step-8 grid from pixel (4, 4): the truth at each point plus a known error."""
    rows, cols = 4 + 8 * np.arange(SHAPE[0] // 8), 4 + 8 * np.arange(SHAPE[1] // 8)
    tdx, tdy = truth_field()
    dx = tdx[np.ix_(rows, cols)] + error_dx
    dy = tdy[np.ix_(rows, cols)] + error_dy
    dx[:nan_rows] = np.nan
    quality = {} if sigma is None else {"sigma_px": np.full(dx.shape, sigma, np.float32)}
    product = OffsetProduct(dx=dx, dy=dy, quality=quality, crs=crs,
                            transform=grid_transform(transform, row0=4, col0=4, step=8))
    return write_offsets(product, tmp_path / name)


def test_step8_estimate_against_per_pixel_truth(tmp_path, truth):
    est = step8_estimate(tmp_path, error_dx=0.25, error_dy=-0.1, nan_rows=2)
    m = evaluate(est, truth)
    assert m["compared_with"] == "truth"
    assert m["n_points"] == 8 * 12 and m["n_valid"] == 6 * 12 and m["coverage"] == pytest.approx(0.75)
    assert m["dx"]["bias"] == pytest.approx(0.25, abs=1e-6) and m["dy"]["bias"] == pytest.approx(-0.1, abs=1e-6)
    assert m["rmse"] == pytest.approx(np.hypot(0.25, 0.1), abs=1e-6)
    assert m["share_above_0.1px"] == 1.0 and m["share_above_0.5px"] == 0.0
    assert m["inputs"]["estimate_shape"] == [8, 12]
    assert set(m["bands"]) == {"below_0.5px", "0.5_to_5px", "above_5px"}
    assert sum(b["n_points"] for b in m["bands"].values()) == m["n_points"]


def test_netcdf_estimate_and_sigma_calibration(tmp_path, truth):
    est = step8_estimate(tmp_path, error_dx=0.1, name="off.nc", sigma=0.15)
    m = evaluate(est, truth)
    assert m["rmse"] == pytest.approx(0.1, abs=1e-6)
    # |error_dx| = 0.1 and |error_dy| = 0 are both within 1 sigma (0.15 px); only dy within 0.5 sigma.
    assert m["calibration"]["within_1sigma"] == 1.0
    assert m["calibration"]["observed"][0] == pytest.approx(0.5)


def test_mask_georeferenced_or_on_the_truth_grid(tmp_path, truth):
    est = step8_estimate(tmp_path, error_dx=0.3)
    moving = np.zeros(SHAPE, np.float32)
    moving[:, 48:] = 1  # right half of the scene
    geo = write_geotiff(tmp_path / "mask.tif", {"mask": moving}, transform=TRANSFORM, crs=UTM7)
    plain = write_geotiff(tmp_path / "plain.tif", {"mask": moving})  # no georeferencing, truth's shape
    for mask in (geo, plain):
        m = evaluate(est, truth, mask=mask)
        assert m["mask"]["inside"]["n_points"] == 8 * 6 and m["mask"]["outside"]["n_points"] == 8 * 6
        assert m["mask"]["inside"]["rmse"] == pytest.approx(0.3, abs=1e-6)


def test_stable_ground_alone_and_beside_a_truth(tmp_path, truth):
    zero = np.zeros((8, 12), np.float32)
    offsets = OffsetProduct(dx=zero + 0.05, dy=zero - 0.02, crs=UTM7,
                            transform=grid_transform(TRANSFORM, row0=4, col0=4, step=8))
    est = write_offsets(offsets, tmp_path / "real.tif")
    still = np.zeros(SHAPE, np.float32)
    still[:16] = 1  # top two rows of points
    stable = write_geotiff(tmp_path / "stable.tif", {"stable": still}, transform=TRANSFORM, crs=UTM7)
    m = evaluate(est, stable=stable)
    assert m["compared_with"] == "zero offsets on stable ground"
    assert m["n_points"] == 2 * 12 and m["dx"]["bias"] == pytest.approx(0.05, abs=1e-6)
    assert m["rmse"] == pytest.approx(np.hypot(0.05, 0.02), abs=1e-6)
    with_truth = evaluate(step8_estimate(tmp_path), truth, stable=stable)
    assert with_truth["stable_ground"]["n_points"] == 24


def test_agreement_of_estimates_on_different_grids(tmp_path):
    # A per-pixel field and a step-8 one 0.2 px apart in dx: the second is read at the first's points.
    dx, dy = truth_field()
    dense = write_offsets(OffsetProduct(dx=dx, dy=dy, crs=UTM7, transform=TRANSFORM), tmp_path / "dense.tif")
    coarse = step8_estimate(tmp_path, error_dx=0.2)
    m = evaluate(coarse, against=dense)
    assert m["compared_with"] == "second estimate"
    assert m["rmse"] == pytest.approx(0.2, abs=1e-6) and m["dx"]["correlation"] == pytest.approx(1.0)
    assert m["coverage"] == 1.0 and m["inputs"]["against"].endswith("dense.tif")


def test_crs_mismatch_is_refused(tmp_path, truth):
    est = step8_estimate(tmp_path, crs=CRS.from_epsg(32606))
    with pytest.raises(GridMismatchError, match=r"estimate .*off.tif is in EPSG:32606 but truth .*truth.tif is in "
                                                r"EPSG:32607; reproject"):
        evaluate(est, truth)
    plain = step8_estimate(tmp_path, crs=None, name="plain.tif")
    with pytest.raises(GridMismatchError, match="has no CRS"):
        evaluate(plain, truth)


def test_grids_that_do_not_overlap(tmp_path, truth):
    est = step8_estimate(tmp_path, transform=TRANSFORM @ Affine.translation(1000, 0))
    with pytest.raises(GridMismatchError, match="do not overlap: estimate .* covers x 510005 to 510965, y 6649355 to "
                                                "6649995; truth .* covers x 500000 to 500960"):
        evaluate(est, truth)


def test_truth_without_dx_dy_bands(tmp_path):
    est = step8_estimate(tmp_path)
    image = write_geotiff(tmp_path / "reference.tif", {"amplitude": np.ones(SHAPE, np.float32)},
                          transform=TRANSFORM, crs=UTM7)
    with pytest.raises(RasterFormatError, match=r"^truth: .*reference.tif: no bands described 'dx' and 'dy' "
                                                r"\(found \['amplitude'\]\)"):
        evaluate(est, image)


def test_missing_files(tmp_path, truth):
    with pytest.raises(RasterFormatError, match=r"^estimate: .*nope.tif: no such file"):
        evaluate(tmp_path / "nope.tif", truth)
    est = step8_estimate(tmp_path)
    with pytest.raises(RasterFormatError, match=r"^mask: .*gone.tif: no such file"):
        evaluate(est, truth, mask=tmp_path / "gone.tif")


def test_all_nan_estimate_and_no_common_point(tmp_path, truth):
    est = step8_estimate(tmp_path, nan_rows=8)
    with pytest.raises(NoValidDataError, match=r"estimate .*off.tif has no valid offset"):
        evaluate(est, truth)
    dx, dy = truth_field()
    dx[:, :] = np.nan
    dx[0, 0] = 1.0  # one valid truth pixel that no estimate point reads
    lonely = write_geotiff(tmp_path / "lonely.tif", {"dx": dx, "dy": dy}, transform=TRANSFORM, crs=UTM7)
    with pytest.raises(NoValidDataError, match="no point where both"):
        evaluate(step8_estimate(tmp_path, name="ok.tif"), lonely)


def test_nothing_or_too_much_to_compare_with(tmp_path, truth):
    est = step8_estimate(tmp_path)
    with pytest.raises(InputError, match="nothing to evaluate against"):
        evaluate(est)
    with pytest.raises(InputError, match="not both"):
        evaluate(est, truth, against=est)


def test_simulated_scene_tracked_end_to_end(tmp_path):
    from sarflow.io import read_offsets, read_raster
    from sarflow.scene.simulate import simulate
    from sarflow.scene.track import track
    from sarflow.tracking import TrackConfig

    scene = simulate("smooth", tmp_path / "scene", size=(96, 96), seed=3, quicklook=False)
    track(scene.reference, scene.secondary, tmp_path / "off.tif",
          config=TrackConfig(chip_sizes=(32,), step=8, search_radius=6, workers=1))
    m = evaluate(tmp_path / "off.tif", scene.truth)
    # The same figures by direct indexing of the truth at the tracker's points (pixel 4 + 8 i).
    product = read_offsets(tmp_path / "off.tif")
    tdx, tdy = (read_raster(scene.truth, band=b).data[4::8, 4::8] for b in (1, 2))
    err = np.hypot(product.dx - tdx, product.dy - tdy)
    assert m["rmse"] == pytest.approx(float(np.sqrt(np.nanmean(err**2))), rel=1e-5)
    assert m["rmse"] < 0.2
