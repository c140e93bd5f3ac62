"""The tracker on the real pairs of ``../shared/data`` (the figures `tests/tracking/test_real_data.py` bounds).

    python benchmarks/bench_real_data.py                  # shipped sub-pixel window
    python benchmarks/bench_real_data.py --beta 3,6       # compare windows (`KAISER_BETA`)
    python benchmarks/bench_real_data.py --data /path/to/shared/data
    python benchmarks/bench_real_data.py --network        # also the shipped model (Envisat, Yahtse)

* Envisat SLC amplitude against the same image resampled by a known warp (step 8, radius 6, with
  and without ``preprocess="lowpass"``): RMSE of the vector error and coverage.
* Sentinel-1 pair over Amsterdam with no motion (chips 32, 64, step 8, radius 4): median |offset|.
* Yahtse glacier, Landsat 8 (default chips, step 16, radius 24) against the CARST reference grid:
  median |offset| on stable ground, and per mask (glacier, fast tongue) the median difference,
  the share over 2 px and the coverage.

With ``--network``: the shipped model (`sarflow.models.load_model`, `predict_arrays` with its
tracker prior) on the Envisat amplitudes, with and without its least-squares refinement
(`sarflow.tracking.lsq`), every pixel at least 24 px from the edge: RMSE, bias and spread per
component, its prior alone, and the share of errors within one sigma (68 % when calibrated); and on
the Yahtse pair (search radius 24 px as the tracker's), sampled at the tracker's step-16 points,
against the CARST reference on the tracker's own points (the like-for-like comparison) and on every
cell of each mask, with the model's median sigma where the tracker has no estimate and where it has.

See ``../shared/data/README.md`` for the data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bench_subpixel_bias import set_sinc  # this folder is on the path when a benchmark runs as a script

from sarflow.io import read_raster
from sarflow.tracking import TrackConfig, subpixel, track_offsets


def _s1_amplitude(folder: Path, date: str) -> np.ndarray:
    """Amplitude of one uncompressed zarr v2 chunk pair (big-endian float32, 84 x 338)."""
    i = np.fromfile(folder / f"i_VV_{date}" / "0.0", ">f4").reshape(84, 338)
    q = np.fromfile(folder / f"q_VV_{date}" / "0.0", ">f4").reshape(84, 338)
    return np.hypot(i, q).astype(np.float32)


def envisat(data: Path) -> None:
    d = data / "envisat"
    ref = read_raster(f"{d}/envisat.h5:/science/LSAR/SLC/swaths/frequencyA/HH").data
    sec = read_raster(d / "warped_envisat.slc.vrt").data
    true_dx = -np.fromfile(d / "offsets" / "range.off", "<f4").reshape(500, 500)
    true_dy = -np.fromfile(d / "offsets" / "azimuth.off", "<f4").reshape(500, 500)
    for preprocess in ("lowpass", "none"):
        res = track_offsets(ref, sec, config=TrackConfig(step=8, search_radius=6, preprocess=preprocess))
        ix = np.ix_(res.rows, res.cols)
        err = np.hypot(res.dx - true_dx[ix], res.dy - true_dy[ix])
        print(f"  Envisat warp, preprocess {preprocess:<8} RMSE {np.sqrt(np.nanmean(err ** 2)):.3f} px, "
              f"coverage {np.isfinite(err).mean():.1%}")


def envisat_network(data: Path) -> None:
    from sarflow.models import load_model
    from sarflow.scene.inference import InferenceConfig
    from sarflow.scene.predict import predict_arrays

    d = data / "envisat"
    ref = np.abs(read_raster(f"{d}/envisat.h5:/science/LSAR/SLC/swaths/frequencyA/HH").data).astype(np.float32)
    sec = np.abs(read_raster(d / "warped_envisat.slc.vrt").data).astype(np.float32)
    true_dx = -np.fromfile(d / "offsets" / "range.off", "<f4").reshape(500, 500)
    true_dy = -np.fromfile(d / "offsets" / "azimuth.off", "<f4").reshape(500, 500)
    model = load_model("ccressiamnet")
    inner = (slice(24, -24), slice(24, -24))
    for refine in (False, True):
        out = predict_arrays(model, ref, sec, config=InferenceConfig(least_squares=refine), return_prior=True)
        ex, ey = (out["dx"] - true_dx)[inner], (out["dy"] - true_dy)[inner]
        px, py = (out["prior_dx"] - true_dx)[inner], (out["prior_dy"] - true_dy)[inner]
        within = np.concatenate([(np.abs(ex) <= out["sigma_dx"][inner]).ravel(),
                                 (np.abs(ey) <= out["sigma_dy"][inner]).ravel()])
        print(f"  Envisat warp, shipped model, least squares {'on ' if refine else 'off'}: RMSE "
              f"{np.sqrt(np.nanmean(ex ** 2 + ey ** 2)):.3f} px "
              f"(prior alone {np.sqrt(np.nanmean(px ** 2 + py ** 2)):.3f}); "
              f"bias dx {np.nanmean(ex):+.3f} dy {np.nanmean(ey):+.3f}, spread dx {np.nanstd(ex):.3f} "
              f"dy {np.nanstd(ey):.3f}; within 1 sigma {within.mean():.1%}")


def sentinel1(data: Path) -> None:
    d = data / "amsterdam_s1_pair"
    ref = _s1_amplitude(d / "20230319-coreg.znap", "19Mar2023")
    sec = _s1_amplitude(d / "20230331-coreg.znap", "31Mar2023")
    res = track_offsets(ref, sec, config=TrackConfig(step=8, search_radius=4, chip_sizes=(32, 64)))
    size = np.hypot(res.dx, res.dy)
    print(f"  Sentinel-1 Amsterdam, no motion: median |offset| {np.nanmedian(size):.3f} px, "
          f"coverage {np.isfinite(size).mean():.1%}")


def yahtse(data: Path) -> None:
    ref, sec, ref_dx, ref_dy, masks = _yahtse_inputs(data)
    res = track_offsets(ref, sec, config=TrackConfig(step=16, search_radius=24))
    stable = masks["stable"] & np.isfinite(res.dx)
    print(f"  Yahtse, stable ground: median |offset| {np.median(np.hypot(res.dx, res.dy)[stable]):.3f} px")
    diff = np.hypot(res.dx - ref_dx, res.dy - ref_dy)
    for name in ("glacier", "fast"):
        ok = masks[name] & np.isfinite(diff)
        print(f"  Yahtse, {name:<7} against CARST: median {np.median(diff[ok]):.3f} px, "
              f"{np.mean(diff[ok] > 2.0):.1%} over 2 px, coverage {ok.sum() / max(masks[name].sum(), 1):.1%}")


def _yahtse_inputs(data: Path):
    import rasterio

    d = data / "yahtse_landsat8"
    ref = read_raster(d / "IMAGES" / "LC80630182016200LGN00_B8_yahtse.TIF")
    sec = read_raster(d / "IMAGES" / "LC80630182016216LGN00_B8_yahtse.TIF")
    with rasterio.open(d / "reference_offsets_px.tif") as f:
        ref_dx, ref_dy = f.read(1), f.read(2)
    with rasterio.open(d / "masks_grid16.tif") as f:
        masks = {name: f.read(i + 1).astype(bool) for i, name in enumerate(f.descriptions)}
    return ref.data, sec.data, ref_dx, ref_dy, masks


def yahtse_network(data: Path) -> None:
    from sarflow.models import load_model
    from sarflow.scene.predict import predict_arrays

    ref, sec, ref_dx, ref_dy, masks = _yahtse_inputs(data)
    res = track_offsets(ref, sec, config=TrackConfig(step=16, search_radius=24))
    out = predict_arrays(load_model("ccressiamnet"), ref.astype(np.float32), sec.astype(np.float32),
                         search_radius=24, return_prior=True)
    ix = np.ix_(res.rows, res.cols)
    tracked = np.isfinite(res.dx) & np.isfinite(res.dy)
    sigma = np.hypot(out["sigma_dx"][ix], out["sigma_dy"][ix])
    for label, dx, dy in (("tracker", res.dx, res.dy), ("shipped model", out["dx"][ix], out["dy"][ix]),
                          ("its prior", out["prior_dx"][ix], out["prior_dy"][ix])):
        diff = np.hypot(dx - ref_dx, dy - ref_dy)
        cells = []
        for name in ("glacier", "fast"):
            ok = masks[name] & np.isfinite(diff)
            own = ok & tracked
            cells.append(f"{name} {np.median(diff[own]):.3f} px, {np.mean(diff[own] > 2.0):.1%} over 2 px "
                         f"(every cell: {np.median(diff[ok]):.3f}, {np.mean(diff[ok] > 2.0):.1%}, "
                         f"coverage {ok.sum() / max(masks[name].sum(), 1):.1%})")
        print(f"  Yahtse against CARST, {label:<13} on the tracker's points: " + "; ".join(cells))
    for name in ("glacier", "fast"):
        m = masks[name] & np.isfinite(sigma)
        print(f"  Yahtse {name}: the shipped model's median sigma {np.median(sigma[m & tracked]):.2f} px where "
              f"the tracker has an estimate, {np.median(sigma[m & ~tracked]):.2f} px where it has none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--beta", default=str(subpixel.KAISER_BETA), help="comma-separated KAISER_BETA values")
    parser.add_argument("--network", action="store_true", help="also the shipped model on Envisat and Yahtse")
    args = parser.parse_args()
    data = Path(args.data)
    if not (data / "envisat").is_dir():
        sys.exit(f"no shared data at {data} (give --data)")
    for beta in (float(b) for b in args.beta.split(",")):
        set_sinc(subpixel.BALANCE_SPAN, beta)
        print(f"sub-pixel window KAISER_BETA {beta:g}, BALANCE_SPAN {subpixel.BALANCE_SPAN:g}")
        envisat(data)
        sentinel1(data)
        yahtse(data)
    if args.network:
        set_sinc(subpixel.BALANCE_SPAN, subpixel.KAISER_BETA)
        envisat_network(data)
        yahtse_network(data)


if __name__ == "__main__":
    main()
