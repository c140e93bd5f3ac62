import json
import re

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from sarflow.cli import main
from sarflow.io import OffsetProduct, grid_transform, write_geotiff, write_offsets

TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 6650000.0)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A per-pixel truth (dx = 0.1 column), a step-8 estimate 0.2 px off in dx, a mask of the right half."""
    out = tmp_path_factory.mktemp("evaluate")
    rows, cols = np.mgrid[0:64, 0:64].astype(np.float32)
    truth = write_geotiff(out / "truth.tif", {"dx": cols / 10, "dy": np.zeros_like(cols)}, transform=TRANSFORM,
                          crs="EPSG:32607")
    grid = cols[4::8, 4::8] / 10
    est = write_offsets(OffsetProduct(dx=grid + 0.2, dy=np.zeros_like(grid), crs=CRS.from_epsg(32607),
                                      transform=grid_transform(TRANSFORM, row0=4, col0=4, step=8)), out / "off.tif")
    mask = write_geotiff(out / "mask.tif", {"mask": (cols >= 32).astype(np.float32)}, transform=TRANSFORM,
                         crs="EPSG:32607")
    other = write_offsets(OffsetProduct(dx=grid + 0.2, dy=np.zeros_like(grid), crs=None,
                                        transform=grid_transform(TRANSFORM, row0=4, col0=4, step=8)),
                          out / "nocrs.tif")
    image = write_geotiff(out / "image.tif", {"amplitude": cols}, transform=TRANSFORM, crs="EPSG:32607")
    return {"truth": truth, "est": est, "mask": mask, "nocrs": other, "image": image, "dir": out}


def test_table_by_default(files, capsys):
    assert main(["evaluate", str(files["est"]), str(files["truth"]), "--mask", str(files["mask"])]) == 0
    out = capsys.readouterr().out
    assert "against truth" in out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("group"))
    assert header.split()[:4] == ["group", "points", "coverage", "RMSE"]
    all_points = next(line for line in lines if line.startswith("all points"))
    assert all_points.split()[2:5] == ["64", "100.0%", "0.200"]
    assert any(line.startswith("inside mask") for line in lines)
    assert any(line.startswith("|truth| 0.5-5 px") for line in lines)


def test_json_holds_the_same_figures(files, capsys):
    assert main(["evaluate", str(files["est"]), str(files["truth"]), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rmse"] == pytest.approx(0.2, abs=1e-6) and result["p95"] == pytest.approx(0.2, abs=1e-6)
    assert result["mae"] == pytest.approx(0.2, abs=1e-6) and result["coverage"] == 1.0
    assert result["dx"]["bias"] == pytest.approx(0.2, abs=1e-6)
    # Points at columns 4, 12, ..., 60: true dx 0.4 | 1.2 ... 4.4 | 5.2, 6.0 px.
    assert [band["n_points"] for band in result["bands"].values()] == [8, 40, 16]


def test_agreement_and_stable_ground(files, capsys):
    assert main(["evaluate", str(files["est"]), "--against", str(files["truth"]), "--stable",
                 str(files["mask"])]) == 0
    out = capsys.readouterr().out
    assert "against second estimate" in out and "stable ground" in out and "coverage: both estimates" in out
    assert main(["evaluate", str(files["est"]), "--stable", str(files["mask"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "against zero offsets on stable ground" in lines[0]
    # The right half of the scene is "stable": 4 of 8 columns of points, each offset 0.1 column + 0.2 px.
    assert lines[3].split()[:4] == ["stable", "ground", "32", "100.0%"]


@pytest.mark.parametrize("args, message", [
    (["{dir}/missing.tif", "{truth}"], r"^error: estimate: .*missing.tif: no such file$"),
    (["{nocrs}", "{truth}"], r"^error: truth .* is in EPSG:32607 but estimate .* has no CRS"),
    (["{est}", "{image}"], r"^error: truth: .*image.tif: no bands described 'dx' and 'dy'"),
    (["{est}"], r"^error: nothing to evaluate against"),
])
def test_bad_input_gives_one_error_line(files, capsys, args, message):
    argv = ["evaluate"] + [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert re.search(message, err), err
