import re
import shutil
import subprocess

import pytest

from sarflow.cli import main

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome",
                                                  "google-chrome-stable") if shutil.which(name)), None)
TRACK = ["--chip-sizes", "32", "--step", "8", "--search-radius", "6", "--workers", "1"]

# Appended to a test copy of index.html: once the page (images included) has loaded, list every
# image that did not decode into a picture.
CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (im) { return !(im.complete && im.naturalWidth > 0); })
                     .map(function (im) { return im.getAttribute('src'); });
  var out = document.createElement('pre');
  out.textContent = 'IMAGE-CHECK ' + images.length + ' BROKEN [' + broken.join(',') + ']';
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    out = tmp_path_factory.mktemp("scene")
    assert main(["simulate", "volcano", "-o", str(out), "--size", "96", "96", "--seed", "2", "--no-quicklook"]) == 0
    return out


def images_in_browser(folder, scratch):
    """(number of images, sources that did not load) of ``folder/index.html`` in headless Chromium."""
    page = (folder / "index.html").read_text()
    check = folder / "browser-check.html"
    check.write_text(page.replace("</body>", CHECK_SCRIPT + "</body>"))
    run = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={scratch}",
                          "--virtual-time-budget=10000", "--dump-dom", check.as_uri()],
                         capture_output=True, text=True, timeout=120)
    found = re.search(r"IMAGE-CHECK (\d+) BROKEN \[([^\]]*)\]", run.stdout)
    assert found, f"no result from {CHROMIUM}: {run.stderr[-2000:]}"
    return int(found.group(1)), [s for s in found.group(2).split(",") if s]


def test_compare_command_writes_a_report_that_renders(scene, tiny_weights, tmp_path, capsys):
    out = tmp_path / "report"
    status = main(["compare", str(scene / "reference.tif"), str(scene / "secondary.tif"), "--truth",
                   str(scene / "truth.tif"), "-o", str(out), "--model", str(tiny_weights), *TRACK,
                   "--net-tile-size", "96", "--net-device", "cpu", "--prior", "none", "--quiet"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert re.search(r"^tracker +\d+\.\d\d s +RMSE 0\.\d+ px", captured.out, re.MULTILINE)
    assert re.search(r"^network .* coverage 100\.0%", captured.out, re.MULTILINE)
    assert captured.out.rstrip().endswith(f"wrote {out / 'index.html'}") and captured.err == ""
    if CHROMIUM is None:
        pytest.skip("no Chromium to render the report (make test tries to install Debian's chromium)")
    # Every image of a copy of the report loads in the browser ...
    good = tmp_path / "copy"
    shutil.copytree(out, good)
    count, broken = images_in_browser(good, tmp_path / "profile-1")
    assert count == 8 and broken == []
    # ... and the check does see a missing and a corrupt image.
    bad = tmp_path / "damaged"
    shutil.copytree(out, bad)
    (bad / "scatter.png").unlink()
    (bad / "map_dy.png").write_bytes(b"not a png")
    count, broken = images_in_browser(bad, tmp_path / "profile-2")
    assert count == 8 and sorted(broken) == ["map_dy.png", "scatter.png"]


def test_no_shipped_weights_is_a_warning_line(scene, tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")  # without torch the note says so instead
    import sarflow.models

    monkeypatch.setattr(sarflow.models, "available_models", lambda: [])
    out = tmp_path / "report"
    status = main(["compare", str(scene / "reference.tif"), str(scene / "secondary.tif"), "-o", str(out),
                   "--no-tracker", "--offsets", f"truth-copy={scene / 'truth.tif'}", "--quiet"])
    captured = capsys.readouterr()
    assert status == 0
    assert captured.err.startswith("warning: network skipped: no network weights are shipped")
    assert "truth-copy" in captured.out and (out / "index.html").exists()


@pytest.mark.parametrize("extra, status, message", [
    (["--model", "{tmp}/missing.pt"], 1, r"^error: .*missing.pt: no such weights file$"),
    (["--offsets", "nonsense"], 2, r"^error: .*'nonsense' is not NAME=PATH"),
    (["--no-tracker", "--no-network"], 1, r"^error: nothing to compare"),
    (["--truth", "{scene}/reference.tif"], 1, r"^error: truth: .*no bands described 'dx' and 'dy'"),
])
def test_bad_input_gives_one_error_line(scene, tmp_path, capsys, extra, status, message):
    argv = ["compare", str(scene / "reference.tif"), str(scene / "secondary.tif"), "-o", str(tmp_path / "r"),
            *TRACK, "--quiet"] + [e.format(tmp=tmp_path, scene=scene) for e in extra]
    assert main(argv) == status
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err
    assert not (tmp_path / "r").exists()


def test_existing_report_folder_is_refused(scene, tmp_path, capsys):
    (tmp_path / "r").mkdir()
    argv = ["compare", str(scene / "reference.tif"), str(scene / "secondary.tif"), "-o", str(tmp_path / "r"),
            "--no-network", *TRACK, "--quiet"]
    assert main(argv) == 1
    assert "exists; pass --overwrite to replace it" in capsys.readouterr().err
