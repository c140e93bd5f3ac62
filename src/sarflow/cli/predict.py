"""``sarflow predict REFERENCE SECONDARY -o OUT.tif``: dense offsets from the shipped network."""

from __future__ import annotations

import click

from sarflow.cli._options import build_dataclass, dataclass_options
from sarflow.cli._progress import progress_bar
from sarflow.scene.inference import InferenceConfig


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("reference", type=click.Path(dir_okay=False))
@click.argument("secondary", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="offsets product, .tif (GeoTIFF) or .nc (NetCDF)")
@click.option("--model", default="ccressiamnet", show_default=True,
              help="shipped weights name, or the path of weights exported by `sarflow export-model`")
@dataclass_options(InferenceConfig)
@click.option("--prior", type=click.Choice(["auto", "always", "none"]), default="auto", show_default=True,
              help="coarse tracking pass for large motion: the network then measures the residual "
                   "(auto: only where the coarse pass finds more than 3 px)")
@click.option("--search-radius", type=int, default=64, show_default=True,
              help="search radius of the coarse tracking pass, pixels")
@click.option("--band", type=int, default=1, show_default=True, help="band of multi-band inputs")
@click.option("--netcdf", is_flag=True, help="also write a NetCDF beside a GeoTIFF output")
@click.option("--quiet", is_flag=True, help="no progress bar")
def predict(reference, secondary, output, model, prior, search_radius, band, netcdf, quiet, **kwargs):
    """Dense per-pixel offsets between two SAR amplitude images from a network (CC-ResSiamNet).

    Writes dx, dy (pixels; a feature at reference (r, c) lies at (r + dy, c + dx) in the secondary)
    and sigma_dx, sigma_dy (the network's 1-sigma uncertainty), NaN where either image is nodata.
    The scene is processed in overlapping tiles blended smoothly, on the GPU when present.
    """
    from sarflow.scene.predict import predict as predict_job

    config = build_dataclass(InferenceConfig, kwargs)
    with progress_bar("predicting", unit="tiles", enabled=not quiet) as advance:
        product = predict_job(reference, secondary, output, model=model, config=config, prior=prior,
                              search_radius=search_radius, band=band, netcdf=netcdf, progress=advance)
    click.echo(f"wrote {output}: {product.shape[0]} x {product.shape[1]} pixels", err=quiet)
