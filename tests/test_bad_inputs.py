"""Bad input, every command: one matrix of inputs tried against each subcommand.

Every refused input must give exactly one line on stderr, ``error: ...``, naming the problem (the
regular expression of its row), a non-zero exit status, no traceback, and no output: the output
path does not exist afterwards (or, when it existed before, is unchanged) and no temporary file is
left. Inputs that are valid but unusual (integer, float16, float64 and complex data, NaN / inf
holes, a missing output folder for commands that create their folder) must work.

The CLI runs in-process through `sarflow.cli.main`, with stderr captured at the file-descriptor
level so that messages printed by GDAL or HDF5 themselves count too; two subprocess runs check
the real console script. Rows of commands not yet registered in `sarflow.cli.COMMANDS` (or not
importable) are skipped and run as soon as the command exists. The same rows make the table in the
README (``python benchmarks/bad_inputs_table.py``).
"""

from __future__ import annotations

import importlib
import os
import re
import struct
import subprocess
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest
import rasterio
from affine import Affine

from sarflow.cli import COMMANDS, main

TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 6650000.0)
SIZE = 96  # images of the matrix: 96 x 96 pixels
TRACK_FAST = ["--chip-sizes", "32", "--step", "16", "--search-radius", "4", "--workers", "1", "--quiet"]
PREDICT_FAST = ["--prior", "none", "--quiet"]
CONSTANT = 5.0  # the value of the constant image


# ----------------------------------------------------------------------------- inputs

def write_tif(path: Path, data: np.ndarray, *, dtype=None, crs="EPSG:32607", transform=TRANSFORM, nodata=None,
              **options) -> Path:
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rasters without georeferencing on purpose
        with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0],
                           dtype=dtype or data.dtype, crs=crs, transform=transform, nodata=nodata, **options) as ds:
            # rasterio converts complex64 to GDAL's complex int16 itself (NumPy has no such type).
            ds.write(data.astype(np.complex64) if dtype == "complex_int16" else data.astype(dtype or data.dtype))
    return path


def _tiff_tags(data: bytearray) -> dict[int, int]:
    """Offsets of the entries of a little-endian classic TIFF's first directory, by tag."""
    assert data[:2] == b"II"
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    return {struct.unpack_from("<H", data, ifd + 2 + 12 * k)[0]: ifd + 2 + 12 * k for k in range(count)}


