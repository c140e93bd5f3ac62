"""Integer peak search and sub-pixel refinement of correlation surfaces.

Interpolating the correlation surface with a separable kernel ``K`` is the
same as correlating against the secondary resampled with ``K`` at the
fractional lag (the correlation numerator is linear in the secondary), so the
``"sinc"`` and ``"lanczos"`` methods re-match the chip at sub-pixel lags
without resampling any image: the interpolated surface is maximised with
Newton iterations started from the 3-point parabola estimate.

Measured bias (mean error against the true fractional shift 0..1, chip 32,
half-band speckle amplitude, 2 x 225 points per fraction):

============  ================  ============================
method        max abs bias, px  per-point std at coherence 1
============  ================  ============================
parabola      0.094             0.021
gaussian      0.017             0.022
lanczos (3)   0.046             0.008
sinc          0.013             0.011
============  ================  ============================

``"sinc"`` is a Kaiser-windowed sinc of half-width 4 and beta 3.0; the
parabola locks estimates towards whole pixels ("pixel locking", Westerweel
1997; Debella-Gilo & Kääb 2011). Keys cubic convolution was also measured and
is worse than the parabola (0.16 px).
"""

from __future__ import annotations

import numpy as np

__all__ = ["PATCH_HALF", "peak_patch", "refine", "kernel_weights"]

#: Half-width of the correlation patch each method needs around the peak.
PATCH_HALF = {"sinc": 4, "lanczos": 3, "parabola": 1, "gaussian": 1}

#: Kaiser window shape of the ``"sinc"`` kernel (chosen from the bias curve
#: measured on half-band speckle amplitude; see the module docstring).
KAISER_BETA = 3.0


def _lanczos(t: np.ndarray, a: int = 3) -> np.ndarray:
    out = np.sinc(t) * np.sinc(t / a)
    out[np.abs(t) >= a] = 0.0
    return out


def _kaiser_sinc(t: np.ndarray, a: int = 4, beta: float = KAISER_BETA) -> np.ndarray:
    w = np.i0(beta * np.sqrt(np.clip(1.0 - (t / a) ** 2, 0.0, None))) / np.i0(beta)
    out = np.sinc(t) * w
    out[np.abs(t) >= a] = 0.0
    return out


_TABLE_RES = 2048


def _table(kind: str):
    """Kernel, first and second derivative tabulated on ``[-half, half]``."""
    half = PATCH_HALF[kind]
    key = (kind, half)
    if key not in _TABLES:
        t = np.arange(-half * _TABLE_RES, half * _TABLE_RES + 1) / _TABLE_RES
        k = _lanczos(t) if kind == "lanczos" else _kaiser_sinc(t)
        d1 = np.gradient(k, 1.0 / _TABLE_RES)
        d2 = np.gradient(d1, 1.0 / _TABLE_RES)
        _TABLES[key] = (t, k, d1, d2)
    return _TABLES[key]


_TABLES: dict = {}


def kernel_weights(u: np.ndarray, half: int, method: str, derivatives: bool = False):
    """Normalised interpolation weights at offsets ``u`` from the patch centre.

    Parameters
    ----------
    u : ndarray, shape (N,)
        Fractional positions relative to the centre tap, pixels.
    half : int
        Patch half-width; taps at ``-half .. half``.
    method : {"sinc", "lanczos"}
    derivatives : bool
        Also return the first and second derivatives with respect to ``u``.

    Returns
    -------
    w : ndarray, shape (N, 2 * half + 1)
        Weights summing to 1 (and ``dw``, ``d2w`` if asked).
    """
    t_tab, k_tab, d1_tab, d2_tab = _table(method)
    taps = np.arange(-half, half + 1, dtype=np.float64)
    t = u[:, None] - taps[None, :]
    k = np.interp(t, t_tab, k_tab, left=0.0, right=0.0)
    s = k.sum(axis=1, keepdims=True)
    if not derivatives:
        return k / s
    k1 = np.interp(t, t_tab, d1_tab, left=0.0, right=0.0)
    k2 = np.interp(t, t_tab, d2_tab, left=0.0, right=0.0)
    s1 = k1.sum(axis=1, keepdims=True)
    s2 = k2.sum(axis=1, keepdims=True)
    w = k / s
    w1 = k1 / s - k * s1 / s ** 2
    w2 = k2 / s - 2 * k1 * s1 / s ** 2 - k * s2 / s ** 2 + 2 * k * s1 ** 2 / s ** 3
    return w, w1, w2


