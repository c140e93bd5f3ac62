"""``sarflow evaluate ESTIMATE [TRUTH]``: error figures of an offsets product."""

from __future__ import annotations

import json

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("estimate", type=click.Path(dir_okay=False))
@click.argument("truth", type=click.Path(dir_okay=False), required=False)
@click.option("--mask", type=click.Path(dir_okay=False), default=None,
              help="raster, non-zero inside (e.g. moving ground): figures inside and outside it")
@click.option("--stable", type=click.Path(dir_okay=False), default=None,
              help="raster, non-zero on ground that does not move: offsets there (should be zero)")
@click.option("--against", type=click.Path(dir_okay=False), default=None,
              help="a second offsets product of the same pair, instead of TRUTH: their agreement")
@click.option("--json", "as_json", is_flag=True, help="print the figures as one JSON object")
def evaluate(estimate, truth, mask, stable, against, as_json):
    """Score an offsets product (pixels): against TRUTH, a second estimate, or stable ground.

    With TRUTH (bands dx, dy, e.g. the truth.tif of `sarflow simulate`): RMSE, MAE, median and
    95th percentile of the vector error, bias, RMSE, MAE and R2 per component, shares of errors
    above 0.1, 0.5 and 1 px, and coverage, over all points and by true displacement (< 0.5 px,
    0.5-5 px, 5 px and more), inside / outside --mask, and within k sigma when the product has a
    sigma band. Grids may differ (a step-8 product against a per-pixel truth): the truth is read at
    each estimate's point through both transforms; the CRS must match.

    Real data: --against OTHER (instead of TRUTH) gives the agreement of two estimates (their
    difference), --stable MASK the offsets on still ground (alone, or beside TRUTH or --against).
    """
    from sarflow.evaluation import format_metrics_table, metrics_rows
    from sarflow.scene.evaluate import evaluate as evaluate_job

    result = evaluate_job(estimate, truth, mask=mask, stable=stable, against=against)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    kind = result["compared_with"]
    reference = {"truth": f"truth {truth}", "second estimate": f"second estimate {against}"}.get(
        kind, f"zero offsets on stable ground ({stable})")
    click.echo(f"{estimate} against {reference}; pixels")
    magnitude_of = "truth" if kind == "truth" else "offset"
    click.echo(format_metrics_table(metrics_rows(result, magnitude_of=magnitude_of)))
    if kind == "second estimate":
        click.echo(f"coverage: both estimates at {_pct(result['coverage'])} of the points either covers "
                   f"(estimate {_pct(result['coverage_first'])}, second {_pct(result['coverage_second'])})")
    calibration = result.get("calibration")
    if calibration and calibration["within_1sigma"] is not None:
        click.echo(f"errors within 1 sigma: {_pct(calibration['within_1sigma'])} "
                   f"({_pct(calibration['expected_1sigma'])} for a calibrated Gaussian sigma)")


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
