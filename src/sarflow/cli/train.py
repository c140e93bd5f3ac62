"""``sarflow train -o RUN_DIR``: train an offset network on simulated or labelled pairs."""

from __future__ import annotations

import json
import shlex
import sys

import click

from sarflow.cli._options import build_dataclass, dataclass_options
from sarflow.training.loop import TrainConfig


def _model_args(ctx, param, values) -> dict:
    out = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE")
        key, value = item.split("=", 1)
        try:
            out[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip().replace("-", "_")] = value
    return out


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="run directory: checkpoints (last.pt, best.pt), history.csv, learning_curves.png")
@click.option("--model", default="ccressiamnet", show_default=True, help="network (see `sarflow.nn.MODELS`)")
@click.option("--model-arg", "model_args", multiple=True, callback=_model_args, metavar="KEY=VALUE",
              help="network constructor argument, e.g. --model-arg base_channels=24 (repeatable)")
@click.option("--patch-size", type=int, default=128, show_default=True, help="simulated patch size, pixels")
@click.option("--max-offset-px", type=float, default=6.0, show_default=True,
              help="largest offset of simulated patches, pixels")
@click.option("--dataset", type=click.Path(dir_okay=False), default=None,
              help="train on a tile dataset (sarflow make-dataset) instead of simulated pairs")
@dataclass_options(TrainConfig, exclude=("model", "model_kwargs", "recipe", "dataset"))
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu or cuda")
@click.option("--max-minutes", type=float, default=None,
              help="stop cleanly after this long (a checkpoint is kept; run again to resume)")
@click.option("--no-resume", is_flag=True, help="start over even if the run directory has a checkpoint")
@click.option("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
def train(output, model, model_args, patch_size, max_offset_px, dataset, device, max_minutes, no_resume, threads,
          **kwargs):
    """Train an offset network (CC-ResSiamNet or a comparison network).

    Simulated pairs are made on the fly (mixed scenarios, random physical parameters, coherence,
    looks, textures, noise and nodata holes); batch k of a run is always the same, so a run stopped
    (Ctrl-C, --max-minutes) resumes exactly from its last checkpoint when started again with the
    same options.
    """
    import torch

    from sarflow.training.loop import train as train_run
    from sarflow.training.synthetic import SyntheticRecipe

    if threads:
        torch.set_num_threads(threads)
    recipe = SyntheticRecipe(patch_size=patch_size, max_offset_px=max_offset_px)
    config = build_dataclass(TrainConfig, {**kwargs, "model": model, "model_kwargs": model_args, "recipe": recipe,
                                           "dataset": dataset})
    command = "sarflow " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "sarflow train"

    def report(step, steps, row):
        if row:
            click.echo(f"step {step}/{steps}  train loss {row['train_loss']:.4f}  val RMSE {row['val_rmse']:.4f} px  "
                       f"EPE {row['val_epe']:.4f} px  <0.1 px {row['val_under_0.1']:.1%}  "
                       f"({row['wall_seconds']:.0f} s)")

    result = train_run(config, output, resume=not no_resume, device=device, progress=report,
                       max_seconds=None if max_minutes is None else 60 * max_minutes, command=command)
    state = "stopped early" if result.stopped_early else (
        "finished" if result.steps_done >= config.steps else "paused (run again to resume)")
    click.echo(f"{state} at step {result.steps_done}; best validation RMSE "
               f"{result.best_metrics.get('val_rmse', float('nan')):.4f} px -> {result.best_checkpoint}")
