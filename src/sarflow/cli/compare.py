"""``sarflow compare REFERENCE SECONDARY -o REPORT_DIR``: tracker and network side by side, as an HTML report."""

from __future__ import annotations

import click

from sarflow.cli._options import build_dataclass, dataclass_options
from sarflow.cli.track import _chip_sizes
from sarflow.tracking.config import TrackConfig

try:  # the network's options need torch (the optional "nn" extra); without it: tracker and files only
    from sarflow.scene.inference import InferenceConfig
except ImportError:  # pragma: no cover - depends on the installation
    InferenceConfig = None


def _network_options(func):
    return func if InferenceConfig is None else dataclass_options(InferenceConfig, prefix="net-")(func)


def _named_paths(ctx, param, values) -> list[tuple[str, str]]:
    out = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise click.BadParameter(f"{value!r} is not NAME=PATH, e.g. --offsets autorift=autorift.tif")
        out.append((name.strip(), path.strip()))
    return out


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("reference", type=click.Path(dir_okay=False))
@click.argument("secondary", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "report_dir", required=True, type=click.Path(),
              help="report folder to create (index.html, PNGs, products, metrics.json)")
@click.option("--truth", type=click.Path(dir_okay=False), default=None,
              help="truth raster (bands dx, dy, pixels), e.g. the truth.tif of `sarflow simulate`")
@click.option("--mask", type=click.Path(dir_okay=False), default=None,
              help="raster, non-zero inside (e.g. moving ground): figures inside and outside it")
@click.option("--stable", type=click.Path(dir_okay=False), default=None,
              help="raster, non-zero on ground that does not move: offsets there (should be zero)")
@click.option("--offsets", "offsets", multiple=True, callback=_named_paths, metavar="NAME=PATH",
              help="a further offsets product of the pair to include (repeatable)")
@click.option("--tracker/--no-tracker", default=True, show_default=True, help="run the multi-kernel tracker")
@click.option("--network/--no-network", default=True, show_default=True, help="run the network")
@click.option("--model", default=None,
              help="shipped weights name or .pt path (default: the shipped weights; without any, the network "
                   "column is skipped with a note)")
@click.option("--chip-sizes", default="32,64,128", show_default=True, callback=_chip_sizes,
              help="tracker: comma-separated chip (kernel) sizes, pixels")
@dataclass_options(TrackConfig, exclude=("chip_sizes",))
@_network_options
@click.option("--prior", type=click.Choice(["auto", "always", "none"]), default="auto", show_default=True,
              help="network: coarse tracking pass for large motion (auto: where it finds more than 3 px)")
@click.option("--prior-search-radius", type=int, default=64, show_default=True,
              help="network: search radius of that coarse pass, pixels")
@click.option("--band", type=int, default=1, show_default=True, help="band of multi-band inputs")
@click.option("--overwrite", is_flag=True, help="replace an existing report folder")
@click.option("--quiet", is_flag=True, help="no step messages")
def compare(reference, secondary, report_dir, truth, mask, stable, offsets, tracker, network, model, chip_sizes,
            prior, prior_search_radius, band, overwrite, quiet, **kwargs):
    """Run the tracker and the network on one pair, time and score them, and write an HTML report.

    The report folder holds index.html (open it from disk in any browser) with maps of dx, dy and
    magnitude per method and for the truth on shared colour scales, error maps, error histograms,
    estimate-against-truth scatter, the uncertainty maps and their calibration, a timing table and
    every run's parameters; beside it the PNGs, tracker.tif / network.tif and metrics.json. Without
    --truth it shows the maps, the agreement between methods and, with --stable, the offsets on
    still ground. The report is written in a temporary folder and renamed into place at the end.
    """
    from sarflow.scene.compare import compare as compare_job

    track_config = build_dataclass(TrackConfig, {**kwargs, "chip_sizes": chip_sizes})
    inference_config = None if InferenceConfig is None else build_dataclass(InferenceConfig, kwargs, prefix="net-")
    log = None if quiet else (lambda message: click.echo(f"{message} ...", err=True))
    result = compare_job(reference, secondary, report_dir, truth=truth, mask=mask, stable=stable, offsets=offsets,
                         tracker=tracker, network=network, model=model, track_config=track_config,
                         inference_config=inference_config, prior=prior, prior_search_radius=prior_search_radius,
                         band=band, overwrite=overwrite, log=log)
    for note in result.notes:
        click.echo(f"warning: {note}", err=True)
    for name, seconds in result.seconds.items():
        m = result.metrics.get(name) or {}
        timing = "read from file" if seconds is None else f"{seconds:.2f} s"
        if m:
            click.echo(f"{name:<12} {timing:>14}  RMSE {_px(m.get('rmse'))}  p95 {_px(m.get('p95'))}  coverage "
                       f"{_pct(m.get('coverage'))}")
        else:
            click.echo(f"{name:<12} {timing:>14}")
    click.echo(f"wrote {result.index}")


def _px(value) -> str:
    return "-" if value is None else f"{value:.3f} px"


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
