"""Error statistics of an offsets estimate against a truth, a second estimate, or still ground.

Every figure is in pixels. The error of a point is ``estimate - truth`` per component (``dx`` along
columns, ``dy`` along rows) and ``hypot(error_dx, error_dy)`` for the vector (end-point) error. A
point counts where the truth is finite; it is *valid* where the estimate is finite too. Statistics
use the valid points; ``coverage`` is the share of counted points that are valid. Groups with no
valid point report ``None`` for every statistic (JSON ``null``), never NaN.
"""

from __future__ import annotations

import math

import numpy as np

from sarflow.errors import InputError

__all__ = [
    "MAGNITUDE_BANDS_PX",
    "ERROR_THRESHOLDS_PX",
    "CALIBRATION_KS",
    "evaluate_offsets",
    "compare_estimates",
    "stable_ground_statistics",
    "calibration",
    "band_name",
]

#: Displacement-magnitude bands ``[low, high)`` of the per-band breakdown, pixels.
MAGNITUDE_BANDS_PX: tuple[tuple[float, float], ...] = ((0.0, 0.5), (0.5, 5.0), (5.0, math.inf))
#: Vector errors above these (pixels) are counted as shares (``share_above_0.1px`` ...).
ERROR_THRESHOLDS_PX: tuple[float, ...] = (0.1, 0.5, 1.0)
#: Multiples of sigma at which the uncertainty calibration is read.
CALIBRATION_KS: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)


def band_name(low: float, high: float) -> str:
    """Key of a magnitude band: ``below_0.5px``, ``0.5_to_5px``, ``above_5px``."""
    if low <= 0:
        return f"below_{high:g}px"
    if math.isinf(high):
        return f"above_{low:g}px"
    return f"{low:g}_to_{high:g}px"


def _threshold_key(threshold: float) -> str:
    return f"share_above_{threshold:g}px"


