"""A dense prior from the multi-kernel tracker, and the residual problem it leaves to a network.

The paper's route (Kim, Jung & Lu 2025) uses multi-kernel offset tracking as preprocessing for the
network. Here the tracker's grid estimate becomes a smooth per-pixel prior ``p``; the secondary is
resampled onto the reference by it (``sec'(r) = sec(r + p(r))``), and the network measures what is
left, the residual ``rho``, between the reference and ``sec'``. The two compose exactly:

a feature at ``r`` lies at ``r + rho(r)`` in ``sec'``, which is ``r + rho(r) + p(r + rho(r))`` in the
secondary, so ``d(r) = rho(r) + p(r + rho(r))`` (`compose_residual`), and for training the residual
target is the solution of that equation for a known ``d`` (`residual_target`, a fixed-point
iteration that converges wherever ``p`` varies by less than one pixel per pixel).

The network then works near zero displacement (where it is most precise) whatever the motion, and
a network that predicts no residual reproduces the tracker: training can only add to it.

The prior itself and the resampling are those of whole-scene inference
(`sarflow.scene.coarse.coarse_prior_grid`, `sarflow.scene.coarse.resample`), so that a network
trained on residuals (`sarflow.training.synthetic.with_prior`) sees at inference exactly what it saw
in training.
"""

from __future__ import annotations

import numpy as np

__all__ = ["compose_residual", "residual_target"]


def _sample(field: np.ndarray, map_c: np.ndarray, map_r: np.ndarray) -> np.ndarray:
    """Exact bilinear sampling of ``field`` at (map_r, map_c), the nearest edge value outside (float64 weights)."""
    h, w = field.shape
    r = np.clip(map_r.astype(np.float64), 0, h - 1)
    c = np.clip(map_c.astype(np.float64), 0, w - 1)
    r0 = np.minimum(np.floor(r).astype(np.intp), max(h - 2, 0))
    c0 = np.minimum(np.floor(c).astype(np.intp), max(w - 2, 0))
    fr, fc = r - r0, c - c0
    r1, c1 = np.minimum(r0 + 1, h - 1), np.minimum(c0 + 1, w - 1)
    f = field.astype(np.float64)
    top = (1 - fc) * f[r0, c0] + fc * f[r0, c1]
    bottom = (1 - fc) * f[r1, c0] + fc * f[r1, c1]
    return ((1 - fr) * top + fr * bottom).astype(np.float32)


def compose_residual(residual_dx: np.ndarray, residual_dy: np.ndarray, prior_dx: np.ndarray,
                     prior_dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Total offsets ``d(r) = rho(r) + p(r + rho(r))`` of a residual measured against the warped secondary."""
    h, w = prior_dx.shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    map_c = cols + np.nan_to_num(residual_dx).astype(np.float32)
    map_r = rows + np.nan_to_num(residual_dy).astype(np.float32)
    return (residual_dx + _sample(prior_dx, map_c, map_r), residual_dy + _sample(prior_dy, map_c, map_r))


def residual_target(dx: np.ndarray, dy: np.ndarray, prior_dx: np.ndarray, prior_dy: np.ndarray,
                    iterations: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The residual ``rho`` with ``rho + p(r + rho) = d`` (fixed-point iteration from ``d - p``)."""
    h, w = prior_dx.shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    rdx, rdy = dx - prior_dx, dy - prior_dy
    for _ in range(iterations):
        map_c = cols + np.nan_to_num(rdx).astype(np.float32)
        map_r = rows + np.nan_to_num(rdy).astype(np.float32)
        rdx = dx - _sample(prior_dx, map_c, map_r)
        rdy = dy - _sample(prior_dy, map_c, map_r)
    return rdx.astype(np.float32), rdy.astype(np.float32)
