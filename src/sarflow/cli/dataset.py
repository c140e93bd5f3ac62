"""``sarflow make-dataset`` and ``sarflow export-model``: data in, weights out."""

from __future__ import annotations

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
def make_dataset(pairs, output, labels, tile_size, stride, min_valid, step, max_sigma_px, seed):
    """Cut labelled training tiles from real image pairs listed in PAIRS (reference,secondary per line)."""
    from sarflow.tracking import TrackConfig
    from sarflow.training.tiles import make_dataset as make, read_pair_list

    summary = make(read_pair_list(pairs), output, labels=labels, tile_size=tile_size, stride=stride,
                   min_valid=min_valid, track_config=TrackConfig(step=step), max_sigma_px=max_sigma_px, seed=seed)
    click.echo(f"wrote {summary.path}: {summary.tiles} tiles from {summary.pairs} pairs, "
               f"{summary.valid_share:.0%} of pixels labelled ({summary.labels})")


@click.command(name="export-model", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("checkpoint", type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="weights file (.pt); the model card NAME.md is written beside it")
@click.option("--metrics", type=click.Path(dir_okay=False, exists=True), default=None,
              help="JSON file of further metrics for the card (e.g. the held-out benchmark's)")
def export_model(checkpoint, output, metrics):
    """Export a training checkpoint (best.pt) as small float16 weights with a model card."""
    from sarflow.training.export import export_model as export

    extra = json.loads(open(metrics).read()) if metrics else None
    path = export(checkpoint, output, extra_metrics=extra)
    click.echo(f"wrote {path} and {path.with_suffix('.md')}")
