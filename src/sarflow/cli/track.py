"""``sarflow track REFERENCE SECONDARY -o OUT.tif``: classical multi-kernel offset tracking.

Start-up stays lean on this path: no torch, no plotting libraries.
"""

from __future__ import annotations

import click

from sarflow.cli._options import build_dataclass, dataclass_options
from sarflow.cli._progress import progress_bar
from sarflow.tracking.config import TrackConfig


def _chip_sizes(ctx, param, value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers, e.g. 32,64,128") from None
    if not sizes:
        raise click.BadParameter("give at least one chip size, e.g. 32,64,128")
    return sizes


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("reference", type=click.Path(dir_okay=False))
@click.argument("secondary", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="offsets product, .tif (GeoTIFF) or .nc (NetCDF)")
@click.option("--chip-sizes", default="32,64,128", show_default=True, callback=_chip_sizes,
              help="comma-separated chip (kernel) sizes, pixels")
@dataclass_options(TrackConfig, exclude=("chip_sizes",))
@click.option("--prior", type=click.Path(dir_okay=False), default=None,
              help="offsets product (dx, dy in pixels of this pair) to centre the search on")
@click.option("--band", type=int, default=1, show_default=True, help="band of multi-band inputs")
@click.option("--netcdf", is_flag=True, help="also write a NetCDF beside a GeoTIFF output")
@click.option("--overwrite", is_flag=True, help="replace an existing output (refused otherwise)")
@click.option("--max-memory", default="4GB", show_default=True, metavar="SIZE",
              help="memory budget; a larger scene is tracked in blocks that fit it")
@click.option("--block-pixels", type=click.IntRange(min=64), default=None, metavar="PIXELS",
              help="track in blocks of about this side whatever the scene's size")
@click.option("--resume", is_flag=True, help="continue an interrupted block-by-block run (its .OUT.partial folder)")
@click.option("--dates", nargs=2, default=None, metavar="REFERENCE_DATE SECONDARY_DATE",
              help="acquisition dates (ISO 8601, e.g. 2020-01-01 2020-01-13), stored in the product for "
                   "sarflow velocity")
@click.option("--quiet", is_flag=True, help="no progress bar")
def track(reference, secondary, output, chip_sizes, prior, band, netcdf, overwrite, max_memory, block_pixels, resume,
          dates, quiet, **kwargs):
    """Measure offsets between two SAR amplitude images by multi-kernel normalized cross-correlation.

    Writes dx, dy (pixels; a feature at reference (r, c) lies at (r + dy, c + dx) in the secondary)
    and quality bands: ncc (correlation peak), peak_ratio, sigma_px (1-sigma error estimate),
    chip_size (the chip chosen), n_kernels (chips that agree) and, with --fill-gaps, filled.
    NaN where no estimate survives. REFERENCE and SECONDARY may be any raster GDAL reads, or
    FILE.h5:/path/to/dataset; complex (SLC) data is tracked as amplitude.
    """
    from sarflow.scene.track import track as track_job
    from sarflow.simulation.workers import keep_freed_memory

    keep_freed_memory()  # blocks and chips reuse their buffers (far less time in page faults)

    config = build_dataclass(TrackConfig, {**kwargs, "chip_sizes": chip_sizes})
    with progress_bar("tracking", unit="blocks", enabled=not quiet) as advance:
        product = track_job(reference, secondary, output, config=config, prior=prior, band=band, netcdf=netcdf,
                            progress=advance, overwrite=overwrite, max_memory=max_memory, block_pixels=block_pixels,
                            resume=resume, dates=tuple(dates) if dates else None)
    valid = product.dx == product.dx
    click.echo(f"wrote {output}: {product.shape[0]} x {product.shape[1]} points, "
               f"{valid.mean():.1%} with an estimate", err=quiet)
