import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from sarflow.cli import main
from sarflow.io import OffsetProduct, grid_transform, write_offsets

IMAGE_TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 6000000.0)


@pytest.fixture()
def offsets(tmp_path):
    """A tracking-like product on a 10 m image, every 4 pixels: 2 px east, a hole, sigma 0.1 px."""
    dx = np.full((12, 16), 2.0, np.float32)
    dy = np.zeros((12, 16), np.float32)
    dx[5:7, 5:9] = np.nan
    product = OffsetProduct(dx=dx, dy=dy, quality={"sigma_px": np.full((12, 16), 0.1, np.float32)},
                            transform=grid_transform(IMAGE_TRANSFORM, row0=8, col0=8, step=4),
                            crs=CRS.from_epsg(32633),
                            metadata={"method": "sarflow.track: test", "parameters": {"step": 4}})
    return write_offsets(product, tmp_path / "off.tif")


def test_velocity_command_end_to_end(offsets, tmp_path, capsys):
    out, png = tmp_path / "vel.tif", tmp_path / "vel.png"
    status = main(["velocity", str(offsets), "--dates", "2020-01-01", "2020-01-13", "-o", str(out), "--netcdf",
                   "--quicklook", str(png)])
    assert status == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}, {tmp_path / 'vel.nc'}, {png}" in printed
    assert "median speed 608.8 m/yr over 95.8% of points, 2020-01-01 to 2020-01-13 (12 days)" in printed
    with rasterio.open(out) as src:
        v = src.read(src.descriptions.index("v") + 1)
        assert src.units[src.descriptions.index("v")] == "m/yr"
    np.testing.assert_allclose(v[0, 0], 608.75, rtol=1e-6)
    assert np.isnan(v[5, 5])
    assert (tmp_path / "vel.nc").stat().st_size > 0 and png.stat().st_size > 10_000


def test_velocity_command_radar_geometry_in_metres_per_day(tmp_path, capsys):
    product = OffsetProduct(dx=np.full((4, 4), 1.0), dy=np.full((4, 4), 1.0), metadata={"parameters": {"step": 1}})
    off = write_offsets(product, tmp_path / "radar.nc")
    status = main(["velocity", str(off), "--days", "10", "--pixel-spacing", "2.3", "14.0", "--incidence", "30",
                   "--units", "m/day", "-o", str(tmp_path / "vel.tif")])
    assert status == 0
    assert "v_range, v_azimuth, v, direction (m/day)" in capsys.readouterr().out
    with rasterio.open(tmp_path / "vel.tif") as src:
        np.testing.assert_allclose(src.read(1), 0.46, rtol=1e-6)  # 2.3 m slant / sin 30 = 4.6 m over 10 days
        np.testing.assert_allclose(src.read(2), 1.4, rtol=1e-6)


@pytest.mark.parametrize("args, message", [
    ([], "error: no acquisition dates: give them (--dates"),
    (["--dates", "2020-01-13", "2020-01-01"], "is before the reference date"),
    (["--dates", "2020-01-13", "2020-01-13"], "a velocity needs two different dates"),
    (["--days", "12", "--pixel-spacing", "10", "10"], "is geocoded (EPSG:32633)"),
    (["--dates", "2020-01-01", "yesterday"], "'yesterday' is not a date"),
])
def test_velocity_command_bad_inputs(offsets, tmp_path, capsys, args, message):
    status = main(["velocity", str(offsets), "-o", str(tmp_path / "vel.tif"), *args])
    assert status == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "vel.tif").exists()


def test_velocity_command_needs_grid_step_for_foreign_products(tmp_path, capsys):
    product = OffsetProduct(dx=np.full((4, 4), 1.0), dy=np.zeros((4, 4)), crs=CRS.from_epsg(32633),
                            transform=IMAGE_TRANSFORM)
    off = write_offsets(product, tmp_path / "foreign.tif")
    assert main(["velocity", str(off), "--days", "1", "-o", str(tmp_path / "v.tif")]) == 1
    assert "--grid-step N" in capsys.readouterr().err
    assert main(["velocity", str(off), "--days", "1", "--grid-step", "1", "-o", str(tmp_path / "v.tif")]) == 0


def test_velocity_command_existing_output_and_overwrite(offsets, tmp_path, capsys):
    out = tmp_path / "vel.tif"
    out.write_bytes(b"old")
    assert main(["velocity", str(offsets), "--days", "12", "-o", str(out)]) == 1
    assert "exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert out.read_bytes() == b"old"
    assert main(["velocity", str(offsets), "--days", "12", "-o", str(out), "--overwrite"]) == 0
    with rasterio.open(out) as src:
        assert src.descriptions[0] == "vx"


def test_velocity_listed_in_help(capsys):
    assert main(["--help"]) == 0
    assert "velocity" in capsys.readouterr().out


def _geotiff_pair(tmp_path):
    from sarflow.io import write_geotiff
    from sarflow.simulation.fields import UniformShift
    from sarflow.simulation.pair import simulate_pair

    pair = simulate_pair(UniformShift(1.0, 0.0), shape=(160, 160), seed=3)
    ref = write_geotiff(tmp_path / "r.tif", {"amplitude": pair.reference}, transform=IMAGE_TRANSFORM,
                        crs=CRS.from_epsg(32633))
    sec = write_geotiff(tmp_path / "s.tif", {"amplitude": pair.secondary}, transform=IMAGE_TRANSFORM,
                        crs=CRS.from_epsg(32633))
    return ref, sec


def test_track_dates_reach_velocity_through_the_product(tmp_path, capsys):
    ref, sec = _geotiff_pair(tmp_path)
    off = tmp_path / "off.tif"
    assert main(["track", str(ref), str(sec), "-o", str(off), "--chip-sizes", "32", "--step", "16", "--quiet",
                 "--dates", "2021-06-01", "2021-06-11"]) == 0
    with rasterio.open(off) as src:
        assert src.tags()["reference_date"] == "2021-06-01T00:00:00"
        assert src.tags()["secondary_date"] == "2021-06-11T00:00:00"
    capsys.readouterr()
    assert main(["velocity", str(off), "-o", str(tmp_path / "vel.tif"), "--units", "m/day"]) == 0
    printed = capsys.readouterr().out
    assert "2021-06-01 to 2021-06-11 (10 days)" in printed
    with rasterio.open(tmp_path / "vel.tif") as src:
        vx = src.read(src.descriptions.index("vx") + 1)
    assert abs(float(np.nanmedian(vx)) - 1.0) < 0.05  # 1 px of 10 m in 10 days


@pytest.mark.parametrize("command", ["track", "predict"])
def test_bad_dates_are_refused_before_any_work(tmp_path, capsys, command):
    ref, sec = _geotiff_pair(tmp_path)
    out = tmp_path / "off.tif"
    status = main([command, str(ref), str(sec), "-o", str(out), "--quiet", "--dates", "2021-06-11", "2021-06-01"])
    assert status != 0
    assert "is before the reference date" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".off*"))
