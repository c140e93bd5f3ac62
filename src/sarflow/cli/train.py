"""``sarflow train -o RUN_DIR``: train an offset network on simulated or labelled pairs."""

from __future__ import annotations

import json
import math
import shlex
import shutil
import sys
from pathlib import Path

import click

from sarflow.cli._options import build_dataclass, dataclass_options
from sarflow.errors import InputError, OutputExistsError, SarflowError
from sarflow.training.loop import TrainConfig

#: Files a run writes into its directory; --overwrite removes them before starting over.
_RUN_FILES = ("last.pt", "best.pt", "history.csv", "learning_curves.png", "config.json")


def _check_options(config: TrainConfig, *, device: str, threads: int | None, max_minutes: float | None) -> None:
    """Refuse impossible settings before anything is written (the network is built once to check its arguments)."""
    import torch

    from sarflow.nn import build_model

    if threads is not None and threads < 1:
        raise InputError(f"--threads must be a positive number, got {threads}")
    if max_minutes is not None and not (math.isfinite(max_minutes) and max_minutes > 0):
        raise InputError(f"--max-minutes must be a positive number of minutes, got {max_minutes}")
    if device != "auto":
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError) as exc:
            raise InputError(f"--device {device!r} is not a device; use auto, cpu or cuda") from exc
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise InputError(f"--device {device}: no CUDA device is available here; use auto or cpu")
        if dev.type not in ("cpu", "cuda"):
            raise InputError(f"--device {device!r} is not supported; use auto, cpu or cuda")
    try:
        build_model(config.model, **config.model_kwargs)
    except SarflowError:
        raise
    except Exception as exc:  # a constructor refusing an argument's value
        raise InputError(f"bad --model-arg for network {config.model!r}: {exc}") from exc
    if config.init_from:  # refused now rather than after the validation set is simulated
        from sarflow.training.loop import initial_weights

        initial_weights(build_model(config.model, **config.model_kwargs), config.init_from)
    if config.dataset:
        from sarflow.training.tiles import load_tiles

        tiles = load_tiles(config.dataset)
        if tiles["count"] <= config.validation_size:
            raise InputError(f"{config.dataset} holds {tiles['count']} tiles, not more than the "
                             f"{config.validation_size} kept for validation; make a larger dataset or lower "
                             "--validation-size")


def _prepare_run_dir(run_dir: Path, *, resume: bool, overwrite: bool) -> bool:
    """Check the run directory; with ``overwrite`` clear an earlier run's files. Returns whether to resume."""
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"{run_dir} is a file; the output must be a run directory")
    found = [name for name in _RUN_FILES[:2] if (run_dir / name).exists()]
    if not found or resume:
        return resume
    if not overwrite:
        raise OutputExistsError(f"{run_dir} holds a training run ({', '.join(found)}); drop --no-resume to "
                                "continue it, or pass --overwrite to start over and replace it")
    for name in _RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    return False


def _scenario_weights(ctx, param, value):
    """``KIND=W,...`` (kinds of `sarflow.training.synthetic.SCENARIO_KINDS`; unnamed kinds get 0) -> tuple."""
    if value is None:
        return None
    from sarflow.training.synthetic import parse_scenario_weights

    try:
        return parse_scenario_weights(value)
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None


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
@click.option("--min-offset-px", type=float, default=0.02, show_default=True,
              help="smallest 'largest offset' of a simulated patch, pixels (each patch's is drawn log-uniformly "
                   "between the two)")
@click.option("--scenario-weights", default=None, callback=_scenario_weights, metavar="KIND=W,...",
              help="relative frequency of the simulated scenarios, e.g. shift=1 for uniform shifts only "
                   "(kinds: shift, smooth, glacier, fault, volcano, landslide; unnamed ones 0; default: the "
                   "recipe's mix)")
@click.option("--dataset", type=click.Path(dir_okay=False), default=None,
              help="train on a tile dataset (sarflow make-dataset) instead of simulated pairs")
@dataclass_options(TrainConfig, exclude=("model", "model_kwargs", "recipe", "dataset", "init_from"))
@click.option("--init-from", type=click.Path(dir_okay=False), default=None,
              help="start from the weights of an earlier run's checkpoint (best.pt or last.pt, the same network); "
                   "optimiser and schedule start afresh")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu or cuda")
@click.option("--max-minutes", type=float, default=None,
              help="stop cleanly after this long (a checkpoint is kept; run again to resume)")
@click.option("--no-resume", is_flag=True,
              help="start over instead of resuming a run found in the directory (needs --overwrite there)")
@click.option("--overwrite", is_flag=True, help="start over in a directory that holds a run, replacing its files")
@click.option("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
def train(output, model, model_args, patch_size, max_offset_px, min_offset_px, scenario_weights, dataset, init_from,
          device, max_minutes, no_resume, overwrite, threads, **kwargs):
    """Train an offset network (CC-ResSiamNet or a comparison network).

    Simulated pairs are made on the fly (mixed scenarios, random physical parameters, coherence,
    looks, textures, noise and nodata holes); batch k of a run is always the same, so a run stopped
    (Ctrl-C, --max-minutes) resumes exactly from its last checkpoint when started again with the
    same options. An existing run is only replaced with --overwrite.
    """
    import torch

    from sarflow.training.loop import train as train_run
    from sarflow.training.synthetic import SyntheticRecipe

    mix = {"weights": scenario_weights} if scenario_weights is not None else {}
    recipe = SyntheticRecipe(patch_size=patch_size, max_offset_px=max_offset_px, min_offset_px=min_offset_px, **mix)
    config = build_dataclass(TrainConfig, {**kwargs, "model": model, "model_kwargs": model_args, "recipe": recipe,
                                           "dataset": dataset, "init_from": init_from})
    _check_options(config, device=device, threads=threads, max_minutes=max_minutes)
    run_dir = Path(output)
    resume = _prepare_run_dir(run_dir, resume=not no_resume and not overwrite, overwrite=overwrite)
    created = not run_dir.exists()
    if threads:
        torch.set_num_threads(threads)
    command = "sarflow " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "sarflow train"

    def report(step, steps, row):
        if row:
            click.echo(f"step {step}/{steps}  train loss {row['train_loss']:.4f}  val RMSE {row['val_rmse']:.4f} px  "
                       f"EPE {row['val_epe']:.4f} px  <0.1 px {row['val_under_0.1']:.1%}  "
                       f"({row['wall_seconds']:.0f} s)")

    try:
        result = train_run(config, output, resume=resume, device=device, progress=report,
                           max_seconds=None if max_minutes is None else 60 * max_minutes, command=command)
    except SarflowError:
        if created and not (run_dir / "last.pt").exists():  # refused before any checkpoint: no half-made run
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    state = "stopped early" if result.stopped_early else (
        "finished" if result.steps_done >= config.steps else "paused (run again to resume)")
    click.echo(f"{state} at step {result.steps_done}; best validation RMSE "
               f"{result.best_metrics.get('val_rmse', float('nan')):.4f} px -> {result.best_checkpoint}")
