"""Multi-kernel fusion of offset estimates made with several chip sizes.

After Chae et al. (2019), "Multi-kernel based offset tracking", IEEE Access 7,
doi:10.1109/ACCESS.2019.2938831: every grid point is matched with every chip
size and the estimates are combined from their own statistics, so that large
chips give precision where the motion is smooth and small chips keep the
resolution where it is not.

Why selection and not an inverse-variance mean
----------------------------------------------
The chips of one grid point are nested: the 128 px chip contains the 64 px
chip, which contains the 32 px one. An offset estimate behaves like an
average of per-pixel contributions over its chip, so the error of a small
chip and of a larger one containing it share the larger one's error:
``cov(e_small, e_large) ~ var(e_large)``. Under that covariance the best
linear unbiased combination puts all the weight on the largest chip; the
smaller chips add no information where the large one is unbiased. What the
smaller chips *do* tell is whether the large one is biased, because the
difference of two nested estimates has the small variance
``var(e_small) - var(e_large)`` when both measure the same motion.

Rule used here, per grid point
------------------------------
1. A chip-size estimate is *valid* when it exists and passes the thresholds of
   :class:`~sarflow.tracking.config.TrackConfig` (``min_ncc``,
   ``min_peak_ratio``, ``min_significance``, ``max_sigma_px``,
   ``max_invalid_fraction``).
2. *Deformation budget.* Each chip size's own estimates, 3 x 3 median
   filtered, form a field; on the field of every chip size ``<= c`` the
   change ``G_c = max |d(p + c/2 e) - d(p - c/2 e)|`` and the curvature
   ``Q_c = max |d(p + c/2 e) + d(p - c/2 e) - 2 d(p)|`` across chip ``c`` are
   measured (both axes, both components), less ``NOISE_ALLOWANCE`` times that
   field's median error estimate, and the largest is kept. A large chip
   smooths away the shear it straddles, so only the finer chips' fields can
   reveal it (the 128 px chips on the tongue of Yahtse Glacier). A chip is
   *admissible* when ``G_c + Q_c <= max_chip_deformation_px``; the smallest
   valid chip always is. The deformation adds the error
   ``sqrt((Q_c / 6)**2 + (GRADIENT_ERROR * G_c)**2)`` to the chip's estimate
   (an area average of a curved field is biased by about ``Q_c / 6``; a
   gradient broadens the peak and lets the texture weight parts of the chip
   unevenly).
3. *Agreement.* A chip ``L`` agrees with a smaller chip ``S`` when
   ``|d_L - d_S| <= agree_sigmas * sqrt(max(sigma_S**2 - sigma_L**2, 0) +
   agree_floor_px**2)`` on both axes (nested errors: see above), and its
   squared deformation error exceeds that of ``S`` by no more than the
   noise variance it saves (``sigma_S**2 - sigma_L**2``, plus
   ``agree_floor_px**2``).
4. The *selected* chip is the largest admissible valid chip that agrees with
   the next smaller valid chip (the smallest valid chip needs no partner);
   a chip that disagrees passes the decision down to that smaller chip, so
   one noisy small-chip estimate cannot veto two large chips that agree.
   Where no chip qualifies, the valid chip with the smallest total error.
   ``fusion="select"`` returns its estimate.
   ``fusion="weighted"`` returns the generalised least-squares mean of the
   selected chip and the smaller valid chips that agree with it, under the
   nested covariance ``cov_jk = sigma_max(j, k)**2`` (it differs from the
   selected estimate only where the error model is not exactly nested).
5. ``sigma_px`` is the selected chip's error estimate and its deformation
   error in quadrature, enlarged in quadrature by the part of its
   disagreement with the next smaller valid chip that the nested noise does
   not explain, so a disagreement between kernels raises the error estimate
   instead of being hidden. The tracker rejects fused estimates whose
   ``sigma_px`` exceeds ``max_sigma_px``.

Constants (measured on the ``benchmarks/bench_track.py`` scenes, 512 and 256
px): ``GRADIENT_ERROR = 0.2`` puts 71-79 % of offset components within one
``sigma_px`` on every scene but the single-look low-coherence one;
``NOISE_ALLOWANCE = 5`` keeps the noise of the 32 px field from posing as
deformation on smooth scenes (at 2 the RMSE of a uniform shift rose from
0.035 to 0.044 px, as 64 px chips replaced 128 px ones).
"""

