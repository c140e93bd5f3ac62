import numpy as np
import pytest

from sarflow.cli import main
from sarflow.io import read_offsets


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    out = tmp_path_factory.mktemp("scene")
    assert main(["simulate", "shift", "-o", str(out), "--size", "128", "128", "--dx-px", "0.4", "--dy-px",
                 "-0.3", "--no-quicklook"]) == 0
    return out


def test_track_command_end_to_end(scene, tmp_path, capsys):
    out = tmp_path / "off.nc"
    status = main(["track", str(scene / "reference.tif"), str(scene / "secondary.tif"), "-o", str(out),
                   "--chip-sizes", "32", "--step", "16", "--search-radius", "4", "--workers", "1"])
    assert status == 0
    assert "with an estimate" in capsys.readouterr().out
    product = read_offsets(out)
    assert np.nanmedian(product.dx) == pytest.approx(0.4, abs=0.05)
    assert np.nanmedian(product.dy) == pytest.approx(-0.3, abs=0.05)


def test_track_command_bad_chip_list(scene, tmp_path, capsys):
    status = main(["track", str(scene / "reference.tif"), str(scene / "secondary.tif"), "-o",
                   str(tmp_path / "o.tif"), "--chip-sizes", "32,abc"])
    assert status == 2
    assert "not a comma-separated list of integers" in capsys.readouterr().err


def test_track_command_chip_larger_than_image(scene, tmp_path, capsys):
    status = main(["track", str(scene / "reference.tif"), str(scene / "secondary.tif"), "-o",
                   str(tmp_path / "o.tif"), "--chip-sizes", "256", "--workers", "1"])
    assert status == 1
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "o.tif").exists()


def test_track_command_missing_input(tmp_path, capsys):
    status = main(["track", str(tmp_path / "a.tif"), str(tmp_path / "b.tif"), "-o", str(tmp_path / "o.tif")])
    assert status == 1
    assert "no such file" in capsys.readouterr().err
