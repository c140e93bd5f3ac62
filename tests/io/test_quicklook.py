import numpy as np
import pytest

from sarflow.errors import InputError
from sarflow.io.quicklook import _arrows, _flow_arrows, pyplot_backend, save_offsets_quicklook, save_velocity_quicklook


def read_png(path):
    plt = pyplot_backend()
    return plt.imread(path)


def glacier_like(h=60, w=90):
    rr, cc = np.mgrid[0:h, 0:w]
    speed = np.exp(-((rr - h / 2) / (h / 5)) ** 2) * 300.0  # m/yr, fastest along the middle
    dx = speed / 100.0
    dy = np.zeros_like(dx)
    speed[:8, :12] = np.nan
    return speed, dx, dy


def test_velocity_quicklook_is_written_and_not_blank(tmp_path):
    speed, dx, dy = glacier_like()
    path = save_velocity_quicklook(tmp_path / "vel.png", speed, dx, dy, units="m/yr",
                                   dates="2020-01-01 to 2020-01-13 (12 days)", title="vel.tif")
    image = read_png(path)
    h, w = image.shape[:2]
    assert w >= 600 and h >= 300
    rgb = image[..., :3]
    assert rgb.std() > 0.1
    assert len(np.unique((rgb * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50  # colour bar, map, arrows
    grey = np.all(np.abs(rgb - 0.6) < 0.01, axis=-1)
    assert grey.sum() > 100  # the NaN corner is grey
    assert [p.name for p in tmp_path.iterdir()] == ["vel.png"]


def test_all_nan_speed_still_writes_a_grey_map(tmp_path):
    nan = np.full((20, 20), np.nan)
    image = read_png(save_velocity_quicklook(tmp_path / "v.png", nan, nan, nan))
    assert np.all(np.abs(image[..., :3] - 0.6) < 0.01, axis=-1).sum() > 1000


def test_velocity_quicklook_shape_mismatch():
    with pytest.raises(InputError, match="one shape"):
        save_velocity_quicklook("unused.png", np.zeros((4, 4)), np.zeros((4, 5)), np.zeros((4, 4)))


def test_flow_arrows_point_down_the_screen_for_positive_dy_and_scale_with_speed():
    plt = pyplot_backend()
    fig, ax = plt.subplots()
    speed = np.ones((50, 50))
    speed[:, 25:] = 2.0
    ax.imshow(speed)
    drawn = _flow_arrows(ax, speed, np.zeros((50, 50)), np.ones((50, 50)), count=10)
    quiver = ax.collections[-1]
    plt.close(fig)
    assert drawn == 100
    assert ax.yaxis_inverted()  # imshow: rows grow downward, so V > 0 is down the screen
    assert np.all(quiver.V > 0) and np.allclose(quiver.U, 0)
    lengths = np.hypot(quiver.U, quiver.V)
    assert lengths.max() == pytest.approx(0.9 * 5)  # the 95th-percentile speed spans 0.9 of the spacing
    assert lengths.min() == pytest.approx(0.45 * 5)


def test_offsets_quicklook_arrows_follow_dy(tmp_path):
    plt = pyplot_backend()
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((40, 40)))
    _arrows(ax, np.zeros((40, 40)), np.ones((40, 40)))
    assert np.all(ax.collections[-1].V > 0)
    plt.close(fig)
    save_offsets_quicklook(tmp_path / "o.png", np.zeros((40, 40)), np.ones((40, 40)))
    assert (tmp_path / "o.png").stat().st_size > 5000
