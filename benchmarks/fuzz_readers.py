"""Fuzz the raster readers: mutated bytes of small valid GeoTIFF and HDF5 files fed to `read_raster`.

    python benchmarks/fuzz_readers.py --seconds 60          # as many mutations as fit in a minute
    python benchmarks/fuzz_readers.py --iterations 2000 --seed 3

The only acceptable outcomes of a read are an image or a `sarflow.errors.SarflowError`; anything else
(another exception, a crash of the process, a read that does not finish within ``--timeout`` seconds)
is an escape and is listed. Each read runs in a separate worker process fed over a pipe, so a crash
inside GDAL or HDF5 (a segmentation fault) is reported and the worker restarted instead of ending
the run. The seed files are made here (no binary fixtures): a deflate-compressed tiled float32
GeoTIFF with CRS and nodata, an uncompressed striped int16 GeoTIFF, a complex64 GeoTIFF, a chunked
gzip float32 HDF5 dataset and a contiguous complex HDF5 dataset.

Mutations: bit flips, interesting bytes and 16/32-bit integers written at random places, values of
random TIFF directory entries replaced (sizes, offsets, counts: a header that lies about its size),
truncation, and repeated, deleted or inserted chunks of bytes; one to five per input, drawn from a
seeded generator, so a run is reproducible. The test suite runs a short seeded run of this harness
(tests/fuzz/test_fuzz_readers.py). Exit status 1 when anything escaped.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Name of the dataset read inside the HDF5 seeds.
HDF5_DATASETS = {"float32.h5": "/data", "complex.h5": "/science/slc"}

_INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF)
_INTERESTING_INTS = (0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x10000, 1_000_000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


# ----------------------------------------------------------------------------- seeds

def make_seeds(folder: Path) -> dict[str, bytes]:
    """Small valid rasters, as bytes by file name (the suffix tells the format)."""
    import h5py
    import rasterio
    from affine import Affine

    rng = np.random.default_rng(0)
    amplitude = (rng.rayleigh(50.0, (32, 32))).astype(np.float32)
    transform = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 6650000.0)
    specs = {
        "deflate.tif": dict(dtype="float32", data=amplitude, compress="deflate", tiled=True, blockxsize=16,
                            blockysize=16, crs="EPSG:32607", transform=transform, nodata=-9999.0),
        "strips.tif": dict(dtype="int16", data=(amplitude * 10).astype(np.int16)),
        "complex.tif": dict(dtype="complex64", data=(amplitude * np.exp(1j * amplitude)).astype(np.complex64)),
    }
    out = {}
    for name, spec in specs.items():
        data = spec.pop("data")
        path = folder / name
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # no georeferencing on purpose
            with rasterio.open(path, "w", driver="GTiff", height=32, width=32, count=1, **spec) as ds:
                ds.write(data, 1)
        out[name] = path.read_bytes()
    with h5py.File(folder / "float32.h5", "w") as f:
        f.create_dataset("data", data=amplitude, chunks=(16, 16), compression="gzip")
    with h5py.File(folder / "complex.h5", "w") as f:
        f.create_dataset("science/slc", data=(amplitude * np.exp(1j * amplitude)).astype(np.complex64))
    for name in HDF5_DATASETS:
        out[name] = (folder / name).read_bytes()
    return out


# ----------------------------------------------------------------------------- mutations

def _tiff_entries(data: bytes) -> list[int]:
    """Byte offsets of the value fields of the first directory's entries of a classic TIFF (empty if none)."""
    if len(data) < 8 or data[:2] not in (b"II", b"MM"):
        return []
    end = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(end + "I", data, 4)
    if ifd + 2 > len(data):
        return []
    (count,) = struct.unpack_from(end + "H", data, ifd)
    return [ifd + 2 + 12 * k + 8 for k in range(count) if ifd + 2 + 12 * k + 12 <= len(data)]


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One to five random mutations of ``data``."""
    b = bytearray(data)
    entries = _tiff_entries(data)
    for _ in range(int(rng.integers(1, 6))):
        if len(b) < 16:
            break
        op = int(rng.integers(0, 8))
        i = int(rng.integers(0, len(b)))
        if op == 0:
            b[i] ^= 1 << int(rng.integers(0, 8))
        elif op == 1:
            b[i] = int(rng.choice(_INTERESTING_BYTES))
        elif op == 2:
            value = int(rng.choice(_INTERESTING_INTS))
            width = int(rng.choice([2, 4]))
            b[i : i + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, str(rng.choice(["little", "big"])))
        elif op == 3 and entries:  # a directory entry's value: a size, an offset or a count
            at = int(rng.choice(entries))
            b[at : at + 4] = int(rng.choice(_INTERESTING_INTS)).to_bytes(4, "little" if data[:2] == b"II" else "big")
        elif op == 4:
            del b[max(8, i):]
        elif op == 5:
            n = int(rng.integers(1, 64))
            b[i:i] = b[i : i + n]
        elif op == 6:
            n = int(rng.integers(1, 64))
            del b[i : i + n]
        else:
            n = int(rng.integers(1, 64))
            b[i:i] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    return bytes(b)


# ----------------------------------------------------------------------------- the worker

def _source(path: Path) -> str:
    dataset = HDF5_DATASETS.get(path.name.split("-", 1)[-1])
    return f"{path}:{dataset}" if dataset else str(path)


def read_outcome(path: Path) -> dict:
    """Read one file as the CLI does; classify the result."""
    from sarflow.errors import SarflowError
    from sarflow.io.rasters import open_pair, read_raster

    source = _source(path)
    try:
        raster = read_raster(source)
        open_pair(source, source)
        return {"outcome": "ok", "shape": list(raster.data.shape)}
    except SarflowError as exc:
        return {"outcome": "refused", "error": type(exc).__name__, "message": str(exc)[:200]}
    except Exception as exc:  # the escapes this harness looks for
        return {"outcome": "escape", "error": type(exc).__name__, "message": str(exc)[:200]}


def worker_main() -> None:
    """Serve reads: frames ``<length u32><name length u16><name><bytes>`` on stdin, one JSON line back each."""
    import warnings

    warnings.simplefilter("ignore")
    folder = Path(tempfile.mkdtemp(prefix="sarflow-fuzz-"))
    stdin, stdout = sys.stdin.buffer, sys.stdout
    while True:
        header = stdin.read(6)
        if len(header) < 6:
            return
        size, name_len = struct.unpack("<IH", header)
        name = stdin.read(name_len).decode()
        payload = stdin.read(size)
        path = folder / name
        path.write_bytes(payload)
        result = read_outcome(path)
        path.unlink(missing_ok=True)
        stdout.write(json.dumps(result) + "\n")
        stdout.flush()


class Worker:
    """A worker process reading one file at a time; restarted after a crash or a hang."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None

    def _start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)
        self.warm = False  # the first answer also waits for the worker's imports

    def read(self, name: str, payload: bytes) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        encoded = name.encode()
        try:
            self.proc.stdin.write(struct.pack("<IH", len(payload), len(encoded)) + encoded + payload)
            self.proc.stdin.flush()
        except BrokenPipeError:
            return self._crashed()
        if not self.selector.select(timeout=self.timeout if self.warm else self.timeout + 60.0):
            self.close()
            return {"outcome": "hang", "error": "timeout", "message": f"no answer within {self.timeout} s"}
        line = self.proc.stdout.readline()
        if not line:
            return self._crashed()
        self.warm = True
        return json.loads(line)

    def _crashed(self) -> dict:
        code = self.proc.wait()
        self.proc = None
        return {"outcome": "crash", "error": f"exit status {code}", "message": "the worker process died"}

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


