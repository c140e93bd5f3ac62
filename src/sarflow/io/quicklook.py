"""Quick-look PNGs: amplitude pairs and offset fields on shared, symmetric colour scales; velocity maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sarflow.errors import InputError
from sarflow.io.atomic import atomic_path

__all__ = ["amplitude_db", "pyplot_backend", "save_pair_quicklook", "save_offsets_quicklook", "save_velocity_quicklook"]


def amplitude_db(amplitude: np.ndarray) -> np.ndarray:
    """Amplitude in dB (20 log10), NaN where invalid or zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 20.0 * np.log10(np.where(amplitude > 0, amplitude, np.nan))
    return out


def _db_limits(*images: np.ndarray) -> tuple[float, float]:
    values = np.concatenate([amplitude_db(im)[np.isfinite(amplitude_db(im))].ravel() for im in images])
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [2, 98])
    return float(lo), float(max(hi, lo + 1e-6))


def _symmetric_limit(*fields: np.ndarray) -> float:
    values = np.concatenate([np.abs(f[np.isfinite(f)]).ravel() for f in fields])
    if values.size == 0:
        return 1.0
    return float(max(np.percentile(values, 99.5), 1e-3))


def pyplot_backend():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (figures are only ever written to files)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _arrows(ax, dx, dy, *, count: int = 20) -> None:
    h, w = dx.shape
    step = max(1, int(max(h, w) / count))
    rr, cc = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    u, v = dx[rr, cc], dy[rr, cc]
    ok = np.isfinite(u) & np.isfinite(v) & (np.hypot(u, v) > 0)
    if ok.any():
        # Image axes: rows grow downward (imshow inverts the y axis, and angles="xy" follows it),
        # so a +dy arrow points down on screen as it is.
        ax.quiver(cc[ok], rr[ok], u[ok], v[ok], color="k", angles="xy", scale_units="xy",
                  scale=float(np.nanmax(np.hypot(u[ok], v[ok]))) / step * 1.2, width=0.004)


