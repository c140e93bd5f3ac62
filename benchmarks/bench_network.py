"""The shipped network against the multi-kernel tracker on a held-out simulated test set.

    python benchmarks/bench_network.py                       # shipped weights, 384 px scenes
    python benchmarks/bench_network.py --model runs/x/w.pt --size 256 --json metrics.json
    python benchmarks/bench_network.py --repeats 5           # five scenes per scenario, errors pooled

Every scene is drawn with seeds from the 'test' range, which training never uses. Both methods are
scored on the tracker's grid (step 8) against the exact truth: the network on the tracker's own points
("net@trk", the like-for-like comparison: the tracker has no estimate within half a chip of the edges
and where it rejects a match), on every grid point, and per pixel. A network on the tracker-prior route
is also read against its prior alone on those points ("prior@trk": the tracker's grid adaptively
smoothed, gap-filled, median-filtered and interpolated, which the network corrects). Figures: RMSE of
the vector error over points with an estimate, 95th percentile, coverage, and the RMSE on "sharp" points
(where the true offset changes by more than 0.05 px per pixel: shear margins, fault ruptures) and on the
"near" band within 12 px of them (`NEAR_PX`), where chip-based matching smears. For the network, the
share of dx/dy errors within its 1-sigma uncertainty (68 % when calibrated), pooled and, with several
repeats, its range from scene to scene.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from sarflow.simulation.fields import GeophysicalField, SmoothField, UniformShift
from sarflow.simulation.geometry import RadarGeometry
from sarflow.simulation.models import MogiSource, OkadaFault, ValleyGlacier
from sarflow.simulation.pair import ImagingConfig, simulate_pair
from sarflow.training.synthetic import SEED_RANGES
from sarflow.tracking import TrackConfig, grid_coordinates, track_offsets

TEST_SEED = SEED_RANGES["test"][0] + 500_000


def scenes(size: int, repeat: int = 0):
    """The test scenes; ``repeat`` k > 0 draws the k-th other set of seeds (speckle, smooth field)."""
    g = RadarGeometry()
    base = ImagingConfig(coherence=0.8, snr_db=20.0)
    extent = size * 10.0
    return [
        ("uniform sub-pixel shift", UniformShift(0.27, -0.41), base, "fractal"),
        ("sub-pixel smooth field", SmoothField(amplitude_px=0.3, correlation_px=size / 5, seed=TEST_SEED + 1000 * repeat), base,
         "fractal"),
        ("glacier", GeophysicalField(ValleyGlacier(width_m=0.35 * extent, meander_amplitude_m=0.05 * extent,
                                                   speed_m_per_day=1.5), g), base, "stripes"),
        ("buried thrust fault", GeophysicalField(OkadaFault(top_depth_m=0.15 * extent, rake_deg=90.0, slip_m=5.0,
                                                            length_m=0.8 * extent, width_m=0.4 * extent), g),
         base, "fractal"),
        ("surface-rupturing fault", GeophysicalField(OkadaFault(slip_m=8.0, length_m=1.5 * extent,
                                                                width_m=0.5 * extent), g), base, "fractal"),
        ("Mogi source", GeophysicalField(MogiSource(depth_m=0.3 * extent, volume_change_m3=3e6), g), base, "fractal"),
        ("low coherence (0.3, 1 look)", UniformShift(0.42, -0.33), ImagingConfig(coherence=0.3, snr_db=20.0),
         "fractal"),
    ]


#: Width of the band beside the sharp points that the "near" figure reads, pixels: where a
#: window-based estimate spreads a step in the motion over its window.
NEAR_PX = 12


def near_sharp(sharp: np.ndarray) -> np.ndarray:
    """Pixels within `NEAR_PX` of a sharp point, the sharp points themselves left out."""
    import cv2

    if not sharp.any():
        return np.zeros_like(sharp)
    distance = cv2.distanceTransform((~sharp).astype(np.uint8), cv2.DIST_L2, 5)
    return (distance > 0) & (distance <= NEAR_PX)


def score(dx, dy, tdx, tdy, sharp, near=None):
    ok = np.isfinite(dx) & np.isfinite(dy)
    err = np.hypot(dx - tdx, dy - tdy)
    out = {"rmse": float(np.sqrt(np.mean(err[ok] ** 2))) if ok.any() else float("nan"),
           "p95": float(np.percentile(err[ok], 95)) if ok.any() else float("nan"),
           "coverage": float(ok.mean())}
    s = ok & sharp
    out["rmse_sharp"] = float(np.sqrt(np.mean(err[s] ** 2))) if s.any() else float("nan")
    if near is not None:
        s = ok & near
        out["rmse_near"] = float(np.sqrt(np.mean(err[s] ** 2))) if s.any() else float("nan")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ccressiamnet", help="shipped weights name or a .pt path")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=1,
                        help="scenes per scenario, each with its own seeds; errors are pooled")
    parser.add_argument("--json", default=None, help="also write the metrics as JSON here")
    args = parser.parse_args()

    from sarflow.models import load_model
    from sarflow.scene.inference import InferenceConfig
    from sarflow.scene.predict import predict_arrays

    model = load_model(args.model)
    config = InferenceConfig(tile_size=512)
    results = {}
    print(f"Held-out test scenes, {args.size} x {args.size}, {args.repeats} per scenario (errors pooled); "
          "grid step 8 for both methods")
    print(f"{'scene':<28} {'method':<9} {'RMSE':>7} {'p95':>7} {'sharp RMSE':>10} {'near RMSE':>9} {'cover':>6} "
          f"{'in 1 sigma':>10} {'seconds':>8}")
    names = [name for name, *_ in scenes(args.size)]
    for k, name in enumerate(names):
        pooled = {key: [] for key in ("trk_dx", "trk_dy", "grid_dx", "grid_dy", "tgrid_dx", "tgrid_dy", "sharp_grid",
                                      "near_grid", "near", "px_dx", "px_dy", "t_dx", "t_dy", "sharp", "sig_dx",
                                      "sig_dy", "prior_dx", "prior_dy")}
        t_track = t_net = 0.0
        for repeat in range(args.repeats):
            _, field, imaging, texture = scenes(args.size, repeat)[k]
            pair = simulate_pair(field, shape=(args.size, args.size), imaging=imaging, texture=texture,
                                 seed=TEST_SEED + k + 1000 * repeat)
            rows, cols = grid_coordinates(pair.reference.shape, 8)
            grid = np.ix_(rows, cols)
            tdx, tdy = pair.dx, pair.dy
            gy, gx = np.gradient(tdx)
            hy, hx = np.gradient(tdy)
            sharp_full = np.maximum.reduce([np.abs(gx), np.abs(gy), np.abs(hx), np.abs(hy)]) > 0.05
            near_full = near_sharp(sharp_full)

            start = time.perf_counter()
            tr = track_offsets(pair.reference, pair.secondary, config=TrackConfig(step=8, search_radius=8))
            t_track += time.perf_counter() - start
            start = time.perf_counter()
            net = predict_arrays(model, pair.reference, pair.secondary, config=config, prior="auto",
                                 return_prior=True)
            t_net += time.perf_counter() - start
            prior_dx = prior_dy = None
            if getattr(model, "prior_input", False):  # the network's own baseline: its prior alone
                prior_dx, prior_dy = net["prior_dx"][grid], net["prior_dy"][grid]
            for key, value in (("trk_dx", tr.dx), ("trk_dy", tr.dy), ("grid_dx", net["dx"][grid]),
                               ("grid_dy", net["dy"][grid]), ("tgrid_dx", tdx[grid]), ("tgrid_dy", tdy[grid]),
                               ("sharp_grid", sharp_full[grid]), ("near_grid", near_full[grid]),
                               ("px_dx", net["dx"]), ("px_dy", net["dy"]),
                               ("t_dx", tdx), ("t_dy", tdy), ("sharp", sharp_full), ("near", near_full),
                               ("sig_dx", net.get("sigma_dx")), ("sig_dy", net.get("sigma_dy")),
                               ("prior_dx", prior_dx), ("prior_dy", prior_dy)):
                if value is not None:
                    pooled[key].append(np.asarray(value).ravel())
        p = {key: np.concatenate(v) if v else None for key, v in pooled.items()}
        truth_grid = (p["tgrid_dx"], p["tgrid_dy"], p["sharp_grid"], p["near_grid"])
        m_track = score(p["trk_dx"], p["trk_dy"], *truth_grid)
        tracked = np.isfinite(p["trk_dx"]) & np.isfinite(p["trk_dy"])
        m_common = score(np.where(tracked, p["grid_dx"], np.nan), p["grid_dy"], *truth_grid)
        m_net = score(p["grid_dx"], p["grid_dy"], *truth_grid)
        rows_out = [("tracker", m_track, t_track)]
        if p["prior_dx"] is not None:
            m_prior = score(np.where(tracked, p["prior_dx"], np.nan), p["prior_dy"], *truth_grid)
            rows_out.append(("prior@trk", m_prior, float("nan")))
        m_pix = score(p["px_dx"], p["px_dy"], p["t_dx"], p["t_dy"], p["sharp"], p["near"])
        if p["sig_dx"] is not None:
            e = np.concatenate([np.abs(p["px_dx"] - p["t_dx"]), np.abs(p["px_dy"] - p["t_dy"])])
            sig = np.concatenate([p["sig_dx"], p["sig_dy"]])
            ok = np.isfinite(e) & np.isfinite(sig)
            m_pix["within_1_sigma"] = float(np.mean(e[ok] <= sig[ok]))
            # scene by scene: what a user of one scene sees
            per_scene = []
            for parts in zip(pooled["px_dx"], pooled["px_dy"], pooled["t_dx"], pooled["t_dy"], pooled["sig_dx"],
                             pooled["sig_dy"]):
                px_dx, px_dy, t_dx, t_dy, s_dx, s_dy = parts
                e1 = np.concatenate([np.abs(px_dx - t_dx), np.abs(px_dy - t_dy)])
                s1 = np.concatenate([s_dx, s_dy])
                ok1 = np.isfinite(e1) & np.isfinite(s1)
                per_scene.append(float(np.mean(e1[ok1] <= s1[ok1])))
            m_pix["within_1_sigma_scenes"] = per_scene
        t_track /= args.repeats
        t_net /= args.repeats
        results[name] = {"tracker": m_track, "network_on_tracker_points": m_common, "network_grid": m_net,
                         "network_pixels": m_pix, "seconds_tracker": t_track, "seconds_network": t_net,
                         "repeats": args.repeats}
        if p["prior_dx"] is not None:
            results[name]["prior_on_tracker_points"] = m_prior
        for label, m, t in rows_out + [("net@trk", m_common, t_net), ("network", m_net, t_net),
                                       ("net/px", m_pix, t_net)]:
            within = f"{m['within_1_sigma']:10.1%}" if "within_1_sigma" in m else f"{'':>10}"
            scenes_within = m.get("within_1_sigma_scenes", [])
            spread = (f"  (scenes {min(scenes_within):.0%}-{max(scenes_within):.0%})"
                      if len(scenes_within) > 1 else "")
            print(f"{name:<28} {label:<9} {m['rmse']:7.3f} {m['p95']:7.3f} {m['rmse_sharp']:10.3f} "
                  f"{m.get('rmse_near', float('nan')):9.3f} {m['coverage']:6.1%} {within} {t:8.2f}{spread}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
