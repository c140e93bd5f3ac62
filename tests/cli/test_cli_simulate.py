import json

import numpy as np
import pytest
import rasterio

from sarflow.cli import main
from sarflow.io import open_pair, read_offsets


def test_simulate_shift_writes_georeferenced_pair_and_truth(tmp_path, capsys):
    out = tmp_path / "shift"
    status = main(["simulate", "shift", "-o", str(out), "--size", "64", "80", "--dx-px", "0.4", "--dy-px", "-1.25",
                   "--seed", "3", "--no-quicklook"])
    assert status == 0
    assert "truth.tif" in capsys.readouterr().out
    reference, secondary = open_pair(out / "reference.tif", out / "secondary.tif")
    assert reference.data.shape == (64, 80)
    assert reference.crs.to_epsg() == 32607
    assert reference.transform.a == 10.0 and reference.transform.e == -10.0
    truth = read_offsets(out / "truth.tif")
    np.testing.assert_allclose(truth.dx, 0.4)
    np.testing.assert_allclose(truth.dy, -1.25)
    assert truth.transform == reference.transform
    with rasterio.open(out / "truth.tif") as src:
        assert src.descriptions == ("dx", "dy")
    meta = json.loads((out / "scenario.json").read_text())
    assert meta["scenario"] == "shift" and meta["seed"] == 3 and meta["params"]["dx_px"] == 0.4
    assert not (out / "quicklook.png").exists()


def test_simulate_is_deterministic_with_a_seed(tmp_path):
    for name in ("a", "b"):
        assert main(["simulate", "smooth", "-o", str(tmp_path / name), "--size", "48", "48", "--seed", "9",
                     "--no-quicklook"]) == 0
    a = open_pair(tmp_path / "a" / "reference.tif", tmp_path / "a" / "secondary.tif")
    b = open_pair(tmp_path / "b" / "reference.tif", tmp_path / "b" / "secondary.tif")
    np.testing.assert_array_equal(a[1].data, b[1].data)
    np.testing.assert_array_equal(read_offsets(tmp_path / "a" / "truth.tif").dx,
                                  read_offsets(tmp_path / "b" / "truth.tif").dx)


@pytest.mark.parametrize("scenario", ["glacier", "earthquake", "volcano", "landslide"])
def test_geophysical_scenarios_move_the_ground(tmp_path, scenario):
    out = tmp_path / scenario
    assert main(["simulate", scenario, "-o", str(out), "--size", "96", "96", "--no-quicklook"]) == 0
    truth = read_offsets(out / "truth.tif")
    magnitude = np.hypot(truth.dx, truth.dy)
    assert np.isfinite(magnitude).all()
    assert magnitude.max() > 0.05


def test_radar_grid_is_written_in_pixel_coordinates(tmp_path):
    out = tmp_path / "radar"
    assert main(["simulate", "volcano", "-o", str(out), "--size", "40", "40", "--grid", "radar",
                 "--no-quicklook"]) == 0
    with rasterio.open(out / "reference.tif") as src:
        assert src.crs is None


def test_quicklook_is_written(tmp_path):
    out = tmp_path / "ql"
    assert main(["simulate", "shift", "-o", str(out), "--size", "32", "32"]) == 0
    assert (out / "quicklook.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_parameter_gives_clear_error_and_no_files(tmp_path, capsys):
    out = tmp_path / "bad"
    status = main(["simulate", "shift", "-o", str(out), "--size", "32", "32", "--coherence", "1.5"])
    assert status == 1
    assert "coherence must lie in [0, 1]" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_unknown_scenario_is_a_usage_error(tmp_path, capsys):
    status = main(["simulate", "tsunami", "-o", str(tmp_path)])
    assert status == 2
    assert "No such command 'tsunami'" in capsys.readouterr().err


def test_user_image_as_texture(tmp_path):
    base = tmp_path / "base"
    assert main(["simulate", "shift", "-o", str(base), "--size", "40", "40", "--no-quicklook"]) == 0
    out = tmp_path / "textured"
    assert main(["simulate", "volcano", "-o", str(out), "--size", "40", "40", "--texture",
                 str(base / "reference.tif"), "--no-quicklook"]) == 0
    meta = json.loads((out / "scenario.json").read_text())
    assert meta["texture"].endswith("reference.tif")


def test_constant_texture_image_is_refused(tmp_path, capsys):
    flat = tmp_path / "flat.tif"
    with rasterio.open(flat, "w", driver="GTiff", height=16, width=16, count=1, dtype="float32") as dst:
        dst.write(np.ones((16, 16), np.float32), 1)
    status = main(["simulate", "shift", "-o", str(tmp_path / "o"), "--size", "16", "16", "--texture", str(flat)])
    assert status == 1
    assert "texture image" in capsys.readouterr().err