def _float(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _as_field(array, name: str, shape: tuple[int, ...] | None) -> np.ndarray:
    arr = np.asarray(array)
    if arr.ndim == 0 or np.iscomplexobj(arr) or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(f"{name} must be a real numeric array, got {arr.dtype} of shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise InputError(f"{name} has shape {arr.shape} but the estimate has shape {shape}; sample both onto one "
                         "grid first (sarflow.evaluation.sample_onto)")
    return arr.astype(np.float64, copy=False)


def _as_fields(**arrays) -> list[np.ndarray]:
    """The named arrays as float64 fields of the first one's shape, which must be 2-D."""
    (first_name, first), *rest = arrays.items()
    head = _as_field(first, first_name, None)
    if head.ndim != 2:
        raise InputError(f"{first_name} must be a 2-D array (rows, cols), got shape {head.shape}")
    return [head] + [_as_field(array, name, head.shape) for name, array in rest]


def _mask_groups(mask, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Inside (True / non-zero) and outside (False / zero) of a mask; NaN belongs to neither."""
    arr = _as_field(mask, "mask", shape)
    finite = np.isfinite(arr)
    return finite & (arr != 0), finite & (arr == 0)


def _r2(error: np.ndarray, truth: np.ndarray) -> float | None:
    """Coefficient of determination, None where the truth does not vary (a uniform shift)."""
    if truth.size < 2:
        return None
    ss_tot = float(np.sum((truth - truth.mean()) ** 2))
    if ss_tot <= 1e-12 * truth.size:
        return None
    return _float(1.0 - float(np.sum(error**2)) / ss_tot)


def _component(error: np.ndarray, truth: np.ndarray | None) -> dict:
    if error.size == 0:
        return {"bias": None, "rmse": None, "mae": None, "p95": None, "r2": None}
    abs_err = np.abs(error)
    return {
        "bias": _float(error.mean()),
        "rmse": _float(np.sqrt(np.mean(error**2))),
        "mae": _float(abs_err.mean()),
        "p95": _float(np.percentile(abs_err, 95)),
        "r2": None if truth is None else _r2(error, truth),
    }


def _statistics(ex: np.ndarray, ey: np.ndarray, tx: np.ndarray | None, ty: np.ndarray | None, *, n_points: int,
                thresholds: tuple[float, ...]) -> dict:
    """Statistics of the errors ``ex``, ``ey`` (1-D, valid points only) of a group of ``n_points``."""
    n_valid = int(ex.size)
    out: dict = {"n_points": int(n_points), "n_valid": n_valid,
                 "coverage": _float(n_valid / n_points) if n_points else None}
    if n_valid == 0:
        out.update({"rmse": None, "mae": None, "median": None, "p95": None, "max": None, "r2": None})
        out.update({_threshold_key(t): None for t in thresholds})
    else:
        e = np.hypot(ex, ey)
        out.update({
            "rmse": _float(np.sqrt(np.mean(e**2))),
            "mae": _float(e.mean()),
            "median": _float(np.median(e)),
            "p95": _float(np.percentile(e, 95)),
            "max": _float(e.max()),
            "r2": None,
        })
        if tx is not None and ty is not None:
            ss_tot = float(np.sum((tx - tx.mean()) ** 2) + np.sum((ty - ty.mean()) ** 2))
            if n_valid >= 2 and ss_tot > 1e-12 * n_valid:
                out["r2"] = _float(1.0 - float(np.sum(ex**2) + np.sum(ey**2)) / ss_tot)
        out.update({_threshold_key(t): _float(np.mean(e > t)) for t in thresholds})
    out["dx"] = _component(ex, tx)
    out["dy"] = _component(ey, ty)
    return out


def _group_stats(edx, edy, tdx, tdy, counted: np.ndarray, valid: np.ndarray, thresholds, *, truth_is_reference: bool):
    sel = valid & counted
    ex, ey = edx[sel] - tdx[sel], edy[sel] - tdy[sel]
    tx, ty = (tdx[sel], tdy[sel]) if truth_is_reference else (None, None)
    return _statistics(ex, ey, tx, ty, n_points=int(counted.sum()), thresholds=thresholds)


def evaluate_offsets(estimate_dx, estimate_dy, truth_dx, truth_dy, mask=None, *, sigma_dx=None, sigma_dy=None,
                     bands: tuple[tuple[float, float], ...] | None = MAGNITUDE_BANDS_PX,
                     thresholds: tuple[float, ...] = ERROR_THRESHOLDS_PX) -> dict:
    """Error statistics of an offsets estimate against the truth on the same points.

    Parameters
    ----------
    estimate_dx, estimate_dy : ndarray, shape (h, w)
        Estimated offsets, pixels; NaN where there is no estimate.
    truth_dx, truth_dy : ndarray, shape (h, w)
        True offsets at the same points, pixels; NaN where unknown (those points are not counted).
    mask : ndarray, shape (h, w), bool or float, optional
        True (non-zero) inside, e.g. moving ground, False (zero) outside; NaN belongs to neither.
        Adds the ``mask`` breakdown (``inside``, ``outside``).
    sigma_dx, sigma_dy : ndarray, shape (h, w), optional
        1-sigma uncertainty of each component, pixels. Adds ``calibration`` (see `calibration`).
    bands : sequence of (low, high), optional
        Truth-magnitude bands ``low <= hypot(truth_dx, truth_dy) < high`` of the ``bands`` breakdown,
        pixels; None leaves it out.
    thresholds : sequence of float
        Vector-error thresholds, pixels, for the ``share_above_<t>px`` figures.

    Returns
    -------
    dict
        Over all counted points: ``n_points`` (truth finite), ``n_valid`` (estimate finite too),
        ``coverage`` (their ratio), ``rmse``, ``mae`` (mean end-point error), ``median``, ``p95``,
        ``max`` of the vector error, ``r2`` (both components pooled), ``share_above_0.1px``,
        ``share_above_0.5px``, ``share_above_1px``; ``dx`` and ``dy``, each with ``bias`` (mean
        error), ``rmse``, ``mae``, ``p95`` (of the absolute error) and ``r2``. Then ``bands``
        (``below_0.5px``, ``0.5_to_5px``, ``above_5px``, each the same figures and its
        ``range_px``), ``mask`` and ``calibration`` when asked for. None where undefined (no valid
        point; R² of a truth that does not vary).

    Raises
    ------
    InputError
        Arrays of different shapes, or not numeric.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((4, 4))
    >>> m = evaluate_offsets(truth + 0.1, truth, truth, truth)
    >>> round(m["rmse"], 3), m["dx"]["bias"] == m["rmse"], m["coverage"]
    (0.1, True, 1.0)
    """
    edx, edy, tdx, tdy = _as_fields(estimate_dx=estimate_dx, estimate_dy=estimate_dy, truth_dx=truth_dx,
                                    truth_dy=truth_dy)
    shape = edx.shape
    counted = np.isfinite(tdx) & np.isfinite(tdy)
    valid = np.isfinite(edx) & np.isfinite(edy)
    out = _group_stats(edx, edy, tdx, tdy, counted, valid, thresholds, truth_is_reference=True)
    if bands:
        magnitude = np.hypot(np.where(counted, tdx, 0.0), np.where(counted, tdy, 0.0))
        out["bands"] = {}
        for low, high in bands:
            in_band = counted & (magnitude >= low) & (magnitude < high)
            stats = _group_stats(edx, edy, tdx, tdy, in_band, valid, thresholds, truth_is_reference=True)
            out["bands"][band_name(low, high)] = {"range_px": [float(low), _float(high)], **stats}
    if mask is not None:
        inside, outside = _mask_groups(mask, shape)
        out["mask"] = {name: _group_stats(edx, edy, tdx, tdy, counted & group, valid, thresholds,
                                          truth_is_reference=True)
                       for name, group in (("inside", inside), ("outside", outside))}
    if sigma_dx is not None or sigma_dy is not None:
        if sigma_dx is None or sigma_dy is None:
            raise InputError("give both sigma_dx and sigma_dy (the same array twice for an isotropic sigma)")
        sx = _as_field(sigma_dx, "sigma_dx", shape)
        sy = _as_field(sigma_dy, "sigma_dy", shape)
        sel = counted & valid
        out["calibration"] = calibration(edx[sel] - tdx[sel], edy[sel] - tdy[sel], sx[sel], sy[sel])
    return out


def compare_estimates(first_dx, first_dy, second_dx, second_dy, mask=None, *,
                      bands: tuple[tuple[float, float], ...] | None = MAGNITUDE_BANDS_PX,
                      thresholds: tuple[float, ...] = ERROR_THRESHOLDS_PX) -> dict:
    """Agreement of two estimates on the same points, where neither is the truth.

    The figures are those of `evaluate_offsets` for the difference ``first - second``, with these
    changes: a point counts where either estimate has a value and is valid where both have one (so
    ``coverage`` is the share of the points either covers that both cover); ``r2`` is None and each
    component carries ``correlation`` (Pearson) instead; bands use the mean magnitude of the two
    estimates (of the one present where only one is); ``coverage_first`` and ``coverage_second``
    give each estimate's share of the counted points.

    Parameters
    ----------
    first_dx, first_dy, second_dx, second_dy : ndarray, shape (h, w)
        Offsets in pixels on the same points, NaN where there is no estimate.
    mask : ndarray, shape (h, w), optional
        As in `evaluate_offsets`.
    bands, thresholds
        As in `evaluate_offsets`.

    Returns
    -------
    dict
    """
    adx, ady, bdx, bdy = _as_fields(first_dx=first_dx, first_dy=first_dy, second_dx=second_dx, second_dy=second_dy)
    shape = adx.shape
    has_a = np.isfinite(adx) & np.isfinite(ady)
    has_b = np.isfinite(bdx) & np.isfinite(bdy)
    counted = has_a | has_b
    valid = has_a & has_b

    def group(sel_counted):
        stats = _group_stats(adx, ady, bdx, bdy, sel_counted, valid, thresholds, truth_is_reference=False)
        n = int(sel_counted.sum())
        stats["coverage_first"] = _float((has_a & sel_counted).sum() / n) if n else None
        stats["coverage_second"] = _float((has_b & sel_counted).sum() / n) if n else None
        both = valid & sel_counted
        for name, a, b in (("dx", adx, bdx), ("dy", ady, bdy)):
            stats[name].pop("r2")
            stats[name]["correlation"] = _correlation(a[both], b[both])
        return stats

    out = group(counted)
    if bands:
        mag_a = np.hypot(np.where(has_a, adx, 0.0), np.where(has_a, ady, 0.0))
        mag_b = np.hypot(np.where(has_b, bdx, 0.0), np.where(has_b, bdy, 0.0))
        magnitude = np.where(valid, 0.5 * (mag_a + mag_b), np.where(has_a, mag_a, mag_b))
        out["bands"] = {band_name(low, high): {"range_px": [float(low), _float(high)],
                                               **group(counted & (magnitude >= low) & (magnitude < high))}
                        for low, high in bands}
    if mask is not None:
        inside, outside = _mask_groups(mask, shape)
        out["mask"] = {"inside": group(counted & inside), "outside": group(counted & outside)}
    return out


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.size < 2:
        return None
    sa, sb = float(a.std()), float(b.std())
    if sa <= 1e-12 or sb <= 1e-12:
        return None
    return _float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))


def stable_ground_statistics(dx, dy, stable, *, thresholds: tuple[float, ...] = ERROR_THRESHOLDS_PX) -> dict:
    """Offsets on ground known not to move, where every offset should be zero.

    Parameters
    ----------
    dx, dy : ndarray, shape (h, w)
        Estimated offsets, pixels, NaN where there is no estimate.
    stable : ndarray, shape (h, w), bool or float
        True (non-zero) on stable ground; False and NaN elsewhere.

    Returns
    -------
    dict
        The figures of `evaluate_offsets` against a zero truth on the stable points (``bias`` is
        then the mean offset there, ``rmse`` its root-mean-square magnitude, ``coverage`` the share
        of stable points with an estimate); ``r2`` is None.
    """
    edx = _as_field(dx, "dx", None)
    if edx.ndim != 2:
        raise InputError(f"dx must be a 2-D array (rows, cols), got shape {edx.shape}")
    inside, _ = _mask_groups(stable, edx.shape)
    zero = np.where(inside, 0.0, np.nan)
    out = evaluate_offsets(edx, dy, zero, zero, bands=None, thresholds=thresholds)
    out["r2"] = None
    out["dx"]["r2"] = out["dy"]["r2"] = None
    return out


def calibration(error_dx, error_dy, sigma_dx, sigma_dy, *, ks: tuple[float, ...] = CALIBRATION_KS) -> dict:
    """How often errors fall within k sigma, against the Gaussian expectation.

    Both components are pooled: a point contributes ``|error_dx| <= k sigma_dx`` and
    ``|error_dy| <= k sigma_dy``. For an honest Gaussian 1-sigma, the share within k sigma is
    ``erf(k / sqrt(2))`` (68.3 % at 1, 95.4 % at 2, 99.7 % at 3).

    Parameters
    ----------
    error_dx, error_dy, sigma_dx, sigma_dy : ndarray, any shape (one shape)
        Component errors and 1-sigma uncertainties, pixels; pairs with a non-finite value or a
        sigma <= 0 are left out.
    ks : sequence of float

    Returns
    -------
    dict
        ``k``, ``observed``, ``expected`` (lists, one value per k; observed None without data),
        ``n`` (component errors used), ``within_1sigma`` and ``expected_1sigma``.
    """
    e = np.concatenate([np.ravel(error_dx), np.ravel(error_dy)]).astype(np.float64)
    s = np.concatenate([np.ravel(sigma_dx), np.ravel(sigma_dy)]).astype(np.float64)
    if e.shape != s.shape:
        raise InputError(f"errors and sigmas differ in size: {e.size} and {s.size}")
    ok = np.isfinite(e) & np.isfinite(s) & (s > 0)
    ratio = np.abs(e[ok]) / s[ok]
    ks = tuple(float(k) for k in ks)
    observed = [_float(np.mean(ratio <= k)) if ratio.size else None for k in ks]
    expected = [math.erf(k / math.sqrt(2.0)) for k in ks]
    return {
        "k": list(ks),
        "observed": observed,
        "expected": expected,
        "n": int(ratio.size),
        "within_1sigma": _float(np.mean(ratio <= 1.0)) if ratio.size else None,
        "expected_1sigma": math.erf(1.0 / math.sqrt(2.0)),
    }
