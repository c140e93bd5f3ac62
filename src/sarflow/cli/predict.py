"""``sarflow predict REFERENCE SECONDARY -o OUT.tif``: dense offsets from the shipped network."""

from __future__ import annotations

import click

from sarflow.cli._options import build_dataclass, dataclass_options
from sarflow.cli._progress import progress_bar
from sarflow.scene.inference import InferenceConfig


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("reference", type=click.Path(dir_okay=False), required=False)
@click.argument("secondary", type=click.Path(dir_okay=False), required=False)
@click.option("-o", "--output", required=True, type=click.Path(),
              help="offsets product, .tif (GeoTIFF) or .nc (NetCDF); with --pairs, the folder of the products")
@click.option("--pairs", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="text or CSV file of 'reference,secondary[,output]' lines (paths relative to the file) "
                   "processed as one job instead of REFERENCE SECONDARY")
@click.option("--model", default="ccressiamnet", show_default=True,
              help="shipped weights name, or the path of weights exported by `sarflow export-model`")
@dataclass_options(InferenceConfig, exclude=("overlap",))
@click.option("--overlap", type=click.IntRange(min=0), default=None, metavar="PIXELS",
              help="overlap of neighbouring tiles (default: the overlap measured for the weights at export, else the "
                   "network's receptive field; at most half a tile)")
@click.option("--prior", type=click.Choice(["auto", "always", "none"]), default="auto", show_default=True,
              help="coarse tracking pass for large motion: the network then measures the residual "
                   "(auto: only where the coarse pass finds more than 3 px)")
@click.option("--search-radius", type=int, default=64, show_default=True,
              help="search radius of the coarse tracking pass, pixels")
@click.option("--band", type=int, default=1, show_default=True, help="band of multi-band inputs")
@click.option("--window", type=int, nargs=4, default=None, metavar="ROW COL HEIGHT WIDTH",
              help="process only this part of the pair")
@click.option("--max-memory", default="4GB", show_default=True, metavar="SIZE",
              help="memory budget (e.g. 2GB, 800MB); the scene is processed in blocks that fit it")
@click.option("--block-pixels", type=click.IntRange(min=16), default=None, metavar="PIXELS",
              help="block side, instead of the largest --max-memory allows")
@click.option("--resume", is_flag=True,
              help="continue an interrupted run of the same job from its .OUT.partial folder")
@click.option("--workers", type=int, default=0, show_default=True,
              help="run the blocks on a local Dask cluster of this many processes (0: this process)")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="run the blocks on the Dask cluster of this scheduler, e.g. tcp://10.0.0.1:8786")
@click.option("--processes", type=click.IntRange(min=0), default=0, show_default=True,
              help="local worker processes (one thread each) for the tracker prior and, without Dask, the "
                   "network's blocks (0: every core; 1: this process only)")
@click.option("--netcdf", is_flag=True, help="also write a NetCDF beside a GeoTIFF output")
@click.option("--overwrite", is_flag=True, help="replace an existing output (refused otherwise)")
@click.option("--dates", nargs=2, default=None, metavar="REFERENCE_DATE SECONDARY_DATE",
              help="acquisition dates (ISO 8601, e.g. 2020-01-01 2020-01-13), stored in the product for "
                   "sarflow velocity")
@click.option("--quiet", is_flag=True, help="no progress bar")
def predict(reference, secondary, output, pairs, model, prior, search_radius, band, window, max_memory, block_pixels,
            resume, workers, scheduler, processes, netcdf, overwrite, dates, quiet, **kwargs):
    """Dense per-pixel offsets between two SAR amplitude images from a network (CC-ResSiamNet).

    Writes dx, dy (pixels; a feature at reference (r, c) lies at (r + dy, c + dx) in the secondary)
    and sigma_dx, sigma_dy (the network's 1-sigma uncertainty), NaN where either image is nodata.
    The scene is processed in overlapping tiles blended smoothly, block by block within
    --max-memory, on the GPU when present. Finished blocks are kept in .OUT.partial/ beside the
    output until it is complete: after an interruption, the same command with --resume continues.
    """
    from pathlib import Path

    from sarflow.io.atomic import check_writable
    from sarflow.scene.blocks import parse_memory

    from sarflow.simulation.workers import keep_freed_memory

    config = build_dataclass(InferenceConfig, kwargs)
    parse_memory(max_memory)  # a bad size is refused before any work
    keep_freed_memory()  # tiles and blocks reuse their buffers (far less time in page faults)
    if workers and scheduler:
        raise click.UsageError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    if workers < 0:
        raise click.BadParameter("must be 0 or more", param_hint="--workers")
    options = dict(model=model, config=config, prior=prior, search_radius=search_radius, band=band,
                   netcdf=netcdf, overwrite=overwrite, resume=resume, max_memory=max_memory, block_pixels=block_pixels,
                   workers=workers, scheduler=scheduler, processes=processes)
    if pairs is not None:
        if reference or secondary:
            raise click.UsageError("give REFERENCE SECONDARY or --pairs FILE, not both")
        if window:
            raise click.UsageError("--window applies to one pair, not to --pairs")
        if dates:
            raise click.UsageError("--dates applies to one pair; sarflow velocity reads each pair's dates from its "
                                   "images' tags or takes --dates per product")
        from sarflow.scene.predict import predict_pairs

        with progress_bar("predicting", unit="tiles", enabled=not quiet) as advance:
            results = predict_pairs(pairs, output, progress=advance,
                                    on_pair=lambda k, n, e: click.echo(f"pair {k + 1}/{n}: {e.output}", err=True)
                                    if not quiet else None, **options)
        for r in results:
            click.echo(f"{'complete' if r.skipped else 'wrote'} {r.output}", err=quiet)
        return
    if not (reference and secondary):
        raise click.UsageError("give REFERENCE and SECONDARY, or --pairs FILE")
    from sarflow.scene.predict import predict as predict_job

    # Refuse an existing output (and NetCDF sibling) before any work; --resume decides for itself.
    if not resume:
        check_writable(output, overwrite=overwrite)
        if netcdf and Path(output).suffix.lower() != ".nc":
            check_writable(Path(output).with_suffix(".nc"), overwrite=overwrite)
    with progress_bar("predicting", unit="tiles", enabled=not quiet) as advance:
        result = predict_job(reference, secondary, output, window=tuple(window) if window else None,
                             progress=advance, dates=tuple(dates) if dates else None, **options)
    if result.skipped:
        click.echo(f"{output} is complete (an earlier run finished it)", err=quiet)
        return
    resumed = f", {result.blocks_resumed} of {result.blocks} blocks resumed" if result.blocks_resumed else ""
    click.echo(f"wrote {output}: {result.shape[0]} x {result.shape[1]} pixels{resumed}", err=quiet)
