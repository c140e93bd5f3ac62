import numpy as np
import pytest
from affine import Affine

from sarflow.errors import GridMismatchError, InputError
from sarflow.io import OffsetProduct, grid_transform, read_offsets, write_geotiff, write_offsets
from sarflow.scene.track import resample_prior, track
from sarflow.simulation.fields import UniformShift
from sarflow.simulation.pair import ImagingConfig, simulate_pair
from sarflow.tracking import TrackConfig

TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 6650000.0)
FAST = TrackConfig(chip_sizes=(32,), step=8, search_radius=6, workers=1)


def write_pair(folder, dx, dy, *, size=160, seed=0, crs="EPSG:32607"):
    pair = simulate_pair(UniformShift(dx, dy), shape=(size, size), seed=seed,
                         imaging=ImagingConfig(coherence=0.9, snr_db=30.0))
    ref = write_geotiff(folder / "ref.tif", {"amplitude": pair.reference}, transform=TRANSFORM, crs=crs)
    sec = write_geotiff(folder / "sec.tif", {"amplitude": pair.secondary}, transform=TRANSFORM, crs=crs)
    return ref, sec


def test_track_job_writes_georeferenced_product(tmp_path):
    ref, sec = write_pair(tmp_path, 0.35, -0.6)
    product = track(ref, sec, tmp_path / "off.tif", config=FAST, netcdf=True)
    back = read_offsets(tmp_path / "off.tif")
    assert (tmp_path / "off.nc").exists()
    assert np.nanmedian(back.dx) == pytest.approx(0.35, abs=0.03)
    assert np.nanmedian(back.dy) == pytest.approx(-0.6, abs=0.03)
    assert list(back.quality)[:3] == ["ncc", "peak_ratio", "sigma_px"]
    assert back.crs.to_epsg() == 32607
    # First estimate sits at reference pixel (4, 4): its cell centre is that pixel's centre.
    assert back.transform @ (0.5, 0.5) == pytest.approx(TRANSFORM @ (4.5, 4.5))
    assert back.metadata["reference"].endswith("ref.tif")
    assert '"chip_sizes": [32]' in back.metadata["parameters"]
    np.testing.assert_array_equal(back.dx, product.dx)


def test_prior_centres_the_search_on_large_motion(tmp_path):
    ref, sec = write_pair(tmp_path, 23.3, -17.6, size=200)
    prior = OffsetProduct(dx=np.full((3, 3), 23.0), dy=np.full((3, 3), -18.0),
                          transform=TRANSFORM @ Affine.scale(200 / 3), crs=None)
    prior_path = write_offsets(prior, tmp_path / "prior.tif")
    config = TrackConfig(chip_sizes=(32,), step=16, search_radius=3, coarse_to_fine=False, workers=1)
    product = track(ref, sec, tmp_path / "off.tif", config=config, prior=prior_path)
    assert np.nanmedian(product.dx) == pytest.approx(23.3, abs=0.05)
    assert np.nanmedian(product.dy) == pytest.approx(-17.6, abs=0.05)


def test_resample_prior_between_grids():
    # A prior on a step-16 grid holding each point's own reference column; resampled to step 8.
    cols16 = 8 + 16 * np.arange(10)
    rows16 = 8 + 16 * np.arange(6)
    dx = np.tile(cols16.astype(np.float32), (6, 1))
    prior = OffsetProduct(dx=dx, dy=np.zeros_like(dx), transform=grid_transform(TRANSFORM, row0=8, col0=8, step=16))
    rows8, cols8 = 4 + 8 * np.arange(10), 12 + 8 * np.arange(15)
    out_dx, _ = resample_prior(prior, rows=rows8, cols=cols8, reference_transform=TRANSFORM)
    np.testing.assert_allclose(out_dx[3], cols8, atol=1e-4)


def test_mismatched_pair_is_refused(tmp_path):
    ref, _ = write_pair(tmp_path, 0, 0, size=96)
    other = tmp_path / "other"
    other.mkdir()
    _, sec = write_pair(other, 0, 0, size=80)
    with pytest.raises(GridMismatchError, match=r"\(96, 96\).*vs \(80, 80\)"):
        track(ref, sec, tmp_path / "off.tif", config=FAST)
    assert not (tmp_path / "off.tif").exists()


def test_output_format_is_checked_before_work(tmp_path):
    ref, sec = write_pair(tmp_path, 0, 0, size=96)
    with pytest.raises(InputError, match="must end in .tif or .nc"):
        track(ref, sec, tmp_path / "off.png", config=FAST)


def test_prior_in_another_crs_is_refused(tmp_path):
    ref, sec = write_pair(tmp_path, 0, 0, size=96)
    from rasterio.crs import CRS

    prior = OffsetProduct(dx=np.zeros((2, 2)), dy=np.zeros((2, 2)), transform=TRANSFORM @ Affine.scale(48),
                          crs=CRS.from_epsg(32605))
    write_offsets(prior, tmp_path / "prior.tif")
    with pytest.raises(InputError, match="EPSG:32605 but the reference is in EPSG:32607"):
        track(ref, sec, tmp_path / "off.tif", config=FAST, prior=tmp_path / "prior.tif")
