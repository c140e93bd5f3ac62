"""Peak memory of `sarflow predict` on large scenes: bounded by --max-memory, not by the scene.

    python benchmarks/bench_scene_memory.py                 # 2048 and 8192 scenes + a 16k x 16k virtual scene
    python benchmarks/bench_scene_memory.py --sizes 1024 2048 --no-virtual --no-default-network   # quick
    python benchmarks/bench_scene_memory.py --virtual-window 0 0 16384 16384     # the whole virtual scene (long)

Each run is a separate ``python -m sarflow predict`` process, by default with ``--processes 1``
(no forked workers); its peak resident memory (RSS) is its own high-water mark, read from
``/proc`` while it runs (`peak_rss`). With ``--processes N`` (N other than 1) the figure is the peak
of the proportional set size of the command and its workers summed, sampled alike. The pairs are speckle written block by block into tiled
GeoTIFFs (never whole in memory); the 16384 x 16384 scene is a VRT mosaic of the 2048 pair (no
pixels of its own). The in-memory row runs the older route for contrast: both images read whole,
then `predict_arrays`.

The network does not change the memory model, only the time: the scaling rows use a small
untrained U-Net (``unet``, 4 channels, depth 2; fast) and one row runs the default-size untrained
CC-ResSiamNet at 2048 to show the budget holds with the real network's activations (``--model
PATH`` or a shipped name runs trained weights instead; weights trained on the tracker prior, such as
the shipped ones, run with it, and with their least-squares refinement where they carry one).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_speckle_pair(folder: Path, size: int, seed: int = 0) -> tuple[Path, Path]:
    """A reference / secondary pair of ``size`` x ``size`` speckle, written 512 rows at a time."""
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    warnings.simplefilter("ignore", NotGeoreferencedWarning)  # speckle in pixel coordinates
    paths = folder / f"ref_{size}.tif", folder / f"sec_{size}.tif"
    if all(p.exists() for p in paths):
        return paths
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="float32", tiled=True, blockxsize=512,
                   blockysize=512, compress="deflate", BIGTIFF="IF_SAFER")
    with rasterio.open(paths[0], "w", **profile) as ref, rasterio.open(paths[1], "w", **profile) as sec:
        for row in range(0, size, 512):
            rng = np.random.default_rng([seed, row])
            height = min(512, size - row)
            amplitude = np.sqrt(rng.exponential(size=(height, size))).astype(np.float32)
            noise = np.sqrt(rng.exponential(size=(height, size))).astype(np.float32)
            window = rasterio.windows.Window(0, row, size, height)
            ref.write(amplitude, 1, window=window)
            sec.write((0.9 * amplitude + 0.1 * noise).astype(np.float32), 1, window=window)
    return paths


def write_mosaic_vrt(path: Path, source: Path, tile: int, repeat: int) -> Path:
    """A VRT of ``repeat x repeat`` copies of ``source`` (``tile`` pixels a side)."""
    size = tile * repeat
    sources = "".join(
        f"""    <SimpleSource><SourceFilename relativeToVRT="0">{source}</SourceFilename><SourceBand>1</SourceBand>
      <SrcRect xOff="0" yOff="0" xSize="{tile}" ySize="{tile}"/>
      <DstRect xOff="{j * tile}" yOff="{i * tile}" xSize="{tile}" ySize="{tile}"/></SimpleSource>
