"""The static HTML page of a method comparison (``index.html`` of ``sarflow compare``).

One self-contained page: inline CSS, no scripts, images by relative links to PNGs beside it, so the
folder opens from disk in any browser and can be zipped or moved as a whole.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field

from sarflow.evaluation.metrics import ERROR_THRESHOLDS_PX

__all__ = ["RunSummary", "ReportFigure", "render_report"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 1200px;
       padding: 0 1em; color: #1b1b1b; line-height: 1.4; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f1f1f1; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.88em; color: #444; max-width: 60em; }
.note { background: #fff6d6; border-left: 4px solid #e0b000; padding: 0.4em 0.8em; margin: 0.5em 0; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.82em; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.1em 1em; } dt { font-weight: 600; }
"""


@dataclass
class RunSummary:
    """One estimate in the report.

    Attributes
    ----------
    name : str
        Short column name (``tracker``, ``network``, or the name given to an offsets file).
    method : str
        What made it.
    seconds : float or None
        Wall time of the run, None for an estimate read from a file.
    timing_note : str
        What the time includes.
    points : int
        Points of its grid.
    parameters : dict
        Settings of the run (JSON-ready).
    product_file : str or None
        Relative link to its offsets product in the report folder, if written there.
    """

    name: str
    method: str
    seconds: float | None
    timing_note: str
    points: int
    parameters: dict = field(default_factory=dict)
    product_file: str | None = None


@dataclass
class ReportFigure:
    """A PNG beside ``index.html`` with its section and caption."""

    file: str
    section: str
    caption: str


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _num(value, kind: str = "px") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "&ndash;"
    if kind == "pct":
        return f"{100 * value:.1f}&nbsp;%"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "s":
        return f"{value:.2f}"
    return f"{value:.3f}"


