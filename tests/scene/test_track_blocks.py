import os
import subprocess
import sys

import numpy as np
import pytest
from scene_helpers import write_pair

from sarflow.errors import InputError
from sarflow.io import read_offsets
from sarflow.scene.journal import ABORT_AFTER_BLOCKS_ENV, partial_folder
from sarflow.scene.track import track
from sarflow.scene.track_blocks import _block_points, _margin_points, needs_blocks
from sarflow.simulation.fields import SmoothField
from sarflow.simulation.pair import ImagingConfig, simulate_pair
from sarflow.tracking import TrackConfig

FAST = TrackConfig(chip_sizes=(32,), step=8, search_radius=6, workers=1)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("track-scene")
    sim = simulate_pair(SmoothField(amplitude_px=2.0, correlation_px=80, seed=2), shape=(384, 416), seed=2,
                        imaging=ImagingConfig(coherence=0.9, snr_db=30.0))
    reference, secondary = sim.reference.copy(), sim.secondary
    reference[300:, :100] = np.nan  # a nodata corner
    return write_pair(folder, reference, secondary)


def test_blocks_agree_with_the_whole_scene_run(pair, tmp_path):
    whole = track(*pair, tmp_path / "whole.tif", config=FAST)
    blocked = track(*pair, tmp_path / "blocked.tif", config=FAST, block_pixels=128)
    assert blocked.shape == whole.shape and not partial_folder(tmp_path / "blocked.tif").exists()
    both = np.isfinite(whole.dx) & np.isfinite(blocked.dx)
    either = np.isfinite(whole.dx) | np.isfinite(blocked.dx)
    assert both.sum() >= 0.99 * either.sum() and both.mean() > 0.8
    # The tracker's float32 correlation sums depend on the extent of the image it is given, so points
    # agree to round-off, not bit for bit (the largest differences sit on chips that reach past the scene).
    diff = np.abs(whole.dx - blocked.dx)[both]
    assert (diff < 0.01).mean() > 0.99 and diff.max() < 0.05
    assert np.isnan(blocked.dx[300 // 8 + 1 :, : 100 // 8 - 1]).all()  # nodata stays nodata
    back = read_offsets(tmp_path / "blocked.tif")
    np.testing.assert_array_equal(back.dx, blocked.dx)
    assert list(back.quality) == list(whole.quality)


def test_killed_blocked_run_resumes_to_the_clean_result(pair, tmp_path):
    out = tmp_path / "off.tif"
    command = [sys.executable, "-m", "sarflow", "track", str(pair[0]), str(pair[1]), "-o", str(out), "--chip-sizes",
               "32", "--step", "8", "--search-radius", "6", "--workers", "1", "--block-pixels", "128", "--quiet"]
    killed = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**os.environ, ABORT_AFTER_BLOCKS_ENV: "5"})
    assert killed.returncode == 75, killed.stderr
    assert not out.exists() and len(list(partial_folder(out).glob("block-*.npy"))) == 5
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    clean = track(*pair, tmp_path / "clean.tif", config=FAST, block_pixels=128)
    back = read_offsets(out)
    np.testing.assert_array_equal(back.dx, clean.dx)
    np.testing.assert_array_equal(back.quality["sigma_px"], clean.quality["sigma_px"])
    assert not partial_folder(out).exists()


def test_block_plan():
    config = TrackConfig()
    margin = _margin_points(config)
    assert margin % config.coarse_factor == 0 and margin * config.step >= 64 + 20
    assert needs_blocks((20000, 20000), 4_000_000_000) and not needs_blocks((2000, 2000), 4_000_000_000)
    points = _block_points(config, 8_000_000_000, margin)
    assert points % config.coarse_factor == 0 and points * config.step > 2000
    with pytest.raises(InputError, match="too small to track this scene in blocks"):
        _block_points(config, 500_000_000, margin)
