import numpy as np
import pytest

from sarflow.errors import InputError
from sarflow.io import write_geotiff
from sarflow.simulation.fields import UniformShift
from sarflow.simulation.pair import ImagingConfig, simulate_pair
from sarflow.tracking import TrackConfig
from sarflow.training.synthetic import SyntheticRecipe
from sarflow.training.tiles import load_tiles, make_dataset, offsets_to_pixels, read_pair_list, read_tiles


@pytest.fixture(scope="module")
def pair_list(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairs")
    pair = simulate_pair(UniformShift(0.6, -0.4), shape=(160, 160), seed=2, imaging=ImagingConfig(coherence=0.9))
    write_geotiff(folder / "a.tif", {"amplitude": pair.reference})
    write_geotiff(folder / "b.tif", {"amplitude": pair.secondary})
    listing = folder / "pairs.csv"
    listing.write_text("reference,secondary\n# the only pair\na.tif, b.tif\n")
    return listing


def test_pair_list_resolves_relative_paths(pair_list):
    pairs = read_pair_list(pair_list)
    assert len(pairs) == 1 and pairs[0][0].endswith("a.tif")


def test_pair_list_bad_line(tmp_path):
    bad = tmp_path / "p.txt"
    bad.write_text("a.tif b.tif c.tif\n")
    with pytest.raises(InputError, match="expected 'reference,secondary'"):
        read_pair_list(bad)


def test_dataset_labelled_by_tracking(pair_list, tmp_path):
    summary = make_dataset(read_pair_list(pair_list), tmp_path / "t.h5", labels="track", tile_size=64, stride=48,
                           track_config=TrackConfig(chip_sizes=(32,), step=8, search_radius=4, workers=1))
    assert summary.tiles >= 4
    tiles = load_tiles(summary.path)
    batch = read_tiles(tiles["path"], [0, 1])
    assert batch["target"].shape == (2, 2, 64, 64)
    labelled = batch["target"][:, 0][batch["mask"][:, 0]]
    assert float(labelled.median()) == pytest.approx(0.6, abs=0.05)


def test_default_chips_larger_than_a_small_pair_are_left_out(tmp_path):
    pair = simulate_pair(UniformShift(0.6, -0.4), shape=(100, 100), seed=2, imaging=ImagingConfig(coherence=0.9))
    write_geotiff(tmp_path / "a.tif", {"amplitude": pair.reference})
    write_geotiff(tmp_path / "b.tif", {"amplitude": pair.secondary})
    # Default chips 32, 64, 128: 128 does not fit a 100 px image; 32 and 64 label it.
    summary = make_dataset([(str(tmp_path / "a.tif"), str(tmp_path / "b.tif"))], tmp_path / "t.h5", tile_size=64,
                           stride=36, track_config=TrackConfig(step=4, workers=1))
    batch = read_tiles(summary.path, [0])
    labelled = batch["target"][:, 0][batch["mask"][:, 0]]
    assert summary.tiles >= 1 and float(labelled.median()) == pytest.approx(0.6, abs=0.05)


def test_dataset_labelled_by_simulation(pair_list, tmp_path):
    summary = make_dataset(read_pair_list(pair_list), tmp_path / "s.h5", labels="simulate", tile_size=64,
                           recipe=SyntheticRecipe(patch_size=64), seed=1)
    batch = read_tiles(summary.path, [0])
    assert batch["mask"].float().mean() > 0.9
    assert np.isfinite(batch["target"].numpy()).all()


def test_offsets_to_pixels_interpolates_between_grid_points():
    dx = np.array([[0.0, 8.0], [0.0, 8.0]], dtype=np.float32)
    pdx, _ = offsets_to_pixels(dx, dx, row0=4, col0=4, step=8, shape=(16, 16))
    assert pdx[4, 4] == pytest.approx(0.0) and pdx[4, 12] == pytest.approx(8.0) and pdx[8, 8] == pytest.approx(4.0)
    assert np.isnan(pdx[0, 0])
