"""Plain-text tables of evaluation metrics, for terminals and logs."""

from __future__ import annotations

import math

from sarflow.evaluation.metrics import ERROR_THRESHOLDS_PX

__all__ = ["metrics_rows", "format_metrics_table"]

def _band_label(key: str, what: str) -> str:
    body = key[: -len("px")] if key.endswith("px") else key
    if body.startswith("below_"):
        return f"|{what}| < {body[len('below_'):]} px"
    if body.startswith("above_"):
        return f"|{what}| >= {body[len('above_'):]} px"
    low, _, high = body.partition("_to_")
    return f"|{what}| {low}-{high} px"


def metrics_rows(result: dict, *, magnitude_of: str = "truth") -> list[tuple[str, dict]]:
    """The groups of a result in reading order: all points, magnitude bands, mask, stable ground.

    Parameters
    ----------
    result : dict
        What `sarflow.evaluation.evaluate_offsets` (or the ``evaluate`` job) returns.
    magnitude_of : str
        Word for the quantity the bands split on, in the labels.

    Returns
    -------
    list of (label, group dict)
    """
    stable_only = str(result.get("compared_with", "")).endswith("stable ground")
    rows = [("stable ground" if stable_only else "all points", result)]
    for key, group in result.get("bands", {}).items():
        rows.append((_band_label(key, magnitude_of), group))
    if "mask" in result and isinstance(result["mask"], dict):
        rows += [("inside mask", result["mask"]["inside"]), ("outside mask", result["mask"]["outside"])]
    if "stable_ground" in result:
        rows.append(("stable ground", result["stable_ground"]))
    if "stable_ground_second" in result:
        rows.append(("stable ground, second", result["stable_ground_second"]))
    return rows


def _fmt(value, kind: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "int":
        return f"{int(value):d}"
    if kind == "r2":
        return f"{value:.3f}"
    return f"{value:.3f}"


def format_metrics_table(rows: list[tuple[str, dict]], *,
                         thresholds: tuple[float, ...] = ERROR_THRESHOLDS_PX) -> str:
    """A fixed-width table, one line per group, figures in pixels.

    Columns: points counted, coverage, RMSE, MAE, median and 95th percentile of the vector error,
    the bias of dx and dy, R² (or ``-``), and the share of vector errors above each threshold.
    """
    columns = [("points", "n_points", "int"), ("coverage", "coverage", "pct"), ("RMSE", "rmse", "px"),
               ("MAE", "mae", "px"), ("median", "median", "px"), ("p95", "p95", "px"),
               ("bias dx", ("dx", "bias"), "px"), ("bias dy", ("dy", "bias"), "px"), ("R2", "r2", "r2")]
    columns += [(f">{t:g} px", f"share_above_{t:g}px", "pct") for t in thresholds]
    label_width = max([len("group")] + [len(label) for label, _ in rows])
    cells = []
    for label, group in rows:
        line = [label]
        for _, key, kind in columns:
            value = group.get(key[0], {}).get(key[1]) if isinstance(key, tuple) else group.get(key)
            line.append(_fmt(value, kind))
        cells.append(line)
    widths = [label_width] + [max(len(head), *(len(c[i + 1]) for c in cells)) for i, (head, _, _) in
                              enumerate(columns)]
    header = ["group".ljust(widths[0])] + [head.rjust(widths[i + 1]) for i, (head, _, _) in enumerate(columns)]
    lines = ["  ".join(header), "  ".join("-" * w for w in widths)]
    for line in cells:
        lines.append("  ".join([line[0].ljust(widths[0])] + [c.rjust(widths[i + 1]) for i, c in
                                                              enumerate(line[1:])]))
    return "\n".join(lines)