# ----------------------------------------------------------------------------- the run

@dataclass
class FuzzReport:
    """Counts of outcomes per seed file, and every distinct escape (with the seed and mutation number)."""

    iterations: int = 0
    seconds: float = 0.0
    outcomes: dict = field(default_factory=dict)
    escapes: list = field(default_factory=list)

    @property
    def escaped(self) -> int:
        return sum(c[k] for c in self.outcomes.values() for k in ("escape", "crash", "hang"))


def fuzz(*, iterations: int | None = None, seconds: float | None = None, seed: int = 0,
         timeout: float = 20.0) -> FuzzReport:
    """Run mutations round-robin over the seed files until ``iterations`` or ``seconds`` is reached."""
    if iterations is None and seconds is None:
        raise ValueError("give iterations or seconds")
    rng = np.random.default_rng(seed)
    report = FuzzReport()
    seen = set()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sarflow-fuzz-seeds-") as tmp:
        seeds = make_seeds(Path(tmp))
        names = sorted(seeds)
        report.outcomes = {name: Counter() for name in names}
        worker = Worker(timeout)
        try:
            k = 0
            while True:
                if iterations is not None and k >= iterations:
                    break
                if seconds is not None and time.perf_counter() - start >= seconds:
                    break
                name = names[k % len(names)]
                result = worker.read(f"{k}-{name}", mutate(seeds[name], rng))
                report.outcomes[name][result["outcome"]] += 1
                if result["outcome"] in ("escape", "crash", "hang"):
                    key = (name, result["outcome"], result["error"], result["message"][:80])
                    if key not in seen:
                        seen.add(key)
                        report.escapes.append({"seed_file": name, "mutation": k, **result})
                k += 1
        finally:
            worker.close()
    report.iterations = k
    report.seconds = time.perf_counter() - start
    return report


def print_report(report: FuzzReport, seed: int) -> None:
    print(f"{report.iterations} mutated files read in {report.seconds:.1f} s (seed {seed})\n")
    print("| seed file | reads | image | SarflowError | other exception | crash | hang |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, c in report.outcomes.items():
        print(f"| {name} | {sum(c.values())} | {c['ok']} | {c['refused']} | {c['escape']} | {c['crash']} | "
              f"{c['hang']} |")
    if report.escapes:
        print("\nEscapes (rerun with the same seed to reproduce):")
        for e in report.escapes:
            print(f"  {e['seed_file']} mutation {e['mutation']}: {e['outcome']}: {e['error']}: {e['message']}")
    else:
        print("\nNo escape: every read gave an image or a SarflowError.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=None, help="run for this long (default 30 s)")
    parser.add_argument("--iterations", type=int, default=None, help="run exactly this many mutations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before a read counts as a hang")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main()
        return 0
    seconds = 30.0 if args.seconds is None and args.iterations is None else args.seconds
    report = fuzz(iterations=args.iterations, seconds=seconds, seed=args.seed, timeout=args.timeout)
    print_report(report, args.seed)
    return 1 if report.escaped else 0


if __name__ == "__main__":
    os.environ.setdefault("CPL_LOG", os.devnull)  # GDAL's own messages would clutter the table
    sys.exit(main())
