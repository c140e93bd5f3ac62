"""The demo behind `make demo`: the whole system on simulated scenes, and on real data where present.

For a glacier, an earthquake and a volcano it simulates a pair with exact truth (`sarflow simulate`),
then runs the multi-kernel tracker and the shipped network side by side and writes a report
(`sarflow compare`). Where `../shared/data` holds the Yahtse glacier Landsat-8 pair, it also tracks
it and turns the offsets into velocities in m/day (`sarflow velocity`). Every step runs the
`sarflow` command itself, so what it shows is what a user gets. It ends with a table in the
terminal and the path of `demo-output/index.html`.
"""

from __future__ import annotations

import argparse
import html
import json
import shutil
import time
from pathlib import Path

from sarflow.cli import main as sarflow
from sarflow.io import atomic_path

CASES = [
    ("glacier", ["--seed", "1"], "valley glacier, 12 days"),
    ("earthquake", ["--seed", "2"], "surface-rupturing strike-slip fault"),
    ("volcano", ["--seed", "4"], "Mogi point source"),
]

YAHTSE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "yahtse_landsat8"


def _run(args: list[str]) -> None:
    status = sarflow(args)
    if status != 0:
        raise SystemExit(f"`sarflow {' '.join(args)}` failed with status {status}")


def _metric(metrics: dict, method: str, key: str):
    value = metrics.get("methods", {}).get(method, {}).get("metrics", {}).get(key)
    if value is None:
        value = metrics.get(method, {}).get(key) if isinstance(metrics.get(method), dict) else None
    return value


def _fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def simulated(out: Path, size: int) -> list[dict]:
    rows = []
    for i, (scenario, options, label) in enumerate(CASES):
        folder = out / f"{i + 1:02d}-{scenario}"
        _run(["simulate", scenario, "-o", str(folder), "--size", str(size), str(size), "--overwrite", *options])
        report = folder / "report"
        start = time.perf_counter()
        _run(["compare", str(folder / "reference.tif"), str(folder / "secondary.tif"), "--truth",
              str(folder / "truth.tif"), "-o", str(report), "--overwrite"])
        seconds = time.perf_counter() - start
        metrics = json.loads((report / "metrics.json").read_text())
        rows.append({"name": folder.name, "label": label, "report": f"{folder.name}/report/index.html",
                     "quicklook": f"{folder.name}/quicklook.png", "metrics": metrics, "seconds": seconds})
    return rows


def yahtse(out: Path) -> dict | None:
    images = YAHTSE / "IMAGES"
    if not images.is_dir():
        return None
    ref = images / "LC80630182016200LGN00_B8_yahtse.TIF"
    sec = images / "LC80630182016216LGN00_B8_yahtse.TIF"
    folder = out / "yahtse"
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    _run(["track", str(ref), str(sec), "-o", str(folder / "offsets.tif"), "--step", "16", "--search-radius", "24",
          "--overwrite"])
    _run(["velocity", str(folder / "offsets.tif"), "--dates", "2016-07-18", "2016-08-03", "--units", "m/day",
          "-o", str(folder / "velocity.tif"), "--quicklook", str(folder / "velocity.png"), "--overwrite"])
    return {"seconds": time.perf_counter() - start, "quicklook": "yahtse/velocity.png"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    parser.add_argument("--size", type=int, default=384)
    args = parser.parse_args()
    if args.out.exists() and not (args.out / "index.html").exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out} exists and is not a sarflow demo folder; choose another --out")
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)

    rows = simulated(args.out, args.size)
    real = yahtse(args.out)

    # The network's prior alone ("network-prior"), where it ran on one: what the shipped model adds to it.
    methods = ("tracker", "network", "network-prior")
    print()
    print(f"{'scene':<14} {'case':<38} " + " ".join(f"{m + ' RMSE':>13}" for m in methods[:2])
          + f" {'its prior':>13} {'time':>7}")
    for row in rows:
        values = [_fmt(_metric(row["metrics"], m, "rmse")) for m in methods]
        print(f"{row['name']:<14} {row['label']:<38} " + " ".join(f"{v:>13}" for v in values)
              + f" {row['seconds']:6.1f}s")
    if real is not None:
        print(f"{'yahtse':<14} {'real Landsat-8 pair -> m/day':<38} {'(see page)':>13} {'':>13} {'':>13} "
              f"{real['seconds']:6.1f}s")
    print("RMSE in pixels against the exact truth; '-' where a method did not run (no shipped weights);\n"
          "'its prior': the tracker prior the network corrects, alone; the shipped model's gain over it is the\n"
          "difference (its least-squares refinement's: see the README's 'The shipped model').")

    cards = []
    for row in rows:
        cards.append(
            f"<section><h2>{html.escape(row['name'])}: {html.escape(row['label'])}</h2>"
            f"<p><a href='{html.escape(row['report'])}'>side-by-side report: tracker, network, truth</a></p>"
            f"<img src='{html.escape(row['quicklook'])}' alt='{html.escape(row['label'])}' style='max-width:100%'>"
            "</section>")
    if real is not None:
        cards.append("<section><h2>Yahtse glacier, Alaska (Landsat 8, 2016-07-18 to 2016-08-03)</h2>"
                     "<p>Multi-kernel tracking on a 16 px grid, velocities in m/day.</p>"
                     f"<img src='{real['quicklook']}' alt='Yahtse velocity' style='max-width:100%'></section>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>sarflow demo</title>"
            "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}</style></head><body>"
            "<h1>sarflow demo</h1><p>Simulated SAR pairs with exact truth, the multi-kernel tracker and the "
            "network side by side; offsets in pixels (a feature at (r, c) in the reference lies at "
            "(r + dy, c + dx) in the secondary).</p>" + "".join(cards) + "</body></html>")
    index = args.out / "index.html"
    with atomic_path(index) as tmp:
        tmp.write_text(page)
    print(f"\nopen {index.resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
