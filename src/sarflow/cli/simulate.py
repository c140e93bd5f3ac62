"""``sarflow simulate SCENARIO -o DIR``: one subcommand per scenario, options from its parameters."""

from __future__ import annotations

import dataclasses

import click

from sarflow.cli._options import build_dataclass, dataclass_options
from sarflow.simulation.geometry import RadarGeometry
from sarflow.simulation.pair import ImagingConfig
from sarflow.simulation.scenarios import SCENARIOS, get_scenario
from sarflow.simulation.textures import TEXTURES


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def simulate() -> None:
    """Simulate a SAR amplitude pair with exact offsets truth.

    Writes DIR/reference.tif and DIR/secondary.tif (amplitude), DIR/truth.tif (bands dx, dy, in
    pixels), DIR/scenario.json (every parameter) and DIR/quicklook.png. The same seed gives the same
    pair. `sarflow simulate SCENARIO --help` lists each scenario's physical parameters.
    """


def _make_command(name: str) -> click.Command:
    spec = get_scenario(name)

    def run(**kwargs):
        from sarflow.scene.simulate import simulate as simulate_job

        out = kwargs.pop("output")
        params = build_dataclass(spec.params, kwargs, exclude=("seed",))
        if "seed" in {f.name for f in dataclasses.fields(params)}:
            # A random displacement field gets its own stream, derived from the pair's seed.
            params = dataclasses.replace(params, seed=kwargs["seed"] + 1_000_003)
        imaging = build_dataclass(ImagingConfig, kwargs)
        geometry = build_dataclass(RadarGeometry, kwargs) if spec.geophysical else RadarGeometry()
        size = kwargs.pop("size")
        outputs = simulate_job(
            name,
            out,
            size=(size[0], size[1]) if isinstance(size, tuple) else size,
            seed=kwargs.pop("seed"),
            params=params,
            geometry=geometry,
            imaging=imaging,
            texture=kwargs.pop("texture") or None,
            texture_contrast=kwargs.pop("texture_contrast"),
            crs=kwargs.pop("crs"),
            quicklook=kwargs.pop("quicklook"),
            overwrite=kwargs.pop("overwrite"),
        )
        click.echo(f"wrote {outputs.reference}, {outputs.secondary}, {outputs.truth}")
        if outputs.quicklook:
            click.echo(f"quick-look: {outputs.quicklook}")

    doc = (spec.params.__doc__ or spec.summary).strip().split("\n\n")[0]
    run.__doc__ = f"{spec.summary}.\n\n{doc}"
    command = run
    command = dataclass_options(spec.params, exclude=("seed",))(command)
    if spec.geophysical:
        command = dataclass_options(RadarGeometry)(command)
    command = dataclass_options(ImagingConfig)(command)
    command = click.option("--overwrite", is_flag=True,
                           help="replace the files of an earlier run in DIR (refused otherwise)")(command)
    command = click.option("--quicklook/--no-quicklook", default=True, show_default=True,
                           help="also write quicklook.png")(command)
    command = click.option("--crs", default="EPSG:32607", show_default=True,
                           help="CRS of map-geometry output (radar geometry is written in pixel coordinates)")(command)
    command = click.option("--texture-contrast", type=float, default=1.0, show_default=True,
                           help="scale of backscatter variations (0 = flat)")(command)
    command = click.option("--texture", default="", metavar="FAMILY|IMAGE",
                           help=f"texture family ({', '.join(TEXTURES)}; default {spec.texture}) or the path of an "
                                "amplitude image to use as backscatter")(command)
    command = click.option("--seed", type=int, default=0, show_default=True, help="random seed")(command)
    command = click.option("--size", type=int, nargs=2, default=(512, 512), show_default=True,
                           metavar="ROWS COLS", help="scene size in pixels")(command)
    command = click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
                           help="output directory (created if missing)")(command)
    return click.command(name=name, context_settings={"max_content_width": 100})(command)


for _name in SCENARIOS:
    simulate.add_command(_make_command(_name))
