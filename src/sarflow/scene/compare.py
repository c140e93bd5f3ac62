"""Run the tracker and the network on one pair, score them and write an HTML report: ``sarflow compare``.

The report folder holds ``index.html`` (opens from disk in any browser: relative links only), its
PNGs, the offsets products made (``tracker.tif``, ``network.tif`` and, where the network ran on the
tracker prior, ``prior.tif``: the prior alone, scored as ``network-prior`` so that what the network
itself adds shows) and ``metrics.json``. It is built in a temporary folder beside the target and
renamed into place at the end, so a failed run leaves nothing that looks like a report.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from affine import Affine

from sarflow._version import __version__
from sarflow.errors import GridMismatchError, InputError, NoValidDataError, OutputExistsError
from sarflow.evaluation import check_same_crs, compare_estimates
from sarflow.io.atomic import atomic_path, check_writable
from sarflow.io.products import OffsetProduct, grid_transform, write_offsets
from sarflow.scene.evaluate import (
    evaluate_products,
    mask_on_grid,
    product_sigma,
    read_mask,
    read_product,
    sample_product,
)

__all__ = ["CompareResult", "compare", "check_report_dir"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,39}$")


@dataclass(frozen=True)
class CompareResult:
    """What `compare` wrote and measured.

    Attributes
    ----------
    report_dir : Path
    index : Path
        ``report_dir / "index.html"``.
    metrics : dict
        Method name -> figures against the truth (or stable ground); empty without either.
    seconds : dict
        Method name -> wall time in seconds (None for estimates read from files).
    notes : list of str
        Things the user should know (a method skipped and why); also shown in the report.
    """

    report_dir: Path
    index: Path
    metrics: dict
    seconds: dict
    notes: list[str] = field(default_factory=list)


@dataclass
class _Run:
    name: str
    method: str
    product: OffsetProduct
    seconds: float | None
    timing_note: str
    parameters: dict
    product_file: str | None = None


def check_report_dir(path: str | Path, *, overwrite: bool = False) -> Path:
    """Refuse an existing report folder (unless ``overwrite``), a file in its place, or a missing parent."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path} exists and is not a folder; give a folder name for the report")
    if path.is_dir():
        if not overwrite:
            raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
        return path
    return check_writable(path, overwrite=overwrite)


def _offsets_items(offsets) -> list[tuple[str, Path]]:
    items = list(offsets.items()) if isinstance(offsets, Mapping) else list(offsets or ())
    out = []
    for item in items:
        if len(item) != 2:
            raise InputError(f"offsets must be (name, path) pairs, got {item!r}")
        name, path = str(item[0]), Path(item[1])
        if not _NAME.match(name):
            raise InputError(f"offsets name {name!r}: use 1-40 letters, digits, '.', '_', '+' or '-' "
                             "(e.g. --offsets autorift=autorift.tif)")
        out.append((name, path))
    return out


def _resolve_model(network: bool, model: str | None) -> tuple[str | None, str | None]:
    """The weights to use, or None with the reason the network column is skipped."""
    if not network:
        return None, None
    has_torch = importlib.util.find_spec("torch") is not None
    if model is not None:
        if not has_torch:
            raise InputError(f"--model {model}: the network needs torch (install sarflow with the 'nn' extra)")
        from sarflow.models import model_path

        model_path(model)  # a missing model is an error when asked for by name
        return model, None
    if not has_torch:
        return None, "network skipped: torch is not installed (install sarflow with the 'nn' extra)"
    from sarflow.models import DEFAULT_MODEL, available_models

    shipped = available_models()
    if not shipped:
        return None, ("network skipped: no network weights are shipped with this sarflow yet; pass --model "
                      "PATH.pt (weights from `sarflow export-model`) to include one")
    return (DEFAULT_MODEL if DEFAULT_MODEL in shipped else shipped[0]), None