class Inputs:
    """Every input of the matrix, made on first use in one folder (seeded, small)."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, name: str) -> Path:
        return self.root / name

    # --- a valid pair and its truth ---------------------------------------------------------
    @cached_property
    def scene(self) -> Path:
        out = self.root / "scene"
        assert main(["simulate", "shift", "-o", str(out), "--size", str(SIZE), str(SIZE), "--dx-px", "0.4",
                     "--dy-px", "-0.3", "--seed", "1", "--no-quicklook"]) == 0
        return out

    @property
    def reference(self) -> Path:
        return self.scene / "reference.tif"

    @property
    def secondary(self) -> Path:
        return self.scene / "secondary.tif"

    @property
    def truth(self) -> Path:
        return self.scene / "truth.tif"

    @cached_property
    def truth_utm8(self) -> Path:
        """The scene's truth placed in another CRS."""
        from sarflow.io import read_offsets, write_geotiff

        truth = read_offsets(self.truth)
        return write_geotiff(self.path("truth-utm8.tif"), {"dx": truth.dx, "dy": truth.dy}, transform=truth.transform,
                             crs="EPSG:32608")

    @cached_property
    def amplitudes(self) -> tuple[np.ndarray, np.ndarray]:
        with rasterio.open(self.reference) as a, rasterio.open(self.secondary) as b:
            return a.read(1), b.read(1)

    def pair(self, name: str, make: Callable[[np.ndarray], np.ndarray], **options) -> tuple[Path, Path]:
        """The scene's pair passed through ``make`` and written with ``options`` (dtype, nodata...)."""
        ref, sec = self.path(f"{name}-ref.tif"), self.path(f"{name}-sec.tif")
        if not ref.exists():
            write_tif(ref, make(self.amplitudes[0]), **options)
            write_tif(sec, make(self.amplitudes[1]), **options)
        return ref, sec

    # --- damaged and odd files -------------------------------------------------------------
    @cached_property
    def missing(self) -> Path:
        return self.path("does-not-exist.tif")

    @cached_property
    def text(self) -> Path:
        path = self.path("notes.tif")
        path.write_text("not a raster\n")
        return path

    @cached_property
    def folder(self) -> Path:
        path = self.path("a-folder.tif")
        path.mkdir()
        return path

    @cached_property
    def unreadable(self) -> Path:
        path = write_tif(self.path("unreadable.tif"), self.amplitudes[0])
        path.chmod(0)
        return path

    @cached_property
    def truncated(self) -> Path:
        data = self.reference.read_bytes()
        path = self.path("truncated.tif")
        path.write_bytes(data[: len(data) // 2])
        return path

    @cached_property
    def corrupt(self) -> Path:
        """A deflate-compressed GeoTIFF whose compressed pixel data is overwritten with noise."""
        path = write_tif(self.path("corrupt.tif"), self.amplitudes[0], compress="deflate", tiled=True,
                         blockxsize=32, blockysize=32)
        data = bytearray(path.read_bytes())
        tags = _tiff_tags(data)
        (offsets_at,) = struct.unpack_from("<I", data, tags[324] + 8)  # TileOffsets
        offsets = struct.unpack_from("<9I", data, offsets_at)
        for start in offsets:
            data[start : start + 64] = np.random.default_rng(0).integers(0, 256, 64, dtype=np.uint8).tobytes()
        path.write_bytes(bytes(data))
        return path

    @cached_property
    def hdf5(self) -> Path:
        path = self.path("pair.h5")
        with h5py.File(path, "w") as f:
            f.create_dataset("reference", data=self.amplitudes[0])
            f.create_dataset("secondary", data=self.amplitudes[1])
            f.create_dataset("reference16", data=self.amplitudes[0].astype(np.float16))
            f.create_dataset("secondary16", data=self.amplitudes[1].astype(np.float16))
        return path

    @cached_property
    def truncated_hdf5(self) -> Path:
        data = self.hdf5.read_bytes()
        path = self.path("truncated.h5")
        path.write_bytes(data[: len(data) // 3])
        return path

    @cached_property
    def float16_pair(self) -> tuple[Path, Path]:
        """GeoTIFFs with IEEE half floats (written as uint16, then the sample format set to float)."""
        out = []
        for name, amp in zip(("f16-ref.tif", "f16-sec.tif"), self.amplitudes):
            path = write_tif(self.path(name), amp.astype(np.float16).view(np.uint16))
            data = bytearray(path.read_bytes())
            struct.pack_into("<H", data, _tiff_tags(data)[339] + 8, 3)  # SampleFormat = IEEE float
            path.write_bytes(bytes(data))
            out.append(path)
        return out[0], out[1]

    @cached_property
    def huge_vrt(self) -> Path:
        path = self.path("huge.vrt")
        path.write_text('<VRTDataset rasterXSize="1000000" rasterYSize="1000000">'
                        '<VRTRasterBand dataType="Float32" band="1"/></VRTDataset>')
        return path

    @cached_property
    def huge_tif(self) -> Path:
        """An 8 x 8 GeoTIFF whose header claims 10^6 x 10^6 pixels."""
        path = write_tif(self.path("huge-header.tif"), np.ones((8, 8), np.float32), crs=None, transform=None)
        data = bytearray(path.read_bytes())
        tags = _tiff_tags(data)
        for tag in (256, 257, 278):  # ImageWidth, ImageLength, RowsPerStrip
            struct.pack_into("<HHI", data, tags[tag], tag, 4, 1)  # LONG
            struct.pack_into("<I", data, tags[tag] + 8, 1_000_000)
        path.write_bytes(bytes(data))
        return path

    @cached_property
    def huge_envi(self) -> Path:
        """A raw ENVI image of 64 bytes whose header declares 10^6 x 10^6 float32 pixels."""
        path = self.path("huge.img")
        path.write_bytes(bytes(64))
        self.path("huge.hdr").write_text("ENVI\nsamples = 1000000\nlines = 1000000\nbands = 1\nheader offset = 0\n"
                                         "file type = ENVI Standard\ndata type = 4\ninterleave = bsq\n"
                                         "byte order = 0\n")
        return path

    @cached_property
    def three_bands(self) -> Path:
        return write_tif(self.path("three-bands.tif"), np.stack([self.amplitudes[0]] * 3))

    # --- models, checkpoints, datasets -----------------------------------------------------
    @cached_property
    def checkpoint(self) -> Path:
        import torch

        from sarflow.nn import build_model
        from sarflow.training.loop import TrainConfig

        torch.manual_seed(0)
        model = build_model("unet", base_channels=4, depth=2)
        path = self.path("tiny-checkpoint.pt")
        torch.save({"format": "sarflow-checkpoint-1", "model_config": model.to_config(),
                    "model_state": model.state_dict(), "train_config": TrainConfig(model="unet").to_dict(),
                    "step": 1, "best": {"step": 1, "val_rmse": 1.0}, "wall_seconds": 1.0, "command": "test"}, path)
        return path

    @cached_property
    def weights(self) -> Path:
        from sarflow.training.export import export_model

        folder = self.path("weights")
        folder.mkdir()
        return export_model(self.checkpoint, folder / "tiny.pt", measure_overlap=False)

    @cached_property
    def weights_tampered(self) -> Path:
        """Exported weights with one byte changed after their checksum was recorded."""
        from sarflow.training.export import export_model

        folder = self.path("tampered")
        folder.mkdir()
        path = export_model(self.checkpoint, folder / "tiny.pt", measure_overlap=False)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        return path

    @cached_property
    def weights_mismatched(self) -> Path:
        """A weights file whose configuration describes a wider network than its tensors."""
        import torch

        state = torch.load(self.weights, weights_only=True)
        state["model_config"] = {**state["model_config"], "base_channels": 8}
        folder = self.path("mismatched")
        folder.mkdir()
        torch.save(state, folder / "tiny.pt")
        return folder / "tiny.pt"

    @property
    def pickle_marker(self) -> Path:
        return self.path("pickle-ran-code")

    @cached_property
    def pickled_code(self) -> Path:
        """A .pt file that runs code when unpickled without ``weights_only`` (it would create a folder)."""
        import torch

        class Payload:
            def __reduce__(self):
                return os.makedirs, (str(self.marker),)

        Payload.marker = self.pickle_marker
        path = self.path("pickled-code.pt")
        torch.save({"format": "sarflow-weights-1", "payload": Payload()}, path)
        return path

    @cached_property
    def truncated_checkpoint(self) -> Path:
        data = self.checkpoint.read_bytes()
        path = self.path("truncated-checkpoint.pt")
        path.write_bytes(data[: len(data) // 2])
        return path

    @cached_property
    def tiles(self) -> Path:
        """A valid tile dataset of 3 tiles (fewer than training keeps for validation by default)."""
        path = self.path("tiles.h5")
        with h5py.File(path, "w") as f:
            f.create_dataset("reference", data=self.amplitudes[0][None, :32, :32].repeat(3, 0))
            f.create_dataset("secondary", data=self.amplitudes[1][None, :32, :32].repeat(3, 0))
            f.create_dataset("target", data=np.zeros((3, 2, 32, 32), np.float32))
            f.create_dataset("mask", data=np.ones((3, 32, 32), np.uint8))
        return path

    def pairs(self, name: str, lines: list[str] | bytes) -> Path:
        path = self.path(f"{name}.csv")
        if isinstance(lines, bytes):
            path.write_bytes(lines)
        else:
            path.write_text("".join(f"{line}\n" for line in lines))
        return path


# ----------------------------------------------------------------------------- the matrix

@dataclass(frozen=True)
class Case:
    """One input tried against one command.

    ``argv(inputs, out)`` gives the whole argument list (command name first); ``out`` is where the
    command is told to write. ``expect`` is a regular expression the single ``error:`` line must
    match, or None when the input must work. ``exists`` pre-creates the output; ``status`` is the
    exit code (1 for sarflow's refusals, 2 for command-line usage errors).
    """

    command: str
    name: str
    argv: Callable[[Inputs, Path], list[str]]
    expect: str | None
    exists: bool = False
    status: int = 1
    output_name: str | None = None
    root_only_skip: bool = False
    skip_with_cuda: bool = False

    @property
    def id(self) -> str:
        return f"{self.command}: {self.name}"


#: Output of each command inside a test's folder: a file, a folder, or None (prints only).
OUTPUTS = {"simulate": "scene", "track": "offsets.tif", "predict": "dense.tif", "train": "run",
           "make-dataset": "tiles.h5", "export-model": "model.pt", "evaluate": None, "compare": "report",
           "velocity": "velocity.tif"}
#: Commands writing a folder, and the file an earlier run leaves in it.
FOLDER_OUTPUTS = {"simulate": ("reference.tif",), "train": ("last.pt", "best.pt"), "compare": ("index.html",)}


def _image_rows(command: str, run: Callable[[Inputs, Path, str, str], list[str]], *, works: bool = True,
                paths_checked_by_cli: bool = True) -> list[Case]:
    """Rows on the reference / secondary images of a command whose ``run(inputs, out, ref, sec)`` builds argv.

    ``paths_checked_by_cli``: the images are command-line arguments (a folder is a usage error),
    not paths read from a list. Huge headers are given as both images: a consistent pair that a
    command processing large scenes in blocks would otherwise start on.
    """
    def pair_of(name, make, **options):
        return lambda i, o: run(i, o, *map(str, i.pair(name, make, **options)))

    def with_ref(get):
        return lambda i, o: run(i, o, str(get(i)), str(i.secondary))

    def huge(get, name):
        return (lambda i, o: run(i, o, str(get(i)), str(get(i)))), rf"{name}: declares 1000000 x 1000000 pixels"

    rows = [
        Case(command, "missing file", with_ref(lambda i: i.missing), r"does-not-exist\.tif: no such file"),
        Case(command, "unreadable file (permissions)", with_ref(lambda i: i.unreadable),
             r"unreadable\.tif' is not readable" if paths_checked_by_cli else r"unreadable\.tif: cannot be read \(perm",
             status=2 if paths_checked_by_cli else 1, root_only_skip=True),
        Case(command, "not a raster (text)", with_ref(lambda i: i.text), r"notes\.tif: cannot be opened as a raster"),
        Case(command, "folder instead of a file", with_ref(lambda i: i.folder), r"a-folder\.tif.* is a directory",
             status=2) if paths_checked_by_cli else
        Case(command, "folder instead of a file", with_ref(lambda i: i.folder), r"a-folder\.tif: is a folder"),
        Case(command, "truncated GeoTIFF", with_ref(lambda i: i.truncated),
             r"truncated\.tif: (cannot be opened as a raster|reading the pixels failed)"),
        Case(command, "corrupt GeoTIFF (damaged tiles)", with_ref(lambda i: i.corrupt),
             r"corrupt\.tif: reading the pixels failed; the file may be truncated or corrupt"),
        Case(command, "truncated HDF5", lambda i, o: run(i, o, f"{i.truncated_hdf5}:/reference", str(i.secondary)),
             r"truncated\.h5:/reference: cannot be read as HDF5"),
        Case(command, "HDF5 without the dataset", lambda i, o: run(i, o, f"{i.hdf5}:/nothing", str(i.secondary)),
             r"no dataset '/nothing'"),
        Case(command, "shape mismatch", lambda i, o: run(i, o, str(i.reference),
                                                         str(i.pair("short", lambda a: a[:80])[1])),
             r"differ in shape: \(96, 96\).*vs \(80, 96\)"),
        Case(command, "CRS mismatch", lambda i, o: run(i, o, str(i.reference),
                                                       str(i.pair("utm8", lambda a: a, crs="EPSG:32608")[1])),
             r"differ in CRS: EPSG:32607 .* vs EPSG:32608"),
        Case(command, "transform mismatch", lambda i, o: run(
            i, o, str(i.reference),
            str(i.pair("moved", lambda a: a, transform=TRANSFORM @ Affine.translation(3, 0))[1])),
             r"differ in transform"),
        Case(command, "all nodata", pair_of("nodata", lambda a: np.full_like(a, -9999.0), nodata=-9999.0),
             r"no valid pixel \(all nodata or non-finite\)"),
        Case(command, "constant image", pair_of("constant", lambda a: np.full_like(a, CONSTANT)),
             r"is constant \(5\.0 everywhere it is valid\)"),
        Case(command, "header declaring 10^6 x 10^6 pixels (VRT)", *huge(lambda i: i.huge_vrt, r"huge\.vrt")),
        Case(command, "header declaring 10^6 x 10^6 pixels (tiny GeoTIFF)",
             *huge(lambda i: i.huge_tif, r"huge-header\.tif")),
        # GDAL itself refuses an ENVI header describing more than its data file holds.
        Case(command, "header declaring 10^6 x 10^6 pixels (ENVI raw)", with_ref(lambda i: i.huge_envi),
             r"huge\.img: (declares 1000000 x 1000000 pixels|cannot be opened as a raster \(Image file is too small\)"
             r"|the data file huge\.img holds 64 bytes but its header)"),
    ]
    if works:
        rows += [
            Case(command, "int16 data (read as float32)", pair_of("int16", lambda a: (a * 1000).astype(np.int16)),
                 None),
            Case(command, "uint8 data (read as float32)",
                 pair_of("uint8", lambda a: np.clip(a * 40, 0, 255).astype(np.uint8)), None),
            Case(command, "float16 data (GeoTIFF)", lambda i, o: run(i, o, *map(str, i.float16_pair)), None),
            Case(command, "float16 data (HDF5)",
                 lambda i, o: run(i, o, f"{i.hdf5}:/reference16", f"{i.hdf5}:/secondary16"), None),
            Case(command, "float64 data (read as float32)", pair_of("float64", lambda a: a.astype(np.float64)), None),
            Case(command, "complex64 SLC (amplitude)",
                 pair_of("slc", lambda a: (a * np.exp(1j * np.linspace(0, 40, a.size).reshape(a.shape)))
                         .astype(np.complex64)), None),
            Case(command, "complex int16 SLC (amplitude)",
                 pair_of("cint16", lambda a: (a * 100).astype(np.complex64), dtype="complex_int16"), None),
            Case(command, "NaN and inf holes (become no-data)", pair_of("holes", _with_holes), None),
        ]
    return rows


def _with_holes(a: np.ndarray) -> np.ndarray:
    out = a.copy()
    out[8:40, 8:40] = np.nan
    out[60:64, 60:64] = np.inf
    out[70, 5] = -np.inf
    return out


def _output_rows(command: str, build: Callable[[Inputs, Path], list[str]], *, suffix_row: tuple | None = None
                 ) -> list[Case]:
    rows = [
        Case(command, "output into a missing folder", build, r"output folder .*missing does not exist",
             output_name="missing/" + OUTPUTS[command]),
        Case(command, "output exists (no --overwrite)", build, r"exists; pass --overwrite to replace it", exists=True),
        Case(command, "output exists, --overwrite", lambda i, o: build(i, o) + ["--overwrite"], None, exists=True),
    ]
    if suffix_row:
        rows.append(Case(command, suffix_row[0], build, suffix_row[1], output_name=suffix_row[2]))
    return rows


def _track(i: Inputs, o: Path, ref: str, sec: str, *extra: str) -> list[str]:
    return ["track", ref, sec, "-o", str(o), *TRACK_FAST, *extra]


def _track_cases() -> list[Case]:
    ok = lambda i, o, *extra: _track(i, o, str(i.reference), str(i.secondary), *extra)  # noqa: E731
    return _image_rows("track", _track) + [
        Case("track", "band beyond the band count", lambda i, o: ok(i, o, "--band", "4"),
             r"band 4 requested but the raster has 1 band"),
        Case("track", "three-band image, band 3", lambda i, o: _track(i, o, str(i.three_bands),
                                                                     str(i.three_bands), "--band", "3"), None),
        Case("track", "image smaller than a chip", lambda i, o: _track(
            i, o, *map(str, i.pair("small", lambda a: a[:24, :24], transform=TRANSFORM))),
             r"chip size 32 is larger than the image \(24 x 24\)"),
        Case("track", "zero step", lambda i, o: ok(i, o, "--step", "0"), r"step=0 must be an integer >= 1"),
        Case("track", "negative search radius", lambda i, o: ok(i, o, "--search-radius", "-1"),
             r"search_radius=-1 must be an integer >= 0"),
        Case("track", "odd chip size", lambda i, o: ok(i, o, "--chip-sizes", "31"), r"chip size 31 is not an even"),
        Case("track", "correlation threshold above 1", lambda i, o: ok(i, o, "--min-ncc", "1.5"),
             r"min_ncc must be in \[-1, 1\)"),
        Case("track", "prior without dx/dy bands", lambda i, o: ok(i, o, "--prior", str(i.reference)),
             r"no bands described 'dx' and 'dy'"),
        Case("track", "prior missing", lambda i, o: ok(i, o, "--prior", str(i.missing)), r"no such file"),
    ] + _output_rows("track", ok, suffix_row=("output of unknown format", r"the output must end in \.tif or \.nc",
                                              "offsets.txt"))


def _predict(i: Inputs, o: Path, ref: str, sec: str, *extra: str) -> list[str]:
    return ["predict", ref, sec, "-o", str(o), "--model", str(i.weights), *PREDICT_FAST, *extra]


def _predict_cases() -> list[Case]:
    ok = lambda i, o, *extra: _predict(i, o, str(i.reference), str(i.secondary), *extra)  # noqa: E731
    model = lambda get: lambda i, o: ["predict", str(i.reference), str(i.secondary), "-o", str(o),  # noqa: E731
                                      "--model", str(get(i)), *PREDICT_FAST]
    return _image_rows("predict", _predict) + [
        Case("predict", "model file missing", model(lambda i: i.missing.with_suffix(".pt")), r"no such weights file"),
        Case("predict", "model file not weights (a GeoTIFF)", model(lambda i: i.reference),
             r"reference\.tif: cannot be read as sarflow weights"),
        Case("predict", "model file that runs code when unpickled", model(lambda i: i.pickled_code),
             r"pickled-code\.pt: cannot be read as sarflow weights"),
        Case("predict", "model file changed after export (checksum)", model(lambda i: i.weights_tampered),
             r"SHA-256 .* does not match the .* recorded in .*checksums\.json"),
        Case("predict", "model weights of another architecture", model(lambda i: i.weights_mismatched),
             r"weights do not match the network: '[^']+' has shape"),
        Case("predict", "unknown model name", lambda i, o: ["predict", str(i.reference), str(i.secondary), "-o",
                                                            str(o), "--model", "no-such-model", *PREDICT_FAST],
             r"no model 'no-such-model'"),
        Case("predict", "band beyond the band count", lambda i, o: ok(i, o, "--band", "2"),
             r"band 2 requested but the raster has 1 band"),
    ] + _output_rows("predict", ok)


def _simulate(i: Inputs, o: Path, *extra: str, scenario: str = "shift") -> list[str]:
    return ["simulate", scenario, "-o", str(o), "--size", "64", "64", "--no-quicklook", *extra]


def _simulate_cases() -> list[Case]:
    texture = lambda get: lambda i, o: _simulate(i, o, "--texture", str(get(i)))  # noqa: E731
    return [
        Case("simulate", "texture: missing file", texture(lambda i: i.missing), r"no such file"),
        Case("simulate", "texture: not a raster (text)", texture(lambda i: i.text), r"cannot be opened as a raster"),
        Case("simulate", "texture: truncated GeoTIFF", texture(lambda i: i.truncated),
             r"truncated\.tif: (cannot be opened|reading the pixels failed)"),
        Case("simulate", "texture: corrupt GeoTIFF", texture(lambda i: i.corrupt), r"reading the pixels failed"),
        Case("simulate", "texture: all nodata",
             texture(lambda i: i.pair("nodata", lambda a: np.full_like(a, -9999.0), nodata=-9999.0)[0]),
             r"texture image .* has no valid pixel"),
        Case("simulate", "texture: constant",
             texture(lambda i: i.pair("constant", lambda a: np.full_like(a, CONSTANT))[0]),
             r"texture image .* is constant"),
        Case("simulate", "texture: header declaring 10^6 x 10^6 pixels", texture(lambda i: i.huge_vrt),
             r"declares 1000000 x 1000000 pixels"),
        Case("simulate", "texture: complex64 SLC (amplitude)",
             texture(lambda i: i.pair("slc", lambda a: (a * np.exp(1j * a)).astype(np.complex64))[0]), None),
        Case("simulate", "negative source depth", lambda i, o: _simulate(i, o, "--depth-m", "-500", scenario="volcano"),
             r"depth_m must be positive"),
        Case("simulate", "fault above the surface", lambda i, o: _simulate(i, o, "--top-depth-m", "-5",
                                                                          scenario="earthquake"),
             r"top_depth_m must be >= 0"),
        Case("simulate", "coherence above 1", lambda i, o: _simulate(i, o, "--coherence", "1.5"),
             r"coherence must lie in \[0, 1\]"),
        Case("simulate", "zero looks", lambda i, o: _simulate(i, o, "--looks", "0"),
             r"looks must be a positive integer"),
        Case("simulate", "scene smaller than 8 x 8", lambda i, o: _simulate(i, o, "--size", "4", "4"),
             r"at least 8 x 8 pixels"),
        Case("simulate", "NaN offset", lambda i, o: _simulate(i, o, "--dx-px", "nan"), r"not finite"),
        Case("simulate", "unknown CRS", lambda i, o: _simulate(i, o, "--crs", "EPSG:99999999"),
             r"unknown CRS 'EPSG:99999999'"),
        Case("simulate", "output folder missing (created)", _simulate, None, output_name="missing/scene"),
        Case("simulate", "output exists (no --overwrite)", _simulate, r"reference\.tif exists; pass --overwrite",
             exists=True),
        Case("simulate", "output exists, --overwrite", lambda i, o: _simulate(i, o, "--overwrite"), None, exists=True),
        Case("simulate", "output is a file", _simulate, r"is a file", output_name="a-file.txt", exists=True, status=2),
    ]


def _train(i: Inputs, o: Path, *extra: str) -> list[str]:
    return ["train", "-o", str(o), "--model", "unet", "--model-arg", "base_channels=4", "--model-arg", "depth=2",
            "--steps", "1", "--batch-size", "1", "--validation-size", "1", "--eval-every", "1", "--patch-size", "32",
            "--loader-workers", "0", "--precision", "fp32", *extra]


def _train_cases() -> list[Case]:
    rows = [
        Case("train", "zero steps", lambda i, o: _train(i, o, "--steps", "0"),
             r"steps, batch_size and eval_every must"),
        Case("train", "negative batch size", lambda i, o: _train(i, o, "--batch-size", "-2"),
             r"steps, batch_size and eval_every must be positive"),
        Case("train", "zero learning rate", lambda i, o: _train(i, o, "--learning-rate", "0"),
             r"learning_rate must be positive"),
        Case("train", "patch smaller than 32 px", lambda i, o: _train(i, o, "--patch-size", "16"),
             r"patch_size must be at least 32"),
        Case("train", "unknown network", lambda i, o: _train(i, o, "--model", "nope"), r"unknown network 'nope'"),
        Case("train", "impossible network argument", lambda i, o: _train(i, o, "--model-arg", "base_channels=-3"),
             r"base_channels"),
        Case("train", "unknown network argument", lambda i, o: _train(i, o, "--model-arg", "wings=2"),
             r"bad arguments for network 'unet'"),
        Case("train", "unknown scenario weight", lambda i, o: _train(i, o, "--scenario-weights", "shift=1,tsunami=2"),
             r"unknown scenario 'tsunami'", status=2),
        Case("train", "scenario weights all zero", lambda i, o: _train(i, o, "--scenario-weights", "shift=0"),
             r"weights must be 6 non-negative numbers"),
        Case("train", "smallest offset above the largest",
             lambda i, o: _train(i, o, "--min-offset-px", "3", "--max-offset-px", "2"),
             r"need 0 < min_offset_px < max_offset_px"),
        Case("train", "zero threads", lambda i, o: _train(i, o, "--threads", "0"), r"--threads must be a positive"),
        Case("train", "negative time limit", lambda i, o: _train(i, o, "--max-minutes", "-1"),
             r"--max-minutes must be a positive"),
        Case("train", "unknown device", lambda i, o: _train(i, o, "--device", "abacus"),
             r"--device 'abacus' is not a device"),
        Case("train", "dataset: missing file",
             lambda i, o: _train(i, o, "--dataset", str(i.missing.with_suffix(".h5"))),
             r"no such tile dataset"),
        Case("train", "dataset: not HDF5 (text)", lambda i, o: _train(i, o, "--dataset", str(i.text)),
             r"notes\.tif: not a sarflow tile dataset"),
        Case("train", "dataset: truncated HDF5", lambda i, o: _train(i, o, "--dataset", str(i.truncated_hdf5)),
             r"truncated\.h5: not a sarflow tile dataset"),
        Case("train", "dataset: HDF5 without tiles", lambda i, o: _train(i, o, "--dataset", str(i.hdf5)),
             r"pair\.h5: not a sarflow tile dataset"),
        Case("train", "dataset: fewer tiles than validation keeps",
             lambda i, o: _train(i, o, "--dataset", str(i.tiles), "--validation-size", "8"),
             r"holds 3 tiles, not more than the 8 kept for validation"),
        Case("train", "output is a file", _train, r"is a file", output_name="a-file.txt", exists=True, status=2),
        Case("train", "run folder holds a run, --no-resume", lambda i, o: _train(i, o, "--no-resume"),
             r"holds a training run \(last\.pt, best\.pt\); drop --no-resume to continue it, or pass --overwrite",
             exists=True),
        Case("train", "run folder with a damaged checkpoint (resume)", _train,
             r"run/last\.pt: cannot be read as a training checkpoint", exists=True),
        Case("train", "init-from: missing checkpoint",
             lambda i, o: _train(i, o, "--init-from", str(i.missing.with_suffix(".pt"))), r"no such checkpoint file"),
        Case("train", "init-from: truncated checkpoint",
             lambda i, o: _train(i, o, "--init-from", str(i.truncated_checkpoint)),
             r"cannot be read as a training checkpoint"),
        Case("train", "init-from: checkpoint of another network",
             lambda i, o: _train(i, o, "--model", "siamese-unet", "--init-from", str(i.checkpoint)),
             r"holds another network"),
        Case("train", "prior jitter without the prior", lambda i, o: _train(i, o, "--prior-jitter-px", "0.5"),
             r"prior_jitter_px perturbs the tracker prior: it needs prior=True"),
        Case("train", "CUDA asked for, none here", lambda i, o: _train(i, o, "--device", "cuda"),
             r"no CUDA device is available", skip_with_cuda=True),
    ]
    return rows


def _dataset(i: Inputs, o: Path, pairs: Path, *extra: str) -> list[str]:
    # Labels by simulation: the tracker's default chips (up to 128 px) do not fit the 96 px images.
    return ["make-dataset", str(pairs), "-o", str(o), "--labels", "simulate", "--tile-size", "64", *extra]


def _dataset_cases() -> list[Case]:
    listing = lambda name, lines: lambda i, o, *extra: _dataset(i, o, i.pairs(name, lines(i)), *extra)  # noqa: E731
    ok = listing("good", lambda i: [f"{i.reference},{i.secondary}"])

    def run_pair(i, o, ref, sec):
        return _dataset(i, o, i.pairs(re.sub(r"[^A-Za-z0-9]+", "-", f"{Path(ref).name}-{Path(sec).name}"),
                                      [f"{ref},{sec}"]))

    rows = _image_rows("make-dataset", run_pair, works=False, paths_checked_by_cli=False)
    return rows + [
        Case("make-dataset", "pair list missing", lambda i, o: _dataset(i, o, i.missing.with_suffix(".csv")),
             r"does not exist", status=2),
        Case("make-dataset", "pair list is binary (a GeoTIFF)", lambda i, o: _dataset(i, o, i.reference),
             r"reference\.tif: not a text list of 'reference,secondary' lines"),
        Case("make-dataset", "pair list is empty", listing("empty", lambda i: ["# nothing"]), r"lists no pair"),
        Case("make-dataset", "pair list line with one path", listing("one", lambda i: [str(i.reference)]),
             r"one\.csv:1: expected 'reference,secondary'"),
        Case("make-dataset", "images smaller than a tile", lambda i, o: _dataset(
            i, o, i.pairs("small", [",".join(map(str, i.pair("small", lambda a: a[:24, :24])))])),
             r"no tile had enough labelled pixels"),
        Case("make-dataset", "int16 pair (read as float32)", lambda i, o: _dataset(
            i, o, i.pairs("int16", [",".join(map(str, i.pair("int16", lambda a: (a * 1000).astype(np.int16))))])),
             None),
        Case("make-dataset", "tile size 0", lambda i, o: ok(i, o, "--tile-size", "0"),
             r"--tile-size must be at least 32"),
        Case("make-dataset", "share of valid pixels above 1", lambda i, o: ok(i, o, "--min-valid", "1.5"),
             r"--min-valid .* must lie in \[0, 1\]"),
        Case("make-dataset", "zero tracking step", lambda i, o: ok(i, o, "--step", "0"),
             r"step=0 must be an integer >= 1"),
        Case("make-dataset", "negative sigma threshold", lambda i, o: ok(i, o, "--max-sigma-px", "-1"),
             r"--max-sigma-px must be a positive"),
    ] + _output_rows("make-dataset", ok, suffix_row=("output not .h5", r"must be an \.h5 file", "tiles.tif"))


def _export(i: Inputs, o: Path, checkpoint: Path, *extra: str) -> list[str]:
    return ["export-model", str(checkpoint), "-o", str(o), *extra]


def _export_cases() -> list[Case]:
    ok = lambda i, o, *extra: _export(i, o, i.checkpoint, *extra)  # noqa: E731
    return [
        Case("export-model", "checkpoint missing", lambda i, o: _export(i, o, i.missing.with_suffix(".pt")),
             r"does not exist", status=2),
        Case("export-model", "checkpoint is a GeoTIFF", lambda i, o: _export(i, o, i.reference),
             r"reference\.tif: cannot be read as a training checkpoint"),
        Case("export-model", "checkpoint truncated", lambda i, o: _export(i, o, i.truncated_checkpoint),
             r"truncated-checkpoint\.pt: cannot be read as a training checkpoint"),
        Case("export-model", "checkpoint that runs code when unpickled", lambda i, o: _export(i, o, i.pickled_code),
             r"pickled-code\.pt: cannot be read as a training checkpoint"),
        Case("export-model", "exported weights instead of a checkpoint", lambda i, o: _export(i, o, i.weights),
             r"tiny\.pt: not a sarflow training checkpoint"),
        Case("export-model", "metrics file not JSON", lambda i, o: ok(i, o, "--metrics", str(i.text)),
             r"notes\.tif: not a JSON file"),
        Case("export-model", "`--least-squares` for a network not on the tracker prior",
             lambda i, o: ok(i, o, "--least-squares"), r"least-squares refinement needs a network trained on the "
                                                        r"tracker prior"),
        Case("export-model", "valid checkpoint", ok, None),
    ] + _output_rows("export-model", ok, suffix_row=("output not .pt", r"must be written to a \.pt file", "model.pth"))


def _evaluate_cases() -> list[Case]:
    run = lambda estimate, truth: lambda i, o: ["evaluate", str(estimate(i)), str(truth(i))]  # noqa: E731
    truth = lambda i: i.truth  # noqa: E731
    return [
        Case("evaluate", "missing file", run(lambda i: i.missing, truth), r"does-not-exist\.tif: no such file"),
        Case("evaluate", "not a raster (text)", run(lambda i: i.text, truth), r"notes\.tif"),
        Case("evaluate", "truncated GeoTIFF", run(lambda i: i.truncated, truth), r"truncated\.tif"),
        Case("evaluate", "wrong band count (amplitude, no dx/dy)", run(lambda i: i.reference, truth),
             r"reference\.tif.*'?dx'?"),
        Case("evaluate", "CRS mismatch", run(lambda i: i.truth, lambda i: i.truth_utm8), r"CRS"),
        Case("evaluate", "header declaring 10^6 x 10^6 pixels", run(lambda i: i.huge_tif, truth),
             r"huge-header\.tif"),
    ]


def _compare_cases() -> list[Case]:
    """Rows for `sarflow compare`, built from its signature once it exists (positional images, -o)."""
    def run(get_ref, get_sec=None, *, output=True):
        def argv(i: Inputs, o: Path) -> list[str]:
            command = _load_command("compare")
            args = ["compare"]
            for param in command.params:
                if param.param_type_name == "argument" and param.required:
                    second = "sec" in param.name
                    args.append(str((get_sec if second and get_sec else get_ref)(i)))
            if output and any("-o" in p.opts for p in command.params):
                args += ["-o", str(o)]
            return args
        return argv

    return [
        Case("compare", "missing file", run(lambda i: i.missing), r"does-not-exist\.tif: no such file"),
        Case("compare", "not a raster (text)", run(lambda i: i.text), r"notes\.tif"),
        Case("compare", "truncated GeoTIFF", run(lambda i: i.truncated), r"truncated\.tif"),
        Case("compare", "shape mismatch", run(lambda i: i.reference, lambda i: i.pair("short", lambda a: a[:80])[1]),
             r"differ in shape"),
        Case("compare", "header declaring 10^6 x 10^6 pixels", run(lambda i: i.huge_vrt, lambda i: i.huge_vrt),
             r"declares 1000000 x 1000000"),
        Case("compare", "report folder holds a report (no --overwrite)",
             run(lambda i: i.reference, lambda i: i.secondary), r"exists", exists=True),
    ]


def _velocity(i: Inputs, o: Path, offsets, *extra: str) -> list[str]:
    return ["velocity", str(offsets), "-o", str(o), "--days", "12", "--grid-step", "1", *extra]


def _velocity_cases() -> list[Case]:
    product = lambda get: lambda i, o: _velocity(i, o, get(i))  # noqa: E731
    ok = lambda i, o, *extra: _velocity(i, o, i.truth, *extra)  # noqa: E731
    return [
        Case("velocity", "missing file", product(lambda i: i.missing), r"does-not-exist\.tif: no such file"),
        Case("velocity", "not a raster (text)", product(lambda i: i.text), r"notes\.tif"),
        Case("velocity", "truncated GeoTIFF", product(lambda i: i.truncated), r"truncated\.tif"),
        Case("velocity", "wrong band count (amplitude, no dx/dy)", product(lambda i: i.reference),
             r"reference\.tif: no bands described 'dx' and 'dy'"),
        Case("velocity", "negative time span", lambda i, o: ok(i, o, "--days", "-3"),
             r"time span must be a positive number of days"),
    ] + _output_rows("velocity", ok)


CASES: list[Case] = (_simulate_cases() + _track_cases() + _train_cases() + _predict_cases() + _evaluate_cases()
                     + _compare_cases() + _dataset_cases() + _export_cases() + _velocity_cases())


# ----------------------------------------------------------------------------- running a case

def _load_command(name: str):
    module, attr, _ = COMMANDS[name]
    return getattr(importlib.import_module(module), attr)


def command_available(name: str) -> str | None:
    """None when ``name`` is registered and importable, else why not."""
    if name not in COMMANDS:
        return f"`sarflow {name}` is not registered in sarflow.cli.COMMANDS yet"
    try:
        _load_command(name)
    except ImportError as exc:
        return f"`sarflow {name}` is registered but does not import yet ({exc})"
    return None


def prepare_output(case: Case, folder: Path) -> tuple[Path | None, bytes | None]:
    """The output path of a case inside ``folder``, pre-created when the case says so; its previous bytes."""
    name = case.output_name or OUTPUTS[case.command]
    if name is None:
        return None, None
    out = folder / name
    before = None
    if case.exists:
        if case.command in FOLDER_OUTPUTS and case.output_name is None:
            out.mkdir(parents=True)
            for marker in FOLDER_OUTPUTS[case.command]:
                (out / marker).write_bytes(b"an earlier run")
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(b"an earlier result")
        before = _snapshot(out)
    return out, before


def _snapshot(path: Path) -> bytes:
    if path.is_dir():
        return b"".join(p.name.encode() + p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())
    return path.read_bytes()


def run_case(case: Case, inputs: Inputs, folder: Path, capture: Callable[[], str]) -> tuple[int, str, Path | None,
                                                                                            bytes | None]:
    """Run one case; returns the exit status, what reached stderr, the output path and its bytes before."""
    out, before = prepare_output(case, folder)
    argv = case.argv(inputs, out if out is not None else folder / "unused")
    capture()  # drop what building the inputs printed
    status = main(argv)
    return status, capture(), out, before


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Inputs:
    return Inputs(tmp_path_factory.mktemp("bad-inputs"))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, inputs: Inputs, tmp_path: Path, capfd):
    why = command_available(case.command)
    if why:
        pytest.skip(why)
    if case.root_only_skip and os.geteuid() == 0:
        pytest.skip("file permissions do not apply to root")
    if case.skip_with_cuda:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    status, err, out, before = run_case(case, inputs, tmp_path, lambda: capfd.readouterr().err)
    assert "Traceback" not in err
    leftovers = [p for p in tmp_path.rglob("*") if ".tmp-" in p.name or p.name.startswith(".simulate-")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    if case.expect is None:
        assert status == 0, err
        if out is not None:
            assert out.exists()
            assert before is None or _snapshot(out) != before
        return
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines}"
    assert lines[0].startswith("error: "), lines[0]
    assert re.search(case.expect, lines[0]), f"{lines[0]!r} does not match {case.expect!r}"
    assert status == case.status
    if out is not None:
        if before is None:
            assert not out.exists(), f"{out} was written although the command failed"
        else:
            assert _snapshot(out) == before, f"{out} was changed although the command failed"
    assert not inputs.pickle_marker.exists(), "unpickling a model file ran code"


def test_matrix_covers_every_command():
    """Each subcommand the project documents has rows; each registered command too."""
    covered = {c.command for c in CASES}
    assert covered >= {"simulate", "track", "train", "predict", "evaluate", "compare", "make-dataset", "export-model"}
    assert set(COMMANDS) <= covered, f"commands without bad-input rows: {set(COMMANDS) - covered}"


def test_valid_dtypes_give_the_same_offsets(inputs: Inputs, tmp_path: Path):
    """int16, float64 and complex data are tracked as their float32 amplitude: the same offsets as float32."""
    from sarflow.io import read_offsets

    results = {}
    for name, make, options in [
        ("float32", lambda a: a, {}),
        ("float64", lambda a: a.astype(np.float64), {}),
        ("slc", lambda a: (a * np.exp(1j * np.linspace(0, 40, a.size).reshape(a.shape))).astype(np.complex64), {}),
    ]:
        ref, sec = inputs.pair(name, make, **options)
        out = tmp_path / f"{name}.tif"
        assert main(_track(inputs, out, str(ref), str(sec))) == 0
        results[name] = read_offsets(out)
    for name in ("float64", "slc"):
        np.testing.assert_allclose(results[name].dx, results["float32"].dx, atol=1e-4, equal_nan=True)
    assert np.nanmedian(results["float32"].dx) == pytest.approx(0.4, abs=0.1)


def test_holes_stay_nodata(inputs: Inputs, tmp_path: Path):
    """A NaN hole in both images gives no estimate where the chip lies mostly inside it, never a number."""
    from sarflow.io import read_offsets

    ref, sec = inputs.pair("holes", _with_holes)
    out = tmp_path / "holes.tif"
    assert main(_track(inputs, out, str(ref), str(sec)) + ["--step", "8"]) == 0
    product = read_offsets(out)
    # Grid point (i, j) is pixel (4 + 8 i, 4 + 8 j): point (2, 2) is pixel (20, 20), whose 32 px chip
    # (rows and columns 4..35) is two thirds inside the 32 x 32 hole (8..39).
    assert np.isnan(product.dx[2, 2]) and np.isnan(product.dy[2, 2])
    assert np.isfinite(product.dx[8:, 8:]).any()


def test_unreadable_file_is_named(inputs: Inputs, monkeypatch, capfd):
    """The permission rows, where the tests run as root (who may read anything), with access refused by hand."""
    from sarflow.errors import RasterFormatError
    from sarflow.io import read_raster

    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != inputs.reference and real_access(path, mode))
    with pytest.raises(RasterFormatError, match=r"reference\.tif: cannot be read \(permission denied\)"):
        read_raster(inputs.reference)
    # On the command line the argument check comes first.
    assert main(_track(inputs, inputs.path("never.tif"), str(inputs.reference), str(inputs.secondary))) == 2
    assert "is not readable" in capfd.readouterr().err


def test_read_larger_than_memory_is_refused_before_reading(tmp_path, monkeypatch):
    """A plausible header (40000 x 40000) whose whole read would not fit in memory: refused, nothing allocated."""
    import sarflow.io.rasters as rasters
    from sarflow.errors import InputError

    path = tmp_path / "large.vrt"
    path.write_text('<VRTDataset rasterXSize="40000" rasterYSize="40000">'
                    '<VRTRasterBand dataType="Float32" band="1"/></VRTDataset>')
    monkeypatch.setattr(rasters, "available_memory_bytes", lambda: 2**30)
    with pytest.raises(InputError, match=r"large\.vrt: declares 40000 x 40000 pixels of float32 \(12 GiB to read\), "
                                         r"more than the 0\.8 GiB of memory available"):
        rasters.read_raster(path)
    assert rasters.read_raster(path, window=(0, 0, 64, 64)).data.shape == (64, 64)  # a window fits


def test_model_file_is_never_executed(inputs: Inputs):
    """A weights file that would run code when unpickled is refused, and the code does not run."""
    from sarflow.errors import InputError
    from sarflow.models import load_model

    with pytest.raises(InputError, match="cannot be read as sarflow weights"):
        load_model(str(inputs.pickled_code))
    assert not inputs.pickle_marker.exists()


def test_exported_weights_load_and_record_their_checksum(inputs: Inputs):
    import json

    from sarflow.models import file_sha256, load_model

    recorded = json.loads((inputs.weights.parent / "checksums.json").read_text())
    assert recorded == {"tiny.pt": file_sha256(inputs.weights)}
    assert file_sha256(inputs.weights) in inputs.weights.with_suffix(".md").read_text()
    model = load_model(str(inputs.weights))
    assert not model.training


def test_shipped_weights_need_a_recorded_checksum(inputs: Inputs, monkeypatch):
    """Weights inside the package with no entry in its checksums.json are refused."""
    import sarflow.models as models
    from sarflow.errors import InputError

    monkeypatch.setattr(models, "_HERE", inputs.weights.parent.resolve())
    (inputs.weights.parent / "checksums.json").rename(inputs.weights.parent / "checksums.moved")
    try:
        with pytest.raises(InputError, match="shipped weights without a recorded checksum"):
            models.load_model("tiny")
    finally:
        (inputs.weights.parent / "checksums.moved").rename(inputs.weights.parent / "checksums.json")
    assert not models.load_model("tiny").training


def _console(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sarflow", *args], capture_output=True, text=True, timeout=120)


def test_console_script_refuses_with_one_line(inputs: Inputs, tmp_path: Path):
    """The real process: a corrupt image and a huge header give one line on stderr, exit status 1."""
    for bad in (inputs.corrupt, inputs.huge_tif):
        out = tmp_path / "offsets.tif"
        result = _console("track", str(bad), str(inputs.secondary), "-o", str(out), *TRACK_FAST)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith(f"error: {bad}")
        assert not out.exists()


def test_console_script_usage_error_is_one_line(tmp_path: Path):
    result = _console("track", "a.tif", "b.tif", "-o", str(tmp_path / "o.tif"), "--step", "many")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: Invalid value for '--step': 'many' is not a valid integer. (see 'sarflow track --help')"]
