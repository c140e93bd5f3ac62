"""Figures of a method comparison: maps, errors, scatter, uncertainty and its calibration.

Each function takes arrays and returns a `matplotlib.figure.Figure` (no pyplot state, rendered by
Agg when saved), so callers decide where the PNG goes. Maps of several methods share one colour
scale per quantity, and grids of any step line up: every layer carries its extent in the
reference image's pixel coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MapLayer", "field_maps", "error_maps", "error_histograms", "truth_scatter", "uncertainty_maps",
           "calibration_curves"]

_PANEL_IN = 3.0
_MAX_SCATTER = 20_000


@dataclass
class MapLayer:
    """One method's offsets (or the truth) ready to draw.

    Attributes
    ----------
    name : str
    dx, dy : ndarray, shape (h, w)
        Offsets in pixels on the layer's own grid, NaN where there is none.
    extent : (left, right, bottom, top)
        Area of the grid in the reference image's pixel coordinates (columns, rows), as
        `matplotlib.axes.Axes.imshow` takes it with ``origin="upper"``.
    sigma : ndarray, shape (h, w), optional
        1-sigma uncertainty, pixels (root-mean-square of the two components').
    truth_dx, truth_dy : ndarray, shape (h, w), optional
        The truth at the layer's points, pixels.
    """

    name: str
    dx: np.ndarray
    dy: np.ndarray
    extent: tuple[float, float, float, float]
    sigma: np.ndarray | None = None
    truth_dx: np.ndarray | None = None
    truth_dy: np.ndarray | None = None

    @property
    def magnitude(self) -> np.ndarray:
        return np.hypot(self.dx, self.dy)

    @property
    def has_truth(self) -> bool:
        return self.truth_dx is not None and self.truth_dy is not None

    def errors(self) -> tuple[np.ndarray, np.ndarray]:
        """``estimate - truth`` per component, pixels."""
        return self.dx - self.truth_dx, self.dy - self.truth_dy


def _figure(rows: int, cols: int, *, aspect: float = 1.0, extra_width: float = 0.9):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(_PANEL_IN * cols + extra_width, _PANEL_IN * aspect * rows + 0.5), dpi=90,
                 layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def _finite(*arrays: np.ndarray) -> np.ndarray:
    parts = [np.asarray(a, dtype=np.float64).ravel() for a in arrays if a is not None]
    values = np.concatenate(parts) if parts else np.zeros(0)
    return values[np.isfinite(values)]


def _upper(values: np.ndarray, percentile: float = 99.5, *, floor: float = 1e-3) -> float:
    """A colour-scale limit covering most values (ignoring a few outliers)."""
    if values.size == 0:
        return 1.0
    return float(max(np.percentile(values, percentile), floor))


def _aspect(layers: list[MapLayer]) -> float:
    left, right, bottom, top = layers[0].extent
    width, height = abs(right - left), abs(bottom - top)
    return float(np.clip(height / width if width > 0 else 1.0, 0.4, 2.5))


def _map(ax, values: np.ndarray, extent, *, cmap: str, vmin: float, vmax: float, title: str):
    import matplotlib

    colours = matplotlib.colormaps[cmap].with_extremes(bad="0.85")
    image = ax.imshow(np.ma.masked_invalid(values), extent=extent, origin="upper", cmap=colours, vmin=vmin,
                      vmax=vmax, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    return image


def field_maps(layers: list[MapLayer], component: str, *, extent=None):
    """``dx``, ``dy`` or ``magnitude`` of every layer side by side on one colour scale.

    ``dx`` and ``dy`` use a diverging scale symmetric about zero, the magnitude a sequential one
    from zero; the limit covers 99.5 % of the values of all layers. Grey: no value.
    ``extent`` (left, right, bottom, top) fixes the axes' range (the union of the layers' by default).
    """
    if component not in ("dx", "dy", "magnitude"):
        raise ValueError(f"component must be 'dx', 'dy' or 'magnitude', got {component!r}")
    fields = [getattr(layer, component) for layer in layers]
    if component == "magnitude":
        vmin, vmax, cmap = 0.0, _upper(_finite(*fields)), "viridis"
    else:
        vmax = _upper(np.abs(_finite(*fields)))
        vmin, cmap = -vmax, "RdBu_r"
    fig, axes = _figure(1, len(layers), aspect=_aspect(layers))
    bounds = extent or _union_extent(layers)
    image = None
    for ax, layer, values in zip(axes[0], layers, fields):
        image = _map(ax, values, layer.extent, cmap=cmap, vmin=vmin, vmax=vmax, title=layer.name)
        _limit(ax, bounds)
    label = {"dx": "dx (px, + = toward higher columns)", "dy": "dy (px, + = toward higher rows)",
             "magnitude": "|offset| (px)"}[component]
    fig.colorbar(image, ax=list(axes[0]), shrink=0.85, label=label)
    axes[0][0].set_ylabel("row (px)", fontsize=8)
    for ax in axes[0]:
        ax.set_xlabel("column (px)", fontsize=8)
    return fig


def _union_extent(layers: list[MapLayer]) -> tuple[float, float, float, float]:
    lefts = [min(e[0], e[1]) for e in (layer.extent for layer in layers)]
    rights = [max(e[0], e[1]) for e in (layer.extent for layer in layers)]
    tops = [min(e[2], e[3]) for e in (layer.extent for layer in layers)]
    bottoms = [max(e[2], e[3]) for e in (layer.extent for layer in layers)]
    return min(lefts), max(rights), max(bottoms), min(tops)


def _limit(ax, bounds) -> None:
    left, right, bottom, top = bounds
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)


def error_maps(layers: list[MapLayer]):
    """Per method (rows): error of dx, error of dy (shared symmetric scale) and the vector error."""
    layers = [layer for layer in layers if layer.has_truth]
    errors = [layer.errors() for layer in layers]
    comp_max = _upper(np.abs(_finite(*[e for pair in errors for e in pair])), 99.0)
    mags = [np.hypot(*pair) for pair in errors]
    mag_max = _upper(_finite(*mags), 99.0)
    fig, axes = _figure(len(layers), 3, aspect=_aspect(layers))
    bounds = _union_extent(layers)
    for row, (layer, (ex, ey), mag) in enumerate(zip(layers, errors, mags)):
        im_c = _map(axes[row][0], ex, layer.extent, cmap="RdBu_r", vmin=-comp_max, vmax=comp_max,
                    title=f"{layer.name}: dx error")
        _map(axes[row][1], ey, layer.extent, cmap="RdBu_r", vmin=-comp_max, vmax=comp_max,
             title=f"{layer.name}: dy error")
        im_m = _map(axes[row][2], mag, layer.extent, cmap="magma", vmin=0.0, vmax=mag_max,
                    title=f"{layer.name}: vector error")
        for ax in axes[row]:
            _limit(ax, bounds)
    fig.colorbar(im_c, ax=list(axes[:, :2].ravel()), shrink=0.8, label="estimate - truth (px)")
    fig.colorbar(im_m, ax=list(axes[:, 2]), shrink=0.8, label="|error| (px)")
    return fig


def error_histograms(layers: list[MapLayer]):
    """Distributions of the component errors and of the vector error, one line per method."""
    layers = [layer for layer in layers if layer.has_truth]
    fig, axes = _figure(1, 3, aspect=0.75, extra_width=0.3)
    errors = [layer.errors() for layer in layers]
    comp = np.abs(_finite(*[e for pair in errors for e in pair]))
    limit = _upper(comp, 99.0, floor=0.05)
    bins = np.linspace(-limit, limit, 61)
    mag_bins = np.linspace(0, limit * math.sqrt(2), 61)
    for layer, (ex, ey) in zip(layers, errors):
        ok = np.isfinite(ex) & np.isfinite(ey)
        for ax, values, edges in ((axes[0][0], ex[ok], bins), (axes[0][1], ey[ok], bins),
                                  (axes[0][2], np.hypot(ex[ok], ey[ok]), mag_bins)):
            if values.size:
                ax.hist(np.clip(values, edges[0], edges[-1]), bins=edges, histtype="step", linewidth=1.4,
                        label=layer.name, density=True)
    for ax, title in zip(axes[0], ("dx error (px)", "dy error (px)", "vector error (px)")):
        ax.set_xlabel(title, fontsize=8)
        ax.set_yscale("log")
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("density", fontsize=8)
    axes[0][2].legend(fontsize=7)
    return fig


def truth_scatter(layers: list[MapLayer], *, seed: int = 0):
    """Estimate against truth for dx and dy, one row per method, with the 1:1 line."""
    layers = [layer for layer in layers if layer.has_truth]
    fig, axes = _figure(len(layers), 2, aspect=1.0, extra_width=0.3)
    rng = np.random.default_rng(seed)
    for comp_index, comp in enumerate(("dx", "dy")):
        truths = [getattr(layer, f"truth_{comp}") for layer in layers]
        estimates = [getattr(layer, comp) for layer in layers]
        values = _finite(*truths, *estimates)
        lo, hi = (float(np.percentile(values, 0.5)), float(np.percentile(values, 99.5))) if values.size else (0, 1)
        pad = max(0.05 * (hi - lo), 0.05)
        lo, hi = lo - pad, hi + pad
        for row, (layer, t, e) in enumerate(zip(layers, truths, estimates)):
            ax = axes[row][comp_index]
            ok = np.isfinite(t) & np.isfinite(e)
            t, e = t[ok], e[ok]
            if t.size > _MAX_SCATTER:
                keep = rng.choice(t.size, _MAX_SCATTER, replace=False)
                t, e = t[keep], e[keep]
            ax.plot([lo, hi], [lo, hi], color="0.4", linewidth=0.8)
            ax.scatter(t, e, s=3, alpha=0.5, linewidths=0, color="C0" if comp == "dx" else "C3", rasterized=True)
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            ax.set_title(f"{layer.name}: {comp}", fontsize=9)
            ax.set_xlabel(f"true {comp} (px)", fontsize=8)
            ax.set_ylabel(f"estimated {comp} (px)", fontsize=8)
            ax.tick_params(labelsize=7)
    return fig


def uncertainty_maps(layers: list[MapLayer]):
    """The 1-sigma uncertainty map of every method that gives one, on one scale."""
    layers = [layer for layer in layers if layer.sigma is not None]
    vmax = _upper(_finite(*[layer.sigma for layer in layers]), 99.0)
    fig, axes = _figure(1, len(layers), aspect=_aspect(layers))
    bounds = _union_extent(layers)
    image = None
    for ax, layer in zip(axes[0], layers):
        image = _map(ax, layer.sigma, layer.extent, cmap="cividis", vmin=0.0, vmax=vmax, title=f"{layer.name}: sigma")
        _limit(ax, bounds)
    fig.colorbar(image, ax=list(axes[0]), shrink=0.85, label="1-sigma uncertainty (px)")
    return fig


def calibration_curves(calibrations: dict[str, dict]):
    """Share of component errors within k sigma against k, beside the Gaussian expectation.

    ``calibrations`` maps a method's name to what `sarflow.evaluation.calibration` returns.
    Above the Gaussian curve: sigma too large (pessimistic); below: too small (overconfident).
    """
    fig, axes = _figure(1, 1, aspect=0.8, extra_width=0.6)
    ax = axes[0][0]
    k = np.linspace(0, 3.2, 100)
    expected = [math.erf(v / math.sqrt(2.0)) for v in k]
    ax.plot(k, expected, color="0.3", linestyle="--", label="Gaussian expectation")
    for name, cal in calibrations.items():
        points = [(kk, obs) for kk, obs in zip(cal["k"], cal["observed"]) if obs is not None]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=f"{name} (n={cal['n']})")
    ax.set_xlabel("k (multiples of the predicted sigma)", fontsize=8)
    ax.set_ylabel("share of |error| <= k sigma", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, 3.2)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.tick_params(labelsize=7)
    return fig