def peak_patch(surf: np.ndarray, allowed: np.ndarray | None, half: int):
    """Integer peak of each surface and the patch around it.

    Parameters
    ----------
    surf : ndarray, shape (N, A, B)
        Correlation surfaces (NaN allowed).
    allowed : ndarray of bool, shape (N, A, B) or None
        Lags where the peak may lie (the search window of each point).
    half : int
        Half-width of the returned patch.

    Returns
    -------
    ia, ib : ndarray of int, shape (N,)
        Peak indices (``-1`` where no finite value is allowed or the patch
        would leave the surface).
    peak : ndarray, shape (N,)
        Peak value.
    second : ndarray, shape (N,)
        Highest value outside the 5 x 5 neighbourhood of the peak among the
        allowed lags (NaN if there is none).
    patch : ndarray, shape (N, 2 * half + 1, 2 * half + 1), float64
        Surface around the peak (NaN filled with the patch minimum).
    """
    n, na, nb = surf.shape
    s = np.where(np.isfinite(surf), surf, -np.inf)
    if allowed is not None:
        s = np.where(allowed, s, -np.inf)
    flat = s.reshape(n, -1)
    idx = np.argmax(flat, axis=1)
    peak = flat[np.arange(n), idx]
    ia, ib = np.divmod(idx, nb)
    good = np.isfinite(peak) & (ia >= half) & (ia < na - half) & (ib >= half) & (ib < nb - half)
    ia = np.where(good, ia, -1)
    ib = np.where(good, ib, -1)
    # second peak: mask a 5 x 5 neighbourhood of the main one
    aa = np.arange(na)[None, :, None]
    bb = np.arange(nb)[None, None, :]
    near = (np.abs(aa - ia[:, None, None]) <= 2) & (np.abs(bb - ib[:, None, None]) <= 2)
    s2 = np.where(near, -np.inf, s).reshape(n, -1).max(axis=1)
    second = np.where(np.isfinite(s2), s2, np.nan)
    offs = np.arange(-half, half + 1)
    ra = np.clip(np.where(good, ia, half)[:, None] + offs[None, :], 0, na - 1)
    rb = np.clip(np.where(good, ib, half)[:, None] + offs[None, :], 0, nb - 1)
    patch = surf[np.arange(n)[:, None, None], ra[:, :, None], rb[:, None, :]].astype(np.float64)
    fin = np.isfinite(patch)
    pmin = np.where(fin, patch, np.inf).min(axis=(1, 2))
    pmin = np.where(np.isfinite(pmin), pmin, 0.0)
    patch = np.where(fin, patch, pmin[:, None, None])
    peak = np.where(good, peak, np.nan)
    return ia, ib, peak, second, patch


def _parabola(patch: np.ndarray, half: int):
    c = patch[:, half, half]
    ym, yp = patch[:, half - 1, half], patch[:, half + 1, half]
    xm, xp = patch[:, half, half - 1], patch[:, half, half + 1]
    return _vertex(ym, c, yp), _vertex(xm, c, xp)


def _vertex(m, c, p):
    den = m - 2 * c + p
    ok = den < 0
    out = np.zeros_like(c)
    np.divide(m - p, 2 * den, out=out, where=ok)
    return np.clip(out, -1.0, 1.0)


