import os
import subprocess
import sys

import numpy as np
import pytest
from affine import Affine
from scene_helpers import export_weights, loud_model, small_config, small_pair, write_pair

from sarflow.errors import InputError, OutputExistsError
from sarflow.io import read_offsets
from sarflow.scene.journal import ABORT_AFTER_BLOCKS_ENV, Journal, lock_path, partial_folder
from sarflow.scene.predict import predict, predict_arrays, predict_pairs, read_pair_list

TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 6650000.0)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return export_weights(loud_model(), tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene")
    ref, sec = small_pair()
    paths = write_pair(folder, ref, sec, transform=TRANSFORM, crs="EPSG:32607")
    return folder, paths, (ref, sec)


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "sarflow", "predict", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def assert_same_product(a, b):
    for name in ("dx", "dy"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert list(a.quality) == list(b.quality)
    for name in a.quality:
        np.testing.assert_array_equal(a.quality[name], b.quality[name])


def test_killed_run_resumes_to_the_clean_result(scene, weights, tmp_path):
    _, (ref, sec), _ = scene
    out = tmp_path / "dense.tif"
    args = [ref, sec, "-o", out, "--model", weights, "--tile-size", 64, "--overlap", 16, "--precision", "fp32",
            "--device", "cpu", "--block-pixels", 48, "--prior", "always", "--search-radius", 8, "--quiet"]
    killed = run_cli(*args, env={ABORT_AFTER_BLOCKS_ENV: "3"})
    assert killed.returncode == 75, killed.stderr
    partial = partial_folder(out)
    assert not out.exists()  # nothing that looks complete
    assert len(list(partial.glob("block-*.npy"))) == 3 and (partial / "prior.npz").exists()

    resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "3 of 16 blocks resumed" in resumed.stderr
    assert out.exists() and not partial.exists()

    # The uninterrupted run in the same kind of process (torch's thread count, which changes the
    # summation order of convolutions, is then the same as the killed and resumed runs').
    clean = tmp_path / "clean.tif"
    uninterrupted = run_cli(*[clean if a == out else a for a in args])
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert_same_product(read_offsets(out), read_offsets(clean))


def test_cli_on_worker_processes_writes_the_product_of_one_process(scene, weights, tmp_path):
    _, (ref, sec), _ = scene
    args = [ref, sec, "--model", weights, "--tile-size", 64, "--overlap", 16, "--precision", "fp32", "--device", "cpu",
            "--prior", "always", "--search-radius", 8, "--quiet"]
    spread = run_cli(*args, "-o", tmp_path / "spread.tif", "--processes", 2)
    assert spread.returncode == 0, spread.stderr
    single = run_cli(*args, "-o", tmp_path / "single.tif", "--processes", 1)
    assert single.returncode == 0, single.stderr
    a, b = read_offsets(tmp_path / "spread.tif"), read_offsets(tmp_path / "single.tif")
    np.testing.assert_array_equal(np.isnan(a.dx), np.isnan(b.dx))
    assert float(np.nanmax(np.abs(a.dx - b.dx))) < 1e-5
    refused = run_cli(*args, "-o", tmp_path / "refused.tif", "--processes", -1)
    assert refused.returncode == 2 and "--processes" in refused.stderr and not (tmp_path / "refused.tif").exists()


def test_resume_refuses_the_partial_run_of_another_job(scene, weights, tmp_path):
    _, (ref, sec), _ = scene
    out = tmp_path / "dense.tif"
    Journal(out, job={"reference": "elsewhere.tif"}, plan={"block_side": 48})
    with pytest.raises(InputError, match=r"made for a different job \(differs in: .*reference"):
        predict(ref, sec, out, model=str(weights), config=small_config(), prior="none", resume=True)
    assert not out.exists()
    # Without --resume the stale partial run is replaced.
    predict(ref, sec, out, model=str(weights), config=small_config(), prior="none", block_pixels=96)
    assert out.exists() and not partial_folder(out).exists()


def test_a_second_run_on_one_output_is_refused_while_the_first_holds_it(scene, weights, tmp_path):
    _, (ref, sec), _ = scene
    out = tmp_path / "dense.tif"
    first = Journal(out, job={"reference": "the first run"})
    first.save(0, np.zeros(3))
    for resume in (False, True):
        with pytest.raises(InputError, match="another sarflow run is writing .*dense.tif"):
            predict(ref, sec, out, model=str(weights), config=small_config(), prior="none", resume=resume)
    other_process = run_cli(ref, sec, "-o", out, "--model", weights, "--prior", "none", "--quiet")
    assert other_process.returncode != 0 and "another sarflow run is writing" in other_process.stderr
    assert first.finished() == {0} and not out.exists()  # the first run's work is untouched
    first.release()  # as when its process ends
    predict(ref, sec, out, model=str(weights), config=small_config(), prior="none")
    assert out.exists() and not partial_folder(out).exists() and not lock_path(out).exists()


def test_existing_output_is_refused_before_any_work(scene, weights, tmp_path):
    _, (ref, sec), _ = scene
    out = tmp_path / "dense.tif"
    out.write_text("an earlier result")
    with pytest.raises(OutputExistsError, match="exists; pass --overwrite"):
        predict(ref, sec, out, model=str(weights), config=small_config(), prior="none")
    assert out.read_text() == "an earlier result" and not partial_folder(out).exists()


def test_window_is_processed_and_georeferenced(scene, weights, tmp_path):
    _, (ref, sec), (ref_array, sec_array) = scene
    from sarflow.models import load_model

    window = (16, 24, 96, 112)
    predict(ref, sec, tmp_path / "win.tif", model=str(weights), config=small_config(), prior="none",
            window=window, block_pixels=40, netcdf=True)
    product = read_offsets(tmp_path / "win.tif")
    assert product.shape == (96, 112)
    assert product.transform @ (0, 0) == pytest.approx(TRANSFORM @ (24, 16))
    crop = (slice(16, 112), slice(24, 136))
    direct = predict_arrays(load_model(str(weights)), ref_array[crop], sec_array[crop], config=small_config(),
                            prior="none")
    assert float(np.nanmax(np.abs(product.dx - direct["dx"]))) < 1e-5
    netcdf = read_offsets(tmp_path / "win.nc")
    assert_same_product(product, netcdf)
    assert netcdf.crs.to_epsg() == 32607 and netcdf.transform.almost_equals(product.transform)
    with pytest.raises(InputError, match="lies outside"):
        predict(ref, sec, tmp_path / "bad.tif", model=str(weights), window=(100, 0, 100, 10), prior="none")


def test_nodata_stays_nodata_in_the_product(tmp_path, weights):
    ref, sec = small_pair()
    ref = ref.copy()
    ref[:, :70] = np.nan
    paths = write_pair(tmp_path, ref, sec)
    predict(*paths, tmp_path / "out.tif", model=str(weights), config=small_config(), prior="none", block_pixels=48)
    product = read_offsets(tmp_path / "out.tif")
    assert np.isnan(product.dx[:, :70]).all() and np.isnan(product.quality["sigma_dy"][:, :70]).all()
    assert np.isfinite(product.dx[:, 72:]).all()


def test_read_pair_list(tmp_path):
    (tmp_path / "pairs").mkdir()
    listing = tmp_path / "pairs" / "list.csv"
    listing.write_text("reference,secondary,output\n# a comment\n\na.tif,b.tif\nsub/c.tif, /data/d.tif ,cd.tif\n"
                       "e.tif f.tif\n")
    entries = read_pair_list(listing, tmp_path / "out")
    assert [e.reference for e in entries] == [tmp_path / "pairs" / "a.tif", tmp_path / "pairs" / "sub" / "c.tif",
                                              tmp_path / "pairs" / "e.tif"]
    assert entries[1].secondary.as_posix() == "/data/d.tif"
    assert [e.output.name for e in entries] == ["a__b.tif", "cd.tif", "e__f.tif"]
    listing.write_text("a.tif,b.tif,x.tif\nc.tif,d.tif,x.tif\n")
    with pytest.raises(InputError, match="several pairs would write"):
        read_pair_list(listing, tmp_path)
    listing.write_text("a.tif\n")
    with pytest.raises(InputError, match=r"line 1: expected 'reference,secondary\[,output\]'"):
        read_pair_list(listing, tmp_path)
    with pytest.raises(InputError, match="no such pair list"):
        read_pair_list(tmp_path / "missing.csv", tmp_path)


def test_many_pairs_are_one_job_with_one_model_load(tmp_path, weights, monkeypatch):
    import sarflow.models

    for k in range(2):
        folder = tmp_path / f"pair{k}"
        folder.mkdir()
        write_pair(folder, *small_pair((96, 112), seed=10 + k))
    (tmp_path / "pairs.txt").write_text("pair0/ref.tif pair0/sec.tif\npair1/ref.tif,pair1/sec.tif,second.tif\n")
    (tmp_path / "out").mkdir()
    loads = []
    real = sarflow.models.load_model
    monkeypatch.setattr(sarflow.models, "load_model", lambda *a, **k: loads.append(a) or real(*a, **k))
    results = predict_pairs(tmp_path / "pairs.txt", tmp_path / "out", model=str(weights), config=small_config(),
                            prior="none")
    assert len(loads) == 1
    assert [r.output.name for r in results] == ["ref__sec.tif", "second.tif"]
    single = tmp_path / "single.tif"
    predict(tmp_path / "pair1" / "ref.tif", tmp_path / "pair1" / "sec.tif", single, model=str(weights),
            config=small_config(), prior="none")
    assert_same_product(read_offsets(tmp_path / "out" / "second.tif"), read_offsets(single))
    # Again: refused as the products exist; with --resume the finished ones are skipped.
    with pytest.raises(OutputExistsError):
        predict_pairs(tmp_path / "pairs.txt", tmp_path / "out", model=str(weights), config=small_config())
    again = predict_pairs(tmp_path / "pairs.txt", tmp_path / "out", model=str(weights), config=small_config(),
                          prior="none", resume=True)
    assert all(r.skipped for r in again)


def test_cli_pairs_and_errors(tmp_path, weights):
    from sarflow.cli import main

    write_pair(tmp_path, *small_pair((96, 96), seed=4))
    (tmp_path / "pairs.csv").write_text("ref.tif,sec.tif,out.nc\n")
    (tmp_path / "products").mkdir()
    common = ["--model", str(weights), "--tile-size", "64", "--device", "cpu", "--prior", "none", "--quiet"]
    assert main(["predict", "--pairs", str(tmp_path / "pairs.csv"), "-o", str(tmp_path / "products"), *common]) == 0
    assert read_offsets(tmp_path / "products" / "out.nc").shape == (96, 96)
    assert main(["predict", str(tmp_path / "ref.tif"), "-o", str(tmp_path / "x.tif"), *common]) == 2
    assert main(["predict", str(tmp_path / "ref.tif"), str(tmp_path / "sec.tif"), "-o", str(tmp_path / "x.tif"),
                 "--max-memory", "lots", *common]) == 1
    assert main(["predict", str(tmp_path / "ref.tif"), str(tmp_path / "sec.tif"), "-o", str(tmp_path / "x.tif"),
                 "--max-memory", "300MB", *common]) == 1
    assert not (tmp_path / "x.tif").exists()


@pytest.mark.slow
def test_sigkilled_process_resumes_to_the_clean_result(tmp_path, weights):
    """A real kill (SIGKILL once the journal holds a block), then --resume; also the local Dask cluster route."""
    import signal
    import time

    paths = write_pair(tmp_path, *small_pair((448, 448), seed=21))
    out = tmp_path / "dense.tif"
    args = [*paths, "-o", out, "--model", weights, "--tile-size", 64, "--overlap", 16, "--precision", "fp32",
            "--device", "cpu", "--batch-size", 1, "--block-pixels", 32, "--prior", "none", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "sarflow", "predict", *map(str, args)])
    partial = partial_folder(out)
    deadline = time.monotonic() + 240
    while not list(partial.glob("block-*.npy")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(partial.glob("block-*.npy")))
    assert 1 <= done < 196 and not out.exists()
    resumed = run_cli(*args, "--resume", "--workers", 2)
    assert resumed.returncode == 0, resumed.stderr
    clean = tmp_path / "clean.tif"
    predict(*paths, clean, model=str(weights), config=small_config(batch_size=1), prior="none", block_pixels=32)
    a, b = read_offsets(out), read_offsets(clean)
    # Blocks from this process and from one-thread Dask workers: equal to float round-off.
    assert float(np.nanmax(np.abs(a.dx - b.dx))) < 1e-5
    np.testing.assert_array_equal(np.isnan(a.dx), np.isnan(b.dx))


def _vrt_over(path, source, shape):
    """A VRT of one band that reads all of ``source`` (named relative to the VRT)."""
    h, w = shape
    path.write_text(f"""<VRTDataset rasterXSize="{w}" rasterYSize="{h}">
  <VRTRasterBand dataType="Float32" band="1">
    <SimpleSource>
      <SourceFilename relativeToVRT="1">{source.name}</SourceFilename>
      <SourceBand>1</SourceBand>
      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>
      <DstRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>
    </SimpleSource>
  </VRTRasterBand>
</VRTDataset>
""")
    return path


def test_resume_notices_an_edited_source_behind_an_unchanged_vrt(scene, weights, tmp_path):
    import shutil

    from sarflow.scene.journal import file_identity

    _, (ref, sec), (ref_array, _) = scene
    source = tmp_path / "ref_data.tif"
    shutil.copy(ref, source)
    vrt = _vrt_over(tmp_path / "ref.vrt", source, ref_array.shape)
    before = file_identity(str(vrt))
    assert before["sources"][0]["path"] == str(source.resolve())
    out = tmp_path / "dense.tif"
    args = [vrt, sec, "-o", out, "--model", weights, "--tile-size", 64, "--overlap", 16, "--precision", "fp32",
            "--device", "cpu", "--block-pixels", 48, "--prior", "none", "--quiet"]
    killed = run_cli(*args, env={ABORT_AFTER_BLOCKS_ENV: "2"})
    assert killed.returncode == 75, killed.stderr
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # the source is rewritten
    assert file_identity(str(vrt)) != before and vrt.stat().st_mtime_ns == before["mtime_ns"]
    resumed = run_cli(*args, "--resume")
    assert resumed.returncode != 0
    assert "made for a different job (differs in: reference)" in resumed.stderr