""" for i in range(repeat) for j in range(repeat))
    path.write_text(f"""<VRTDataset rasterXSize="{size}" rasterYSize="{size}">
  <VRTRasterBand dataType="Float32" band="1">
{sources}  </VRTRasterBand>
</VRTDataset>
""")
    return path


def export_untrained(folder: Path, name: str, **kwargs) -> Path:
    """Untrained weights in the exported format (speed and memory do not depend on the values)."""
    import torch

    from sarflow.nn import build_model
    from sarflow.training.export import export_model

    path = folder / f"{name}.pt"
    if path.exists():
        return path
    torch.manual_seed(0)
    net = build_model(name, **kwargs)
    checkpoint = folder / f"{name}-checkpoint.pt"
    torch.save({"format": "sarflow-checkpoint-1", "model_config": net.to_config(), "model_state": net.state_dict(),
                "train_config": {"seed": 0}, "step": 0}, checkpoint)
    return export_model(checkpoint, path)


def _high_water(pid: int) -> int:
    """Peak resident memory (VmHWM) of process ``pid`` so far, bytes; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tree_pss(pid: int) -> int:
    """Proportional set size of process ``pid`` and all its descendants together, bytes (pages
    shared between them, such as what forked workers inherit, counted once)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as rollup:
                total += next(int(line.split()[1]) * 1024 for line in rollup if line.startswith("Pss:"))
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as children:
                    todo += [int(c) for c in children.read().split()]
        except (OSError, StopIteration):
            pass
    return total


def peak_rss(command: list[str], tree: bool = False) -> tuple[int, float, int, str]:
    """Run ``command``; its peak RSS (bytes), wall time (s), exit status and standard error.

    The peak is the command's own high-water mark (``VmHWM``, read every 20 ms while it runs), not
    ``os.wait4``'s ``ru_maxrss``: Linux carries the high-water mark of the memory a process had
    before ``exec`` into that figure, and a child started by this script (vfork) had this script's
    memory, so ``ru_maxrss`` reported the larger of the two (this script holds torch and the
    exported networks: 1.5 GB, against 0.5 GB for the command itself at 1024 x 1024).
    With ``tree``, the peak of the proportional set size of the command and its worker processes
    summed (`_tree_pss`), sampled alike.
    """
    import threading

    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    reader = threading.Thread(target=lambda: setattr(proc, "stderr_text", proc.stderr.read()), daemon=True)
    reader.start()
    while proc.poll() is None:
        peak = max(peak, _tree_pss(proc.pid) if tree else _high_water(proc.pid))
        time.sleep(0.02)
    reader.join()
    return peak, time.perf_counter() - start, proc.returncode, getattr(proc, "stderr_text", "")


IN_MEMORY = """
import sys
from sarflow.io import open_pair
from sarflow.models import load_model
from sarflow.scene.inference import InferenceConfig
from sarflow.scene.predict import predict_arrays
ref, sec = open_pair(sys.argv[1], sys.argv[2])
out = predict_arrays(load_model(sys.argv[3]), ref.data, sec.data, config=InferenceConfig(), prior=sys.argv[4])
"""


def block_side(product: Path) -> str:
    """``"SIDE (BLOCKS)"`` of a product's block plan."""
    import json
    import math

    import rasterio

    with rasterio.open(product) as src:
        side = int(json.loads(src.tags()["parameters"])["block_side"])
        blocks = math.ceil(src.height / side) * math.ceil(src.width / side)
    return f"{side} ({blocks})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 8192])
    parser.add_argument("--budgets", nargs="+", default=["1GB", "2GB"])
    parser.add_argument("--model", default=None, help="weights for every row instead of the untrained networks")
    parser.add_argument("--no-in-memory", action="store_true", help="skip the whole-image rows")
    parser.add_argument("--no-default-network", action="store_true", help="skip the CC-ResSiamNet row")
    parser.add_argument("--default-network-budget", default="1.5GB",
                        help="budget of the CC-ResSiamNet row (batches of 4 tiles of 512 px need about 1 GB)")
    parser.add_argument("--only-default-network", action="store_true", help="run only the CC-ResSiamNet row")
    parser.add_argument("--no-virtual", action="store_true", help="skip the 16384 x 16384 virtual scene")
    parser.add_argument("--virtual-window", type=int, nargs=4, default=[0, 0, 4096, 16384],
                        metavar=("ROW", "COL", "HEIGHT", "WIDTH"))
    parser.add_argument("--processes", type=int, default=1,
                        help="`sarflow predict --processes` (default 1: the peak RSS of the one process; "
                             "otherwise the peak of the summed proportional set size of the command and its "
                             "workers)")
    parser.add_argument("--workdir", default=None, help="keep the scenes here (default: a temporary folder)")
    args = parser.parse_args()

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="sarflow-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    small = Path(args.model) if args.model else export_untrained(work, "unet", base_channels=4, depth=2)
    default = Path(args.model) if args.model else export_untrained(work, "ccressiamnet")
    # weights trained on the tracker prior's residual (the shipped ones) run on it
    from sarflow.models import load_model

    route = "always" if args.model and load_model(str(args.model)).prior_input else "none"
    small_label = Path(args.model).stem if args.model else "unet-4-2"
    cli = [sys.executable, "-m", "sarflow", "predict"]

    rows = []

    def run(label, network, pair, budget, extra=(), model=small):
        out = work / "out.tif"
        out.unlink(missing_ok=True)
        command = [*cli, str(pair[0]), str(pair[1]), "-o", str(out), "--model", str(model), "--prior", route,
                   "--max-memory", budget, "--quiet", "--processes", str(args.processes), *extra]
        rss, seconds, status, stderr = peak_rss(command, tree=args.processes != 1)
        if status != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{stderr}")
        rows.append((label, network, budget, block_side(out), rss, seconds))
        print_row(rows[-1])

    print(f"{'scene':<38} {'network':<13} {'budget':>7} {'block (n)':>10} {'peak RSS':>9} {'peak/budget':>11} "
          f"{'wall s':>7}")
    for size in [] if args.only_default_network else args.sizes:
        pair = write_speckle_pair(work, size)
        for budget in args.budgets:
            run(f"{size} x {size}", small_label, pair, budget)
        if size == max(args.sizes):
            run(f"{size} x {size}, coarse prior", small_label, pair, args.budgets[0],
                extra=("--prior", "always"))
        if not args.no_in_memory:
            rss, seconds, status, stderr = peak_rss([sys.executable, "-c", IN_MEMORY, str(pair[0]), str(pair[1]),
                                                     str(small), route])
            if status != 0:
                raise SystemExit(stderr)
            rows.append((f"{size} x {size}, whole images in memory", small_label, "-", "-", rss, seconds))
            print_row(rows[-1])
    if not args.no_default_network:
        pair = write_speckle_pair(work, 2048)
        run("2048 x 2048", "ccressiamnet", pair, args.default_network_budget, model=default)
    if not args.no_virtual and not args.only_default_network:
        pair = write_speckle_pair(work, 2048)
        vrt = [write_mosaic_vrt(work / f"{role}_16384.vrt", p, 2048, 8) for role, p in zip(("ref", "sec"), pair)]
        r, c, h, w = args.virtual_window
        for budget in args.budgets:
            run(f"16384 x 16384 VRT, window {h} x {w}", small_label, vrt, budget,
                extra=("--window", str(r), str(c), str(h), str(w)))


def print_row(row) -> None:
    from sarflow.scene.blocks import parse_memory

    label, network, budget, side, rss, seconds = row
    ratio = f"{rss / parse_memory(budget):.0%}" if budget != "-" else "-"
    print(f"{label:<38} {network:<13} {budget:>7} {side:>10} {rss / 1e9:8.2f}G {ratio:>11} {seconds:7.1f}",
          flush=True)


if __name__ == "__main__":
    main()