from __future__ import annotations

import numpy as np

from sarflow.tracking.gridops import fill_nearest

__all__ = ["fuse", "chip_deformation", "deformation_terms", "deformation_budget", "deformation_error",
           "GRADIENT_ERROR", "NOISE_ALLOWANCE"]

#: Error per pixel of offset change across a chip (see :func:`deformation_error`),
#: calibrated on the benchmark scenes so that about 68 % of errors fall within
#: one ``sigma_px``.
GRADIENT_ERROR = 0.2
#: Noise allowance, in median error estimates, subtracted from the deformation
#: measured on a chip size's field (see :func:`deformation_budget`).
NOISE_ALLOWANCE = 5.0


def _shifted(f: np.ndarray, di: int, dj: int) -> np.ndarray:
    """``f[i + di, j + dj]`` with edge replication."""
    h, w = f.shape
    i = np.clip(np.arange(h) + di, 0, h - 1)
    j = np.clip(np.arange(w) + dj, 0, w - 1)
    return f[np.ix_(i, j)]


def deformation_terms(dy: np.ndarray, dx: np.ndarray, chip: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Change and curvature of a smooth offset field across a chip, pixels.

    Parameters
    ----------
    dy, dx : ndarray, shape (h, w)
        Gap-free pilot offsets on the grid, pixels.
    chip : int
        Chip size, pixels.
    step : int
        Grid spacing, pixels.

    Returns
    -------
    change, curvature : ndarray, shape (h, w)
        ``max`` over both components and both axes of ``|d(p + s) - d(p - s)|``
        and of ``|d(p + s) + d(p - s) - 2 d(p)|``, with ``s`` half a chip
        (rounded to grid points, at least one).
    """
    k = max(1, int(round(chip / 2 / step)))
    g = np.zeros(dy.shape)
    q = np.zeros(dy.shape)
    for f in (dy, dx):
        for di, dj in ((k, 0), (0, k)):
            a, b = _shifted(f, di, dj), _shifted(f, -di, -dj)
            g = np.maximum(g, np.abs(a - b))
            q = np.maximum(q, np.abs(a + b - 2 * f))
    return g, q


def chip_deformation(dy: np.ndarray, dx: np.ndarray, chip: int, step: int) -> np.ndarray:
    """Change of a smooth offset field across a chip, pixels.

    Parameters
    ----------
    dy, dx : ndarray, shape (h, w)
        Gap-free pilot offsets on the grid, pixels.
    chip : int
        Chip size, pixels.
    step : int
        Grid spacing, pixels.

    Returns
    -------
    ndarray, shape (h, w)
        Change plus curvature from :func:`deformation_terms`.
    """
    g, q = deformation_terms(dy, dx, chip, step)
    return g + q


def _field(dy, dx, sigma, valid):
    """One chip size's 3 x 3 median field, gaps filled, and the 3 x 3 median of its error estimate."""
    out = []
    for f in (dy, dx, sigma):
        med = _nanmedian3(np.where(valid, f, np.nan))
        fin = np.isfinite(med)
        out.append(fill_nearest(med) if fin.any() else np.zeros_like(med))
    return out


def deformation_budget(dy, dx, sigma, valid, chips, step: int):
    """Deformation inside each chip, seen by that chip and by every finer one.

    A large chip smooths away the shear it straddles, so its own field
    cannot reveal it; a finer chip's field can. For chip ``c`` the change
    ``G_c`` and curvature ``Q_c`` across it (:func:`deformation_terms`) are
    measured on the 3 x 3 median field of every chip size ``<= c``, less the
    noise of that field (``NOISE_ALLOWANCE`` times its median error
    estimate), and the largest is kept.

    Parameters
    ----------
    dy, dx, sigma : ndarray, shape (K, h, w)
    valid : ndarray of bool, shape (K, h, w)
    chips : sequence of int
        Ascending chip sizes, pixels.
    step : int

    Returns
    -------
    change, curvature : ndarray, shape (K, h, w)
    """
    K, h, w = dy.shape
    fields = [_field(dy[j], dx[j], sigma[j], valid[j]) if valid[j].any() else None for j in range(K)]
    change = np.zeros((K, h, w))
    curv = np.zeros((K, h, w))
    for k, c in enumerate(chips):
        for j in range(k + 1):
            if fields[j] is None:
                continue
            fy, fx, fs = fields[j]
            g, q = deformation_terms(fy, fx, c, step)
            allow = NOISE_ALLOWANCE * fs
            change[k] = np.maximum(change[k], g - allow)
            curv[k] = np.maximum(curv[k], q - allow)
    return change, curv


def _nanmedian3(p: np.ndarray) -> np.ndarray:
    """Median of the finite values of each 3 x 3 neighbourhood (edges replicated), NaN where none.

    The values of ``np.nanmedian`` over the nine neighbours (the mean of the two middle values for
    an even count), computed by one sort of the neighbours per point (NaN sort last), without
    ``nanmedian``'s masked-array path.
    """
    pad = np.pad(p, 1, mode="edge")
    h, w = p.shape
    stack = np.stack([pad[a:a + h, b:b + w] for a in range(3) for b in range(3)], axis=-1)
    stack.sort(axis=-1)
    count = np.isfinite(stack).sum(axis=-1)
    lo = np.take_along_axis(stack, np.maximum((count - 1) // 2, 0)[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(stack, (count // 2)[..., None], axis=-1)[..., 0]
    med = np.where(count % 2 == 1, hi, (lo + hi) / 2)
    med[count == 0] = np.nan
    return med


def deformation_error(change: np.ndarray, curvature: np.ndarray) -> np.ndarray:
    """Error, pixels, that deformation inside a chip adds to its estimate.

    ``sqrt((curvature / 6)**2 + (GRADIENT_ERROR * change)**2)``: an area
    average of a curved field is biased by about a sixth of the curvature
    term, and a gradient across the chip broadens the peak and lets the
    texture weight some parts of the chip more than others.
    """
    return np.sqrt((curvature / 6.0) ** 2 + (GRADIENT_ERROR * change) ** 2)


def fuse(dy: np.ndarray, dx: np.ndarray, sigma: np.ndarray, valid: np.ndarray, *, chips, step: int,
         max_deformation: float, agree_sigmas: float, agree_floor: float, weighted: bool):
    """Fuse per-chip estimates on a grid.

    Parameters
    ----------
    dy, dx : ndarray, shape (K, h, w)
        Offsets per chip size (ascending sizes) and grid point, pixels.
    sigma : ndarray, shape (K, h, w)
        Error estimate of each, pixels.
    valid : ndarray of bool, shape (K, h, w)
    chips : sequence of int
        The K chip sizes, ascending, pixels.
    step : int
        Grid spacing, pixels.
    max_deformation, agree_sigmas, agree_floor : float
        See the module docstring (pixels, standard deviations, pixels).
    weighted : bool
        ``True`` for ``fusion="weighted"``.

    Returns
    -------
    fdy, fdx, fsigma : ndarray, shape (h, w)
        Fused offsets and error estimate (NaN where no chip is valid).
    chosen : ndarray of int, shape (h, w)
        Index of the selected chip size (``-1`` where none).
    n_agree : ndarray of int, shape (h, w)
        Number of valid chip sizes agreeing with the selected one (itself
        included).
    """
    K, h, w = dy.shape
    anyv = valid.any(axis=0)
    change, curv = deformation_budget(dy, dx, sigma, valid, chips, step)
    extra = deformation_error(change, curv)
    total = np.where(valid, np.sqrt(np.where(valid, sigma, 0.0) ** 2 + extra ** 2), np.inf)
    smallest = np.argmax(valid, axis=0)
    admissible = (change + curv <= max_deformation) | (np.arange(K)[:, None, None] == smallest[None])
    admissible &= valid

    def agrees(a, b):
        """Chip a (larger) agrees with chip b (smaller), per point."""
        sa, sb = np.where(valid[a], sigma[a], 0.0), np.where(valid[b], sigma[b], 0.0)
        tol = agree_sigmas * np.sqrt(np.maximum(sb ** 2 - sa ** 2, 0.0) + agree_floor ** 2)
        with np.errstate(invalid="ignore"):
            return (np.abs(dy[a] - dy[b]) <= tol) & (np.abs(dx[a] - dx[b]) <= tol)

    # descend from the largest chip; a chip is selected when admissible, in agreement with the
    # next smaller valid chip, and its deformation error grows by less than its noise shrinks
    e2 = extra ** 2
    chosen = np.full((h, w), -1, int)
    for k in range(K - 1, -1, -1):
        below = np.full((h, w), -1, int)
        for j in range(k):
            below = np.where(valid[j], j, below)
        ok = admissible[k] & (chosen < 0)
        ag = below < 0
        for j in range(k):
            gain = np.maximum(np.where(valid[j], sigma[j], 0.0) ** 2 - np.where(valid[k], sigma[k], 0.0) ** 2, 0.0)
            ag |= (below == j) & agrees(k, j) & (e2[k] - e2[j] <= gain + agree_floor ** 2)
        chosen = np.where(ok & ag, k, chosen)
    chosen = np.where((chosen < 0) & anyv, np.argmin(total, axis=0), chosen)
    c = np.maximum(chosen, 0)
    ii, jj = np.indices((h, w))
    sig = np.where(valid, sigma, np.inf)
    fdy, fdx, fsig = dy[c, ii, jj].astype(np.float64), dx[c, ii, jj].astype(np.float64), sig[c, ii, jj]
    fextra = extra[c, ii, jj]

    n_agree = np.ones((h, w), int)
    members = np.zeros_like(valid)
    members[c, ii, jj] = True
    for j in range(K):
        below = valid[j] & (j < chosen)
        with np.errstate(invalid="ignore"):
            sj = np.where(valid[j], sigma[j], 0.0)
            tol = agree_sigmas * np.sqrt(np.maximum(sj ** 2 - fsig ** 2, 0.0) + agree_floor ** 2)
            ag = below & (np.abs(dy[j] - fdy) <= tol) & (np.abs(dx[j] - fdx) <= tol)
        members[j] |= ag
        n_agree += ag

    # unexplained disagreement with the next smaller valid chip
    nxt = np.full((h, w), -1, int)
    for j in range(K):
        nxt = np.where(valid[j] & (j < chosen), j, nxt)
    has = nxt >= 0
    n = np.maximum(nxt, 0)
    with np.errstate(invalid="ignore"):
        expected = np.maximum(np.where(has, sig[n, ii, jj], 0.0) ** 2 - fsig ** 2, 0.0)
        excess = 0.5 * ((dy[n, ii, jj] - fdy) ** 2 + (dx[n, ii, jj] - fdx) ** 2) - expected
    excess = np.where(has & np.isfinite(excess), np.maximum(excess, 0.0), 0.0)

    if weighted:
        fdy, fdx, fsig = _gls(dy, dx, sig, members, fdy, fdx, fsig)
    fsig = np.sqrt(fsig ** 2 + fextra ** 2 + excess)
    nan = ~anyv
    fdy[nan] = np.nan
    fdx[nan] = np.nan
    fsig = np.where(nan, np.nan, fsig)
    chosen = np.where(nan, -1, chosen)
    n_agree = np.where(nan, 0, n_agree)
    return fdy, fdx, fsig, chosen, n_agree


def _gls(dy, dx, sig, members, fdy, fdx, fsig):
    """Generalised least-squares mean under ``cov_jk = sigma_max(j, k)**2`` (ascending chips)."""
    K, h, w = dy.shape
    idx = [np.flatnonzero(members[:, i, j]) for i, j in np.ndindex(h, w)]
    oy, ox, os_ = fdy.ravel().copy(), fdx.ravel().copy(), fsig.ravel().copy()
    for p, m in enumerate(idx):
        if m.size < 2:
            continue
        i, j = divmod(p, w)
        s = sig[m, i, j]
        cov = np.maximum.outer(np.arange(m.size), np.arange(m.size))
        cmat = s[cov] ** 2 + 1e-12 * np.eye(m.size)
        try:
            wv = np.linalg.solve(cmat, np.ones(m.size))
        except np.linalg.LinAlgError:
            continue
        tot = wv.sum()
        if not tot > 0:
            continue
        wv /= tot
        oy[p] = wv @ dy[m, i, j]
        ox[p] = wv @ dx[m, i, j]
        os_[p] = np.sqrt(max(wv @ cmat @ wv, 0.0))
    return oy.reshape(h, w), ox.reshape(h, w), os_.reshape(h, w)
