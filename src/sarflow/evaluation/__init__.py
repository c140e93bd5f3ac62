"""Scoring offsets: errors against a truth, agreement of two estimates, still ground, calibration.

Arrays in, small dictionaries out (pixels throughout, JSON-ready: None where a figure is
undefined). The file-level jobs are `sarflow.scene.evaluate.evaluate` (``sarflow evaluate``) and
`sarflow.scene.compare.compare` (``sarflow compare``).

>>> from sarflow.evaluation import evaluate_offsets  # doctest: +SKIP
>>> metrics = evaluate_offsets(dx, dy, truth_dx, truth_dy, mask=moving)  # doctest: +SKIP
>>> metrics["rmse"], metrics["bands"]["above_5px"]["p95"], metrics["mask"]["outside"]["coverage"]  # doctest: +SKIP
"""

from sarflow.evaluation.metrics import (
    CALIBRATION_KS,
    ERROR_THRESHOLDS_PX,
    MAGNITUDE_BANDS_PX,
    band_name,
    calibration,
    compare_estimates,
    evaluate_offsets,
    stable_ground_statistics,
)
from sarflow.evaluation.sampling import cell_centres, check_same_crs, grid_bounds, sample_onto
from sarflow.evaluation.table import format_metrics_table, metrics_rows

__all__ = [
    "CALIBRATION_KS",
    "ERROR_THRESHOLDS_PX",
    "MAGNITUDE_BANDS_PX",
    "band_name",
    "calibration",
    "compare_estimates",
    "evaluate_offsets",
    "stable_ground_statistics",
    "cell_centres",
    "check_same_crs",
    "grid_bounds",
    "sample_onto",
    "format_metrics_table",
    "metrics_rows",
]