def save_pair_quicklook(path: str | Path, reference: np.ndarray, secondary: np.ndarray, dx: np.ndarray,
                        dy: np.ndarray, *, title: str = "", dpi: int = 110) -> Path:
    """Reference, secondary (dB, shared scale), dx, dy (shared symmetric scale) and magnitude with arrows.

    Parameters
    ----------
    reference, secondary : ndarray, shape (H, W)
        Amplitude images.
    dx, dy : ndarray, shape (h, w)
        Offsets in pixels (may be on a coarser grid than the images).
    """
    plt = pyplot_backend()
    lo, hi = _db_limits(reference, secondary)
    lim = _symmetric_limit(dx, dy)
    mag = np.hypot(dx, dy)
    fig, axes = plt.subplots(1, 5, figsize=(20, 4.4), constrained_layout=True)
    for ax, im, name in ((axes[0], reference, "reference"), (axes[1], secondary, "secondary")):
        art = ax.imshow(amplitude_db(im), cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(f"{name} amplitude")
        fig.colorbar(art, ax=ax, shrink=0.8, label="dB")
    for ax, field, name in ((axes[2], dx, "dx (columns / range)"), (axes[3], dy, "dy (rows / azimuth)")):
        art = ax.imshow(field, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(name)
        fig.colorbar(art, ax=ax, shrink=0.8, label="pixels")
    art = axes[4].imshow(mag, cmap="viridis", vmin=0, vmax=float(np.nanmax(mag)) if np.isfinite(mag).any() else 1,
                         interpolation="nearest")
    _arrows(axes[4], dx, dy)
    axes[4].set_title("magnitude and direction")
    fig.colorbar(art, ax=axes[4], shrink=0.8, label="pixels")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return path


def save_offsets_quicklook(path: str | Path, dx: np.ndarray, dy: np.ndarray, *, title: str = "",
                           limit: float | None = None, dpi: int = 110) -> Path:
    """dx, dy and magnitude with flow arrows, on a shared symmetric scale (``limit`` pixels if given)."""
    plt = pyplot_backend()
    lim = limit if limit is not None else _symmetric_limit(dx, dy)
    mag = np.hypot(dx, dy)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4), constrained_layout=True)
    for ax, field, name in ((axes[0], dx, "dx (columns / range)"), (axes[1], dy, "dy (rows / azimuth)")):
        art = ax.imshow(field, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(name)
        fig.colorbar(art, ax=ax, shrink=0.8, label="pixels")
    art = axes[2].imshow(mag, cmap="viridis", vmin=0, vmax=lim * np.sqrt(2), interpolation="nearest")
    _arrows(axes[2], dx, dy)
    axes[2].set_title("magnitude and direction")
    fig.colorbar(art, ax=axes[2], shrink=0.8, label="pixels")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return path


def _flow_arrows(ax, speed: np.ndarray, u: np.ndarray, v: np.ndarray, *, count: int) -> int:
    """Flow arrows on image axes, about ``count`` along the longer side; returns how many were drawn.

    Direction from (u, v) (columns right, rows down), length proportional to ``speed``: an arrow at
    the 95th percentile of the speeds shown spans 0.9 of the spacing between arrows, faster ones at
    most 1.5 times that, so arrows stay readable and never vanish.
    """
    h, w = speed.shape
    step = max(1, int(round(max(h, w) / max(count, 1))))
    rr, cc = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    s, du, dv = speed[rr, cc], u[rr, cc], v[rr, cc]
    norm = np.hypot(du, dv)
    ok = np.isfinite(s) & np.isfinite(norm) & (norm > 0) & (s > 0)
    if not ok.any():
        return 0
    ref = float(np.percentile(s[ok], 95))
    length = np.minimum(s[ok] / ref, 1.5) * 0.9 * step
    ax.quiver(cc[ok], rr[ok], du[ok] / norm[ok] * length, dv[ok] / norm[ok] * length, angles="xy",
              scale_units="xy", scale=1.0, pivot="mid", color="w", edgecolor="k", linewidth=0.5, width=0.005,
              headwidth=4, headlength=4.5, headaxislength=4)
    return int(ok.sum())


def save_velocity_quicklook(path: str | Path, speed: np.ndarray, dx: np.ndarray, dy: np.ndarray, *,
                            units: str = "m/yr", dates: str = "", title: str = "", vmax: float | None = None,
                            arrows: int = 25, dpi: int = 110) -> Path:
    """Speed map with a colour bar and flow arrows; NaN (no estimate) in grey.

    Parameters
    ----------
    speed : ndarray, shape (h, w)
        Speed in ``units``; NaN where unknown.
    dx, dy : ndarray, shape (h, w)
        Direction of motion on the grid: components along columns (right) and rows (down), any
        scale (the offsets in pixels will do). Arrows follow them, with lengths from ``speed``.
    units : str
        Units of ``speed``, shown on the colour bar and in the title.
    dates : str
        Shown in the title, e.g. ``2020-01-01 to 2020-01-13 (12 days)``.
    title : str
        Prefix of the title (e.g. the product's name).
    vmax : float, optional
        Top of the colour scale; the 99th percentile of the speeds by default.
    arrows : int
        About this many arrows along the longer side of the grid.
    """
    plt = pyplot_backend()
    import matplotlib
    from matplotlib.patches import Patch

    speed = np.asarray(speed, dtype=np.float64)
    if speed.ndim != 2 or np.shape(dx) != speed.shape or np.shape(dy) != speed.shape:
        raise InputError(f"speed, dx and dy must be 2-D arrays of one shape, got {speed.shape}, {np.shape(dx)}, "
                         f"{np.shape(dy)}")
    finite = speed[np.isfinite(speed)]
    if vmax is None:
        vmax = float(np.percentile(finite, 99)) if finite.size else 1.0
    vmax = vmax if np.isfinite(vmax) and vmax > 0 else 1.0
    h, w = speed.shape
    fig, ax = plt.subplots(figsize=(7.5, float(np.clip(6.0 * h / w, 2.5, 9.0)) + 0.9), constrained_layout=True)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.6")
    art = ax.imshow(np.ma.masked_invalid(speed), cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
    fig.colorbar(art, ax=ax, shrink=0.85, label=f"speed ({units})", extend="max" if finite.size and
                 finite.max() > vmax else "neither")
    drawn = _flow_arrows(ax, speed, np.asarray(dx, dtype=np.float64), np.asarray(dy, dtype=np.float64),
                         count=arrows)
    if not np.isfinite(speed).all():
        ax.legend(handles=[Patch(facecolor="0.6", edgecolor="k", linewidth=0.5, label="no estimate")],
                  loc="lower right", fontsize="small", framealpha=0.8)
    heading = f"speed ({units})" + (f", {dates}" if dates else "")
    ax.set_title(f"{title}: {heading}" if title else heading)
    if drawn:
        ax.set_xlabel("arrows: direction of motion on the grid, length proportional to speed", fontsize="small")
    ax.set_xticks([])
    ax.set_yticks([])
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return path