def _pixel_extent(transform: Affine, shape: tuple[int, int], display: Affine) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) of a grid in the reference image's pixel coordinates."""
    to_pixels = ~display @ transform
    h, w = shape
    c0, r0 = to_pixels @ (0.0, 0.0)
    c1, r1 = to_pixels @ (float(w), float(h))
    return float(c0), float(c1), float(r1), float(r0)


def compare(
    reference: str | Path,
    secondary: str | Path,
    report_dir: str | Path,
    *,
    truth: str | Path | None = None,
    mask: str | Path | None = None,
    stable: str | Path | None = None,
    offsets: Mapping[str, str | Path] | Sequence[tuple[str, str | Path]] = (),
    tracker: bool = True,
    network: bool = True,
    model: str | None = None,
    track_config=None,
    inference_config=None,
    prior: str = "auto",
    prior_search_radius: int = 64,
    band: int = 1,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
) -> CompareResult:
    """Run the tracker and the network on one pair, time and score them, and write an HTML report.

    Parameters
    ----------
    reference, secondary : path
        The image pair (any source `sarflow.io.read_raster` reads).
    report_dir : path
        Folder to create; refused if it exists unless ``overwrite``.
    truth : path, optional
        Truth raster (``dx``, ``dy`` bands, pixels, e.g. ``truth.tif`` of ``sarflow simulate``):
        errors, error maps, histograms, scatter and uncertainty calibration.
    mask, stable : path, optional
        Moving-ground mask (inside / outside figures) and stable-ground mask (offsets there), as
        in `sarflow.scene.evaluate.evaluate`.
    offsets : mapping or sequence of (name, path)
        Further offsets products of the same pair to include (e.g. another software's).
    tracker, network : bool
        Run the multi-kernel tracker / the network.
    model : str, optional
        Shipped weights name or ``.pt`` path. None: the shipped default, or no network column
        (with a note) when no weights are shipped. Given explicitly, a missing model is an error.
    track_config : sarflow.tracking.TrackConfig, optional
    inference_config : sarflow.scene.inference.InferenceConfig, optional
    prior, prior_search_radius
        The network's coarse tracking pass for large motion (see `sarflow.scene.predict.predict_arrays`).
    band : int
        Band of multi-band images.
    overwrite : bool
        Replace an existing ``report_dir``.
    log : callable ``(message)``, optional
        Receives one line per step.

    Returns
    -------
    CompareResult

    Raises
    ------
    OutputExistsError, InputError, GridMismatchError, RasterFormatError, NoValidDataError
        Before any method runs, for everything that can be checked up front.
    """
    from sarflow.io.rasters import open_pair

    say = log or (lambda message: None)
    report_dir = check_report_dir(report_dir, overwrite=overwrite)
    items = _offsets_items(offsets)
    notes: list[str] = []
    model_name, skip_note = _resolve_model(network, model)
    if skip_note:
        notes.append(skip_note)
    names = [n for n, on in (("tracker", tracker), ("network", model_name is not None),
                             ("network-prior", model_name is not None)) if on] + [n for n, _ in items]
    if len(set(names)) != len(names):
        raise InputError(f"method names must differ, got {names}; rename an --offsets entry")
    if not names:
        raise InputError("nothing to compare: the tracker and the network are off and no --offsets were given"
                         + (f" ({skip_note})" if skip_note else ""))

    ref, sec = open_pair(reference, secondary, band=band)
    display = ref.transform if ref.transform is not None else Affine.identity()
    image_grid = ((ref.data.shape, display),)  # where masks without georeferencing lie, if of this shape
    truth_product = None if truth is None else read_product(truth, role="truth")
    if truth_product is not None:
        check_same_crs(ref.crs, truth_product.crs, name_a=f"reference {reference}", name_b=f"truth {truth}")
    mask_grid = None if mask is None else read_mask(mask, role="mask")
    stable_grid = None if stable is None else read_mask(stable, role="stable mask")
    for grid, role in ((mask_grid, "mask"), (stable_grid, "stable mask")):
        if grid is None:
            continue
        if grid.georeferenced:
            check_same_crs(ref.crs, grid.crs, name_a=f"reference {reference}", name_b=f"{role} {grid.source}")
        elif ref.crs is not None and grid.values.shape not in (ref.data.shape, getattr(truth_product, "shape", None)):
            raise GridMismatchError(f"{role} {grid.source} has no georeferencing and its shape {grid.values.shape} "
                                    f"is not the images' {ref.data.shape}; give it the reference's transform and CRS")
    given = []
    for name, path in items:
        product = read_product(path, role=f"offsets {name}")
        check_same_crs(ref.crs, product.crs, name_a=f"reference {reference}", name_b=f"offsets {name} ({path})")
        given.append((name, path, product))

    tmp = report_dir.parent / f".{report_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        runs: list[_Run] = []
        if tracker:
            runs.append(_run_tracker(reference, secondary, tmp, track_config, band, say))
        if model_name is not None:
            runs.extend(_run_network(ref, sec, reference, secondary, tmp, model_name, inference_config, prior,
                                     prior_search_radius, say))
        for name, path, product in given:
            meta = dict(product.metadata)
            params = meta.get("parameters", "")
            try:
                params = json.loads(params) if params else {}
            except (TypeError, json.JSONDecodeError):
                params = {"parameters": params}
            runs.append(_Run(name=name, method=meta.get("method", f"offsets file {path}"), product=product,
                             seconds=None, timing_note=f"read from {path}",
                             parameters={"file": str(path), **({"parameters": params} if params else {}),
                                         **{k: v for k, v in meta.items() if k in ("reference", "secondary",
                                                                                   "sarflow_version")}}))

        say("scoring")
        metrics, compared_with = {}, None
        if truth_product is not None or stable_grid is not None:
            for run in runs:
                try:
                    metrics[run.name] = evaluate_products(run.product, truth_product, mask=mask_grid,
                                                          stable=stable_grid, grids=image_grid,
                                                          names={"estimate": run.name, "truth": f"truth {truth}"})
                except NoValidDataError as exc:  # one method failing everywhere does not sink the report
                    notes.append(f"{run.name}: no figures ({exc})")
                    continue
                compared_with = metrics[run.name]["compared_with"]
        agreement = {}
        for i, first in enumerate(runs):
            mask_values = None if mask_grid is None else mask_on_grid(mask_grid, first.product, onto_name=first.name,
                                                                      role="mask", grids=image_grid)
            for second in runs[i + 1 :]:
                sdx, sdy = sample_product(second.product, first.product, source_name=second.name,
                                          onto_name=first.name)
                agreement[f"{first.name} vs {second.name}"] = compare_estimates(first.product.dx, first.product.dy,
                                                                                sdx, sdy, mask=mask_values)

        say("drawing figures")
        figures, figure_notes = _draw(tmp, runs, truth_product, display, metrics)
        notes += figure_notes
        inputs = {"reference": str(reference), "secondary": str(secondary),
                  "truth": str(truth) if truth is not None else "none (no accuracy figures)",
                  "sarflow": __version__, "made": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        if mask is not None:
            inputs["mask"] = str(mask)
        if stable is not None:
            inputs["stable ground"] = str(stable)
        seconds = {run.name: run.seconds for run in runs}
        summary = {
            "inputs": inputs, "compared_with": compared_with, "notes": notes,
            "methods": {run.name: {"method": run.method, "seconds": run.seconds, "points": int(run.product.dx.size),
                                   "parameters": run.parameters, "metrics": metrics.get(run.name)} for run in runs},
            "agreement": agreement,
        }
        with atomic_path(tmp / "metrics.json") as path:
            path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
        from sarflow.evaluation.report import RunSummary, render_report

        files = [(run.product_file, f"{run.name} offsets product") for run in runs if run.product_file]
        files.append(("metrics.json", "every figure of this page, machine-readable"))
        page = render_report(
            title=f"sarflow compare: {Path(str(reference)).name} / {Path(str(secondary)).name}",
            inputs=inputs,
            runs=[RunSummary(name=r.name, method=r.method, seconds=r.seconds, timing_note=r.timing_note,
                             points=int(r.product.dx.size), parameters=r.parameters, product_file=r.product_file)
                  for r in runs],
            metrics=metrics, agreement=agreement, figures=figures, notes=notes, compared_with=compared_with,
            files=files,
        )
        with atomic_path(tmp / "index.html") as path:
            path.write_text(page, encoding="utf-8")
        _move_into_place(tmp, report_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return CompareResult(report_dir=report_dir, index=report_dir / "index.html", metrics=metrics, seconds=seconds,
                         notes=notes)


def _move_into_place(tmp: Path, report_dir: Path) -> None:
    if report_dir.exists():
        old = report_dir.parent / f".{report_dir.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(report_dir, old)
        try:
            os.rename(tmp, report_dir)
        except OSError:
            os.rename(old, report_dir)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, report_dir)


def _run_tracker(reference, secondary, folder: Path, config, band: int, say) -> _Run:
    from sarflow.scene.track import track
    from sarflow.tracking import TrackConfig

    config = config or TrackConfig()
    say(f"tracking (chips {', '.join(map(str, config.chip_sizes))}, step {config.step})")
    start = time.perf_counter()
    product = track(reference, secondary, folder / "tracker.tif", config=config, band=band)
    seconds = time.perf_counter() - start
    return _Run(name="tracker", method="sarflow track: multi-kernel normalized cross-correlation", product=product,
                seconds=seconds, timing_note="reading the images, tracking, writing the product",
                parameters=config.to_dict(), product_file="tracker.tif")


def _run_network(ref, sec, reference, secondary, folder: Path, model_name: str, config, prior: str,
                 search_radius: int, say) -> _Run:
    import torch

    from sarflow.models import load_model
    from sarflow.scene.inference import InferenceConfig
    from sarflow.scene.predict import predict_arrays

    config = config or InferenceConfig()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
    say(f"network {model_name} on {device}")
    start = time.perf_counter()
    net = load_model(model_name, device=device)
    loaded = time.perf_counter()
    out = predict_arrays(net, ref.data, sec.data, config=config, prior=prior, search_radius=search_radius,
                         return_prior=True)
    seconds = time.perf_counter() - start
    parameters = {"model": model_name, "network": net.to_config(), "device": device,
                  "inference": dict(config.__dict__), "prior": prior, "prior_used": bool(out["prior_used"]),
                  "prior_search_radius": search_radius, "model_load_s": round(loaded - start, 3)}
    quality = {k: out[k] for k in ("sigma_dx", "sigma_dy") if k in out}
    product = OffsetProduct(dx=out["dx"], dy=out["dy"], quality=quality,
                            transform=grid_transform(ref.transform, row0=0, col0=0, step=1), crs=ref.crs,
                            metadata={"method": f"sarflow.predict: network {model_name}", "parameters": parameters,
                                      "reference": str(reference), "secondary": str(secondary),
                                      "elapsed_s": f"{seconds:.3f}"})
    write_offsets(product, folder / "network.tif")
    runs = [_Run(name="network", method=f"sarflow predict: network {model_name}", product=product, seconds=seconds,
                 timing_note="loading the weights and inference (images already in memory)", parameters=parameters,
                 product_file="network.tif")]
    if "prior_dx" in out:
        # The baseline the network corrects, scored beside it: what the network itself adds shows.
        method = ("the network's tracker prior alone (multi-kernel grid, adaptively smoothed, gap-filled, "
                  "median-filtered, interpolated)")
        prior_product = OffsetProduct(dx=out["prior_dx"], dy=out["prior_dy"], quality={},
                                      transform=product.transform, crs=ref.crs,
                                      metadata={"method": method, "parameters": {"prior_search_radius": search_radius},
                                                "reference": str(reference), "secondary": str(secondary)})
        write_offsets(prior_product, folder / "prior.tif")
        runs.append(_Run(name="network-prior", method=method, product=prior_product, seconds=None,
                         timing_note="part of the network's time", parameters={"prior_search_radius": search_radius},
                         product_file="prior.tif"))
    return runs


def _draw(folder: Path, runs: list[_Run], truth: OffsetProduct | None, display: Affine,
          metrics: dict) -> tuple[list, list[str]]:
    """Save the PNGs; return their descriptions and notes on what could not be drawn."""
    from sarflow.evaluation import figures as figs
    from sarflow.evaluation.report import ReportFigure

    notes = []
    layers = []
    for run in runs:
        p = run.product
        sigma = product_sigma(p)
        rms_sigma = None if sigma is None else np.sqrt(0.5 * (np.asarray(sigma[0], np.float64) ** 2
                                                              + np.asarray(sigma[1], np.float64) ** 2))
        tdx = tdy = None
        if truth is not None:
            tdx, tdy = sample_product(truth, p, source_name="truth", onto_name=run.name)
        layers.append(figs.MapLayer(name=run.name, dx=p.dx, dy=p.dy, extent=_pixel_extent(p.transform, p.shape,
                                                                                           display),
                                    sigma=rms_sigma, truth_dx=tdx, truth_dy=tdy))
    map_layers = list(layers)
    if truth is not None:
        map_layers.insert(0, figs.MapLayer(name="truth", dx=truth.dx, dy=truth.dy,
                                           extent=_pixel_extent(truth.transform, truth.shape, display)))
    out: list[ReportFigure] = []

    def save(fig, name: str, section: str, caption: str) -> None:
        with atomic_path(folder / name) as path:
            fig.savefig(path, format="png")
        out.append(ReportFigure(file=name, section=section, caption=caption))

    grids = ", ".join(f"{layer.name} {layer.dx.shape[0]} x {layer.dx.shape[1]}" for layer in map_layers)
    for comp, text in (("dx", "dx (along columns)"), ("dy", "dy (along rows)"), ("magnitude", "magnitude")):
        save(figs.field_maps(map_layers, comp), f"map_{comp}.png", "Offsets",
             f"Offsets {text}, pixels, every panel on one colour scale; grey: no estimate. Grids: {grids}.")
    if truth is not None:
        save(figs.error_maps(layers), "error_maps.png", "Errors",
             "Estimate - truth at each method's points: dx, dy (one symmetric scale) and the vector error.")
        save(figs.error_histograms(layers), "error_histograms.png", "Errors",
             "Error distributions (log density); errors beyond the axis range are counted at its ends.")
        save(figs.truth_scatter(layers), "scatter.png", "Estimate against truth",
             "Estimated against true offset at each method's points (at most 20,000 drawn); grey: the 1:1 line.")
    with_sigma = [layer for layer in layers if layer.sigma is not None]
    if with_sigma:
        save(figs.uncertainty_maps(with_sigma), "uncertainty.png", "Uncertainty",
             "Predicted 1-sigma uncertainty (root-mean-square of the two components'), pixels, one scale.")
        calibrations = {name: m["calibration"] for name, m in metrics.items() if "calibration" in m}
        if calibrations:
            save(figs.calibration_curves(calibrations), "calibration.png", "Uncertainty",
                 "Calibration: share of component errors within k predicted sigmas (markers) against the "
                 "share a Gaussian error with that sigma gives (dashed). Below the curve: overconfident.")
        elif truth is None:
            notes.append("uncertainty calibration needs a truth (--truth)")
    else:
        notes.append("no method gives an uncertainty (sigma) band: no uncertainty map or calibration")
    return out, notes
