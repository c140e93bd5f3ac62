"""``sarflow velocity OFFSETS -o VEL.tif``: velocity, direction and uncertainty from an offsets product."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("offsets", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="velocity product, .tif (GeoTIFF) or .nc (NetCDF)")
@click.option("--dates", nargs=2, type=str, default=None, metavar="REFERENCE SECONDARY",
              help="acquisition dates (ISO 8601, e.g. 2020-01-01 2020-01-13), reference first; by default read "
                   "from the product's or its images' tags")
@click.option("--days", type=float, default=None, help="time between the acquisitions, days (instead of --dates)")
@click.option("--pixel-spacing", nargs=2, type=float, default=None, metavar="RANGE_M AZIMUTH_M",
              help="radar-geometry products (no CRS): metres per image pixel along columns (range) and rows "
                   "(azimuth)")
@click.option("--incidence", "incidence_deg", type=float, default=None, metavar="DEG",
              help="radar geometry: the range spacing is slant range; ground = slant / sin(incidence)")
@click.option("--grid-step", type=float, default=None, metavar="N",
              help="geocoded products: image pixels per product cell (read from sarflow products; 1 when the "
                   "offsets grid is the image grid)")
@click.option("--units", type=click.Choice(["m/yr", "m/day"]), default="m/yr", show_default=True,
              help="units of the velocity bands (a year is 365.25 days)")
@click.option("--netcdf", is_flag=True, help="also write a NetCDF beside a GeoTIFF output")
@click.option("--quicklook", type=click.Path(dir_okay=False), default=None, metavar="PNG",
              help="also write a quick-look PNG: speed, colour bar, flow arrows")
@click.option("--overwrite", is_flag=True, help="replace existing outputs")
def velocity(offsets, output, dates, days, pixel_spacing, incidence_deg, grid_step, units, netcdf, quicklook,
             overwrite):
    """Velocity (m/yr or m/day), direction and uncertainty from an offsets product.

    Geocoded products (with a CRS) give bands vx, vy (along grid x / east and y / north), v,
    direction (degrees clockwise from north) and, when the offsets carry sigma bands, v_error,
    vx_error, vy_error; the pixel size comes from the transform. Radar-geometry products (no CRS)
    need --pixel-spacing and give v_range, v_azimuth, v, direction (from +range toward +azimuth),
    v_error, v_range_error, v_azimuth_error. NaN where there is no offset.
    """
    from sarflow.scene.velocity import check_velocity_outputs, summary
    from sarflow.scene.velocity import velocity as velocity_job

    paths = check_velocity_outputs(output, netcdf=netcdf, quicklook=quicklook, overwrite=overwrite)
    product = velocity_job(offsets, output, dates=dates or None, days=days, pixel_spacing=pixel_spacing or None,
                           incidence_deg=incidence_deg, grid_step=grid_step, units=units, netcdf=netcdf,
                           quicklook=quicklook, overwrite=overwrite)
    click.echo(f"wrote {', '.join(str(p) for p in paths)}: {', '.join(product.band_names())} ({units})")
    click.echo(f"{summary(product, units=units)}; dates from {product.metadata['dates_source']}")
