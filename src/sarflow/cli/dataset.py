"""``sarflow make-dataset`` and ``sarflow export-model``: data in, weights out."""

from __future__ import annotations

import csv
import json

import click


@click.command(name="make-dataset", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("pairs", type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="tile dataset (.h5)")
@click.option("--labels", type=click.Choice(["track", "simulate"]), default="track", show_default=True,
              help="track: offsets measured by the multi-kernel tracker (the paper's route); simulate: the "
                   "reference's backscatter moved by random synthetic motion (exact truth)")
@click.option("--tile-size", type=int, default=256, show_default=True, help="tile side, pixels")
@click.option("--stride", type=int, default=None, help="tile spacing, pixels (default: the tile size)")
@click.option("--min-valid", type=float, default=0.5, show_default=True,
              help="smallest share of labelled pixels for a tile to be kept")
@click.option("--step", type=int, default=4, show_default=True, help="tracker grid step for --labels track")
@click.option("--max-sigma-px", type=float, default=0.5, show_default=True,
              help="tracker points with a larger error estimate are not used as labels")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the synthetic motion")
@click.option("--overwrite", is_flag=True, help="replace an existing output (refused otherwise)")
def make_dataset(pairs, output, labels, tile_size, stride, min_valid, step, max_sigma_px, seed, overwrite):
    """Cut labelled training tiles from real image pairs listed in PAIRS (reference,secondary per line)."""
    import math
    from pathlib import Path

    from sarflow.errors import InputError
    from sarflow.io.atomic import check_writable
    from sarflow.tracking import TrackConfig
    from sarflow.training.tiles import make_dataset as make, read_pair_list

    if Path(output).suffix.lower() not in (".h5", ".hdf5"):
        raise InputError(f"{output}: the tile dataset must be an .h5 file")
    check_writable(output, overwrite=overwrite)
    if tile_size < 32:
        raise InputError(f"--tile-size must be at least 32 pixels, got {tile_size}")
    if stride is not None and stride < 1:
        raise InputError(f"--stride must be a positive number of pixels, got {stride}")
    if not 0.0 <= min_valid <= 1.0:
        raise InputError(f"--min-valid is a share of pixels and must lie in [0, 1], got {min_valid}")
    if not (math.isfinite(max_sigma_px) and max_sigma_px > 0):
        raise InputError(f"--max-sigma-px must be a positive number of pixels, got {max_sigma_px}")
    track_config = TrackConfig(step=step)
    try:
        pair_list = read_pair_list(pairs)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{pairs}: not a text list of 'reference,secondary' lines ({exc})") from exc
    summary = make(pair_list, output, labels=labels, tile_size=tile_size, stride=stride,
                   min_valid=min_valid, track_config=track_config, max_sigma_px=max_sigma_px, seed=seed)
    click.echo(f"wrote {summary.path}: {summary.tiles} tiles from {summary.pairs} pairs, "
               f"{summary.valid_share:.0%} of pixels labelled ({summary.labels})")


@click.command(name="export-model", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("checkpoint", type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="weights file (.pt); the model card NAME.md is written beside it")
@click.option("--metrics", type=click.Path(dir_okay=False, exists=True), default=None,
              help="JSON file of further metrics for the card (e.g. the held-out benchmark's)")
@click.option("--measure-overlap/--no-measure-overlap", default=True, show_default=True,
              help="measure the tile overlap that keeps seams within 0.005 px and store it with the weights "
                   "(two to three minutes on one core for the default network); scene inference uses it")
@click.option("--least-squares", "least_squares", is_flag=True,
              help="store the least-squares refinement of the residual (sarflow.tracking.lsq, default settings) "
                   "with the weights: networks on the tracker prior only; the uncertainty is calibrated with it")
@click.option("--overwrite", is_flag=True, help="replace existing weights and model card (refused otherwise)")
def export_model(checkpoint, output, metrics, measure_overlap, least_squares, overwrite):
    """Export a training checkpoint (best.pt) as small float16 weights with a model card.

    The SHA-256 of the weights is recorded in the card and in checksums.json beside them;
    loading checks it.
    """
    from pathlib import Path

    from sarflow.errors import InputError
    from sarflow.training.export import export_model as export

    extra = None
    if metrics:
        try:
            extra = json.loads(Path(metrics).read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{metrics}: not a JSON file ({exc})") from exc
        if not isinstance(extra, dict):
            raise InputError(f"{metrics}: must hold a JSON object of metrics, got {type(extra).__name__}")
    refine = None
    if least_squares:
        from sarflow.tracking.lsq import LeastSquaresConfig

        refine = LeastSquaresConfig()
    path = export(checkpoint, output, extra_metrics=extra, overwrite=overwrite, measure_overlap=measure_overlap,
                  least_squares=refine)
    from sarflow.models import load_model

    overlap = load_model(str(path)).tile_overlap
    click.echo(f"wrote {path} and {path.with_suffix('.md')}; tile overlap "
               + (f"{overlap} px (measured)" if overlap is not None else "from the receptive field"))
