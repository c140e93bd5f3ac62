"""The ``sarflow`` command: parse, call the library, report; the only place that prints or exits.

Subcommands are imported only when run, so ``sarflow track`` never pays for torch or plotting.
"""

from __future__ import annotations

import importlib
import sys

import click

from sarflow._version import __version__

__all__ = ["main", "cli"]

# name -> (module, attribute, one-line help shown in `sarflow --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "simulate": ("sarflow.cli.simulate", "simulate", "Simulate a SAR amplitude pair with exact offsets truth."),
    "track": ("sarflow.cli.track", "track", "Multi-kernel offset tracking (normalized cross-correlation)."),
    "predict": ("sarflow.cli.predict", "predict", "Dense offsets from the network (tiled, any scene size)."),
    "train": ("sarflow.cli.train", "train", "Train an offset network on simulated or labelled pairs."),
    "make-dataset": ("sarflow.cli.dataset", "make_dataset", "Cut labelled training tiles from real image pairs."),
    "export-model": ("sarflow.cli.dataset", "export_model", "Export a checkpoint as small weights with a model card."),
    "velocity": ("sarflow.cli.velocity", "velocity", "Velocity, direction and uncertainty from an offsets product."),
    "evaluate": ("sarflow.cli.evaluate", "evaluate", "Score offsets against truth, another estimate or still ground."),
    "compare": ("sarflow.cli.compare", "compare", "Run tracker and network on one pair; HTML report."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="sarflow")
def cli() -> None:
    """sarflow: ground-surface displacement from two SAR amplitude images.

    Offsets follow one convention everywhere: dx along columns (range), dy along rows (azimuth), in
    pixels; a feature at row r, column c of the reference lies at (r + dy, c + dx) in the secondary.
    """


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    from sarflow.errors import SarflowError

    try:
        cli.main(args=argv, prog_name="sarflow", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        # One line, like every other error; usage errors point to the command's help.
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        return exc.exit_code
    except SarflowError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    except MemoryError:
        click.echo("error: out of memory; process a smaller image or window", err=True)
        return 1
    except OSError as exc:  # the system refused a read or write (permissions, a full disk)
        click.echo(f"error: {exc}", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