def _gaussian(patch: np.ndarray, half: int):
    c = patch[:, half, half]
    ym, yp = patch[:, half - 1, half], patch[:, half + 1, half]
    xm, xp = patch[:, half, half - 1], patch[:, half, half + 1]
    ok = (c > 0) & (ym > 0) & (yp > 0) & (xm > 0) & (xp > 0)
    tiny = 1e-12
    lg = [np.log(np.where(ok, np.maximum(v, tiny), 1.0)) for v in (ym, c, yp, xm, xp)]
    gy, gx = _vertex(lg[0], lg[1], lg[2]), _vertex(lg[3], lg[1], lg[4])
    py, px = _parabola(patch, half)
    return np.where(ok, gy, py), np.where(ok, gx, px)


def refine(patch: np.ndarray, method: str, iterations: int = 4):
    """Sub-pixel position of the maximum of each patch.

    Parameters
    ----------
    patch : ndarray, shape (N, 2h + 1, 2h + 1)
        Correlation values at integer lags around the integer peak (centre).
    method : {"sinc", "lanczos", "parabola", "gaussian"}
    iterations : int
        Newton iterations for the interpolating methods.

    Returns
    -------
    sy, sx : ndarray, shape (N,)
        Offsets of the maximum from the centre, pixels, in ``[-1, 1]``.
    curv_y, curv_x : ndarray, shape (N,)
        Curvature ``-f'' / f`` of the surface at the maximum along each
        axis, 1 / pixel**2 (NaN where not a maximum).
    """
    half = patch.shape[1] // 2
    if method in ("parabola", "gaussian") or half < 2:
        sy, sx = _gaussian(patch, half) if method == "gaussian" else _parabola(patch, half)
        c = patch[:, half, half]
        with np.errstate(all="ignore"):
            cy = -(patch[:, half - 1, half] - 2 * c + patch[:, half + 1, half]) / np.abs(c)
            cx = -(patch[:, half, half - 1] - 2 * c + patch[:, half, half + 1]) / np.abs(c)
        return sy, sx, np.where(cy > 0, cy, np.nan), np.where(cx > 0, cx, np.nan)
    kind = method
    sy, sx = _parabola(patch, half)
    h = 1e-3
    for _ in range(iterations):
        f, gy, gx, hyy, hxx, hxy = _derivs(patch, sy, sx, half, kind, h)
        det = hyy * hxx - hxy * hxy
        nd = (hyy < 0) & (det > 0)
        safe = np.where(nd, det, 1.0)
        dy = np.where(nd, -(hxx * gy - hxy * gx) / safe, 0.05 * np.sign(gy))
        dx = np.where(nd, -(hyy * gx - hxy * gy) / safe, 0.05 * np.sign(gx))
        dy = np.clip(dy, -0.25, 0.25)
        dx = np.clip(dx, -0.25, 0.25)
        sy = np.clip(sy + dy, -1.0, 1.0)
        sx = np.clip(sx + dx, -1.0, 1.0)
    f, gy, gx, hyy, hxx, hxy = _derivs(patch, sy, sx, half, kind, h)
    af = np.maximum(np.abs(f), 1e-12)
    cy, cx = -hyy / af, -hxx / af
    return sy, sx, np.where(cy > 0, cy, np.nan), np.where(cx > 0, cx, np.nan)


def _derivs(patch, sy, sx, half, kind, h):
    wy, dwy, d2wy = kernel_weights(sy, half, kind, derivatives=True)
    wx, dwx, d2wx = kernel_weights(sx, half, kind, derivatives=True)
    cx_ = np.einsum("nab,nb->na", patch, wx)
    cdx = np.einsum("nab,nb->na", patch, dwx)
    cd2x = np.einsum("nab,nb->na", patch, d2wx)
    f = np.einsum("na,na->n", wy, cx_)
    gy = np.einsum("na,na->n", dwy, cx_)
    gx = np.einsum("na,na->n", wy, cdx)
    hyy = np.einsum("na,na->n", d2wy, cx_)
    hxx = np.einsum("na,na->n", wy, cd2x)
    hxy = np.einsum("na,na->n", dwy, cdx)
    return f, gy, gx, hyy, hxx, hxy