def _table(header: list[str], rows: list[list[str]], *, text_columns: tuple[int, ...] = ()) -> str:
    """``rows`` hold ready HTML: the first cell a label, the others numbers (but ``text_columns``)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = []
    for row in rows:
        cells = [f"<th scope='row'>{row[0]}</th>"] + [
            f"<td>{c}</td>" if i in text_columns else f"<td class='num'>{c}</td>" for i, c in enumerate(row[1:], 1)]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _metric_columns(thresholds) -> list[tuple[str, object, str]]:
    cols = [("coverage", "coverage", "pct"), ("RMSE", "rmse", "px"), ("MAE", "mae", "px"),
            ("median", "median", "px"), ("p95", "p95", "px"), ("bias dx", ("dx", "bias"), "px"),
            ("bias dy", ("dy", "bias"), "px"), ("RMSE dx", ("dx", "rmse"), "px"), ("RMSE dy", ("dy", "rmse"), "px"),
            ("R&sup2;", "r2", "px")]
    cols += [(f"&gt;&nbsp;{t:g}&nbsp;px", f"share_above_{t:g}px", "pct") for t in thresholds]
    return cols


def _metric_row(label: str, group: dict, columns) -> list[str]:
    row = [label, _num(group.get("n_valid"), "int")]
    for _, key, kind in columns:
        value = group.get(key[0], {}).get(key[1]) if isinstance(key, tuple) else group.get(key)
        row.append(_num(value, kind))
    return row


def _metrics_table(groups: list[tuple[str, dict]], thresholds, *, extra: list[tuple[str, list[str]]] = ()) -> str:
    columns = _metric_columns(thresholds)
    header = ["", "points"] + [c[0] for c in columns] + [name for name, _ in extra]
    rows = []
    for i, (label, group) in enumerate(groups):
        rows.append(_metric_row(_e(label), group, columns) + [values[i] for _, values in extra])
    return _table(header, rows)


def render_report(*, title: str, inputs: dict[str, str], runs: list[RunSummary], metrics: dict[str, dict],
                  agreement: dict[str, dict], figures: list[ReportFigure], notes: list[str],
                  compared_with: str | None, files: list[tuple[str, str]] = (),
                  thresholds: tuple[float, ...] = ERROR_THRESHOLDS_PX) -> str:
    """The report page as one HTML string.

    Parameters
    ----------
    title : str
    inputs : dict
        Label -> value lines of the "Inputs" list (paths, versions).
    runs : list of RunSummary
    metrics : dict
        Run name -> figures of `sarflow.scene.evaluate.evaluate_products` (may be empty).
    agreement : dict
        ``"a vs b"`` -> figures of `sarflow.evaluation.compare_estimates`.
    figures : list of ReportFigure
        In display order; sections are shown in order of first appearance.
    notes : list of str
        Shown highlighted near the top (skipped methods and such).
    compared_with : str or None
        What the metrics are against (``truth``, ``zero offsets on stable ground``), None without metrics.
    files : list of (relative link, description)
    """
    parts = [f"<h1>{_e(title)}</h1>"]
    parts += [f"<p class='note'>{_e(note)}</p>" for note in notes]
    parts.append("<h2>Inputs</h2><dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in inputs.items())
                 + "</dl>")

    if metrics:
        parts.append(f"<h2>Accuracy against {_e(compared_with)}</h2>")
        parts.append("<p>Pixels. Vector error = hypot(dx error, dy error); points: those with both an estimate "
                     "and a reference value; coverage: their share of the points with a reference value; bias: "
                     "mean of estimate - reference.</p>")
        within = [_num((m.get("calibration") or {}).get("within_1sigma"), "pct") for m in metrics.values()]
        extra = [("within 1&nbsp;&sigma; (68.3&nbsp;% ideal)", within)] if any(
            "calibration" in m for m in metrics.values()) else []
        parts.append(_metrics_table(list(metrics.items()), thresholds, extra=extra))
        band_keys = next((list(m["bands"]) for m in metrics.values() if "bands" in m), [])
        for key in band_keys:
            first = next(m for m in metrics.values() if "bands" in m)["bands"][key]
            low, high = first["range_px"]
            label = (f"true |offset| {low:g} to {high:g} px" if high is not None
                     else f"true |offset| {low:g} px and more")
            parts.append(f"<h3>{_e(label)}</h3>")
            groups = [(name, m["bands"][key]) for name, m in metrics.items() if "bands" in m]
            if any(group["n_points"] for _, group in groups):
                parts.append(_metrics_table(groups, thresholds))
            else:
                parts.append("<p>No point of the scene in this band.</p>")
        if any("mask" in m for m in metrics.values()):
            for side in ("inside", "outside"):
                parts.append(f"<h3>{side} the mask</h3>")
                parts.append(_metrics_table([(name, m["mask"][side]) for name, m in metrics.items() if "mask" in m],
                                            thresholds))
        if any("stable_ground" in m for m in metrics.values()):
            parts.append("<h3>stable ground (offsets should be zero)</h3>")
            parts.append(_metrics_table([(name, m["stable_ground"]) for name, m in metrics.items()
                                         if "stable_ground" in m], thresholds))

    if agreement:
        parts.append("<h2>Agreement between estimates</h2>")
        parts.append("<p>Differences first - second at the first's points (the second read there through both "
                     "grids' transforms); coverage: share of the points either covers that both cover.</p>")
        parts.append(_metrics_table(list(agreement.items()), thresholds))

    parts.append("<h2>Timing</h2>")
    rows = []
    for run in runs:
        rate = run.points / run.seconds if run.seconds else None
        rows.append([_e(run.name), _num(run.seconds, "s"), _num(run.points, "int"),
                     _num(rate, "int") if rate is not None else "&ndash;", _e(run.timing_note)])
    parts.append(_table(["method", "wall time (s)", "points", "points / s", "includes"], rows, text_columns=(4,)))

    sections: list[str] = []
    for fig in figures:
        if fig.section not in sections:
            sections.append(fig.section)
    for section in sections:
        parts.append(f"<h2>{_e(section)}</h2>")
        for fig in (f for f in figures if f.section == section):
            parts.append(f"<figure><img src='{_e(fig.file)}' alt='{_e(fig.caption)}'>"
                         f"<figcaption>{_e(fig.caption)}</figcaption></figure>")

    parts.append("<h2>Parameters of each run</h2>")
    for run in runs:
        link = f" &mdash; <a href='{_e(run.product_file)}'>{_e(run.product_file)}</a>" if run.product_file else ""
        parts.append(f"<h3>{_e(run.name)}: {_e(run.method)}{link}</h3>")
        parts.append(f"<pre>{_e(json.dumps(run.parameters, indent=2, sort_keys=True, default=str))}</pre>")
    if files:
        parts.append("<h2>Files</h2><ul>" + "".join(f"<li><a href='{_e(f)}'>{_e(f)}</a>: {_e(d)}</li>"
                                                    for f, d in files) + "</ul>")
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>\n<title>{_e(title)}</title>\n"
            f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
