import html
import json
import re

import numpy as np
import pytest

from sarflow.errors import InputError, OutputExistsError
from sarflow.io import OffsetProduct, read_offsets, write_offsets
from sarflow.scene.compare import compare
from sarflow.tracking import TrackConfig

FAST = TrackConfig(chip_sizes=(32,), step=8, search_radius=6, workers=1)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    from sarflow.scene.simulate import simulate

    return simulate("glacier", tmp_path_factory.mktemp("scene"), size=(96, 96), seed=1, quicklook=False)


def inference_config():
    from sarflow.scene.inference import InferenceConfig

    return InferenceConfig(tile_size=96, device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def report(scene, tiny_weights, tmp_path_factory):
    from sarflow.io import write_geotiff

    folder = tmp_path_factory.mktemp("reports")
    # A mask without georeferencing, of the images' shape: the left half of the scene.
    left = np.zeros((96, 96), np.float32)
    left[:, :48] = 1
    mask = write_geotiff(folder / "left.tif", {"mask": left})
    return compare(scene.reference, scene.secondary, folder / "report", truth=scene.truth, mask=mask,
                   model=str(tiny_weights), track_config=FAST, inference_config=inference_config(), prior="none")


def leftovers(folder):
    """Temporary folders left beside a report."""
    return [p.name for p in folder.parent.iterdir() if p.name.startswith(".")]


def test_report_holds_every_part(report):
    folder = report.report_dir
    assert report.index == folder / "index.html" and not leftovers(folder)
    names = {p.name for p in folder.iterdir()}
    assert {"index.html", "metrics.json", "tracker.tif", "network.tif", "map_dx.png", "map_dy.png",
            "map_magnitude.png", "error_maps.png", "error_histograms.png", "scatter.png", "uncertainty.png",
            "calibration.png"} <= names
    page = (folder / "index.html").read_text()
    sources = re.findall(r"<img src='([^']+)'", page)
    assert len(sources) == 8 and all((folder / s).is_file() and "/" not in s for s in sources)
    for heading in ("Accuracy against truth", "Timing", "Offsets", "Errors", "Estimate against truth", "Uncertainty",
                    "Parameters of each run", "Agreement between estimates"):
        assert f">{heading}<" in page
    assert '"chip_sizes": [\n    32\n  ]' in html.unescape(page)  # the tracker's parameters, as JSON
    assert ">inside the mask<" in page and ">outside the mask<" in page


def test_report_figures_match_the_products(report, scene):
    from sarflow.scene.evaluate import evaluate

    summary = json.loads((report.report_dir / "metrics.json").read_text())
    assert list(summary["methods"]) == ["tracker", "network"] and summary["compared_with"] == "truth"
    tracker = summary["methods"]["tracker"]
    assert tracker["seconds"] > 0 and tracker["points"] == 144
    # The same figures as `sarflow evaluate` on the product the report keeps.
    again = evaluate(report.report_dir / "tracker.tif", scene.truth)
    assert tracker["metrics"]["rmse"] == pytest.approx(again["rmse"]) and again["rmse"] < 0.2
    network = summary["methods"]["network"]
    assert network["parameters"]["network"]["base_channels"] == 4
    assert network["metrics"]["coverage"] == 1.0 and "calibration" in network["metrics"]
    assert read_offsets(report.report_dir / "network.tif").shape == (96, 96)
    assert set(summary["agreement"]) == {"tracker vs network"}
    inside = tracker["metrics"]["mask"]["inside"]["n_points"]
    assert inside == 72 and tracker["metrics"]["mask"]["outside"]["n_points"] == 72  # 12 x 6 points each side
    assert report.seconds["network"] > 0 and report.notes == []


def test_network_skipped_when_no_weights_are_shipped(scene, tmp_path, monkeypatch):
    pytest.importorskip("torch")  # without torch the note says so instead
    import sarflow.models

    monkeypatch.setattr(sarflow.models, "available_models", lambda: [])
    # Another estimate given as a file: the truth resampled to a step-16 grid with a 0.1 px bias.
    truth = read_offsets(scene.truth)
    from sarflow.io.products import grid_transform

    coarse = OffsetProduct(dx=truth.dx[8::16, 8::16] + 0.1, dy=truth.dy[8::16, 8::16], crs=truth.crs,
                           transform=grid_transform(truth.transform, row0=8, col0=8, step=16),
                           metadata={"method": "someone else's matcher", "parameters": {"window": 64}})
    other = write_offsets(coarse, tmp_path / "other.tif")
    out = tmp_path / "report"
    out.mkdir()
    (out / "old.txt").write_text("an older report")
    with pytest.raises(OutputExistsError, match="exists; pass --overwrite"):
        compare(scene.reference, scene.secondary, out, track_config=FAST)
    result = compare(scene.reference, scene.secondary, out, offsets={"other": other}, track_config=FAST,
                     overwrite=True)
    assert not (out / "old.txt").exists() and not leftovers(out)
    assert result.notes[0].startswith("network skipped: no network weights are shipped")
    assert list(result.seconds) == ["tracker", "other"] and result.seconds["other"] is None
    page = (out / "index.html").read_text()
    assert "network skipped: no network weights are shipped" in page
    assert "Accuracy against" not in page and "error_maps.png" not in page  # no truth given
    summary = json.loads((out / "metrics.json").read_text())
    agreement = summary["agreement"]["tracker vs other"]
    assert agreement["dx"]["bias"] == pytest.approx(-0.1, abs=0.06)  # the tracker is near the truth
    assert summary["methods"]["other"]["parameters"]["parameters"] == {"window": 64}


def test_explicit_missing_model_is_an_error_before_any_work(scene, tmp_path):
    out = tmp_path / "report"
    with pytest.raises(InputError, match="nope.pt: no such weights file"):
        compare(scene.reference, scene.secondary, out, model=str(tmp_path / "nope.pt"), track_config=FAST)
    assert list(tmp_path.iterdir()) == []


def test_failing_method_leaves_no_report(scene, tmp_path):
    out = tmp_path / "report"
    with pytest.raises(InputError):
        compare(scene.reference, scene.secondary, out, network=False,
                track_config=TrackConfig(chip_sizes=(256,), step=8, search_radius=4, workers=1))
    assert list(tmp_path.iterdir()) == []


def test_nothing_to_compare_and_bad_names(scene, tmp_path):
    with pytest.raises(InputError, match="nothing to compare"):
        compare(scene.reference, scene.secondary, tmp_path / "r", tracker=False, network=False)
    with pytest.raises(InputError, match="offsets name 'a b'"):
        compare(scene.reference, scene.secondary, tmp_path / "r", offsets={"a b": scene.truth}, network=False)
    with pytest.raises(InputError, match="method names must differ"):
        compare(scene.reference, scene.secondary, tmp_path / "r", offsets=[("tracker", scene.truth)], network=False)
    with pytest.raises(InputError, match="output folder .* does not exist"):
        compare(scene.reference, scene.secondary, tmp_path / "no" / "r", network=False)
    assert list(tmp_path.iterdir()) == []


def test_truth_in_another_crs_is_refused_up_front(scene, tmp_path):
    from rasterio.crs import CRS

    truth = read_offsets(scene.truth)
    moved = write_offsets(OffsetProduct(dx=truth.dx, dy=truth.dy, transform=truth.transform,
                                        crs=CRS.from_epsg(32606)), tmp_path / "truth.tif")
    with pytest.raises(InputError, match="is in EPSG:32607 but truth .* is in EPSG:32606"):
        compare(scene.reference, scene.secondary, tmp_path / "r", truth=moved, network=False, track_config=FAST)
    assert not (tmp_path / "r").exists()
    assert not np.isnan(truth.dx).all()


def test_mask_that_cannot_be_placed_is_refused_up_front(scene, tmp_path):
    from sarflow.errors import GridMismatchError
    from sarflow.io import write_geotiff

    mask = write_geotiff(tmp_path / "small.tif", {"mask": np.ones((50, 50), np.float32)})
    with pytest.raises(GridMismatchError, match=r"no georeferencing and its shape \(50, 50\) is not the images'"):
        compare(scene.reference, scene.secondary, tmp_path / "r", mask=mask, network=False, track_config=FAST)
    assert not (tmp_path / "r").exists()


def test_the_prior_the_network_corrects_is_scored_beside_it(scene, tiny_weights, tmp_path):
    result = compare(scene.reference, scene.secondary, tmp_path / "report", truth=scene.truth,
                     model=str(tiny_weights), tracker=False, inference_config=inference_config(), prior="always")
    summary = json.loads((result.report_dir / "metrics.json").read_text())
    assert list(summary["methods"]) == ["network", "network-prior"]
    prior = read_offsets(result.report_dir / "prior.tif")
    network = read_offsets(result.report_dir / "network.tif")
    assert prior.shape == network.shape == (96, 96) and np.isfinite(prior.dx).all()
    assert not np.allclose(prior.dx, network.dx)  # the network's correction, not a copy
    assert "rmse" in json.dumps(summary["methods"]["network-prior"]["metrics"])
    assert result.seconds["network-prior"] is None  # its time is inside the network's
    with pytest.raises(InputError, match="method names must differ"):
        compare(scene.reference, scene.secondary, tmp_path / "r2", offsets=[("network-prior", scene.truth)],
                model=str(tiny_weights))
