"""Quick-look PNGs: amplitude pairs and offset fields on shared, symmetric colour scales."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sarflow.io.atomic import atomic_path

__all__ = ["amplitude_db", "save_pair_quicklook", "save_offsets_quicklook"]


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


def _figure():
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
        # Image axes: rows grow downward, so a +dy arrow points down on screen.
        ax.quiver(cc[ok], rr[ok], u[ok], -v[ok], color="k", angles="xy", scale_units="xy",
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
    plt = _figure()
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
    plt = _figure()
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
