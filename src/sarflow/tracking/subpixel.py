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

``"sinc"`` is a Kaiser-windowed sinc of half-width 4 (the row above with
beta 3.0; the shipped beta is 6.0, see below); the parabola locks estimates towards whole pixels ("pixel locking", Westerweel
1997; Debella-Gilo & Kääb 2011). Keys cubic convolution was also measured and
is worse than the parabola (0.16 px).

Maximising the sinc-interpolated surface has a flaw on amplitude images:
their correlation peak is sharp-topped (amplitude is not band-limited), so
where the true shift is near a whole pixel the interpolant dips at the
sampled top and the estimates split to about +-0.07 px either side of it
(at coherence 0.8 and chip 32 the RMSE rose from 0.085 px at half-pixel
shifts to 0.138 px at whole-pixel ones). ``"sinc"`` therefore finds, per
axis, the point where the interpolated surface is equal ``BALANCE_SPAN``
(0.7) px either side, which for a symmetric peak is its top but does not
depend on the shape of the top. Measured on simulated pairs
(``sarflow.simulation``, coherence 0.8, six fractional shifts 0..0.75):
RMSE 0.097 px (chip 32) and 0.054 px (chip 64) against 0.103 and 0.062 px
for the maximum, with max |bias| below 0.02 px on half-band speckle (the
table above is for the maximum; both with beta 3.0).

The remaining bias is systematic: about -0.02 px at fractional shifts
0.25-0.375 and +0.015 px at 0.625-0.75, alike for chips 32 and 64, 1 or 4
looks and resolutions 1.6 to 2.6 px. It does not average out where
estimates are pooled or smoothed (a uniform shift; the prior of the
residual route), so the window shape was chosen on it with
``python benchmarks/bench_subpixel_bias.py --span 0.7 --beta 3,6`` (RMS bias
over 16 fractions, chip 64, coherence 0.9: 0.0120 -> 0.0073 px at resolution
2.0, 0.0199 -> 0.0183 px at 1.6; spread unchanged) and confirmed on the
held-out scenes' seeds the benchmark does not report
(``python benchmarks/bench_prior_smoothing.py --first-repeat 20 --repeats 3
--beta B --span S``; the adaptive prior on the uniform shift 0.037 px with
beta 3, 0.032 with beta 6). A span of 1.0 px removes more of the bias (RMS
0.004 px in ``bench_subpixel_bias.py --span 1.0 --beta 6``) but widens the
spread by about 10 %, which cost more than it gave on the fault and Mogi
scenes (``--span 1.0 --beta 6`` above).
"""

from __future__ import annotations

import numpy as np

__all__ = ["PATCH_HALF", "peak_patch", "refine", "kernel_weights", "fraction_weights"]

#: Half-width of the correlation patch each method needs around the peak.
PATCH_HALF = {"sinc": 4, "lanczos": 3, "parabola": 1, "gaussian": 1}

#: Half-distance, pixels, of the two points the ``"sinc"`` method balances
#: (see :func:`refine`); chosen from the bias and spread measured on simulated
#: amplitude pairs (module docstring).
BALANCE_SPAN = 0.7

#: Kaiser window shape of the ``"sinc"`` kernel (chosen from the bias curve
#: measured on simulated amplitude pairs, ``benchmarks/bench_subpixel_bias.py``;
#: see the module docstring).
KAISER_BETA = 6.0


def _lanczos(t: np.ndarray, a: int = 3) -> np.ndarray:
    out = np.sinc(t) * np.sinc(t / a)
    out[np.abs(t) >= a] = 0.0
    return out


def _kaiser_sinc(t: np.ndarray, a: int = 4, beta: float | None = None) -> np.ndarray:
    beta = KAISER_BETA if beta is None else beta
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
        for a in (k, d1, d2):
            a[[0, -1]] = 0.0
        _TABLES[key] = (t, k, d1, d2)
    return _TABLES[key]


_TABLES: dict = {}


def kernel_weights(u: np.ndarray, half: int, method: str, derivatives: int = 0):
    """Normalised interpolation weights at offsets ``u`` from the patch centre.

    Parameters
    ----------
    u : ndarray, shape (N,)
        Fractional positions relative to the centre tap, pixels.
    half : int
        Patch half-width; taps at ``-half .. half``.
    method : {"sinc", "lanczos"}
    derivatives : {0, 1, 2}
        Also return the derivatives with respect to ``u`` up to this order.

    Returns
    -------
    w : ndarray, shape (N, 2 * half + 1)
        Weights summing to 1, then ``dw`` and ``d2w`` as asked.
    """
    # nearest entry of the 1/2048 px table (position error <= 1/4096 px); the
    # taps sit whole pixels, i.e. whole multiples of the table step, apart
    base = np.rint(np.asarray(u, dtype=np.float64) * _TABLE_RES).astype(np.intp)
    # Positions within +-_ROWS_REACH px (all the sub-pixel search visits) take their rows from a
    # cache of every table position: the same numbers, without normalising point by point.
    key = ("rows", method, half, derivatives)
    reach = _ROWS_REACH * _TABLE_RES
    if base.size and -reach <= base.min() and base.max() <= reach:
        if key not in _TABLES:
            rows = _weights_at(np.arange(-reach, reach + 1), half, method, derivatives)
            _TABLES[key] = rows if derivatives else (rows,)
        out = tuple(r.take(base + reach, axis=0) for r in _TABLES[key])
        return out if derivatives else out[0]
    return _weights_at(base, half, method, derivatives)


#: Positions, px from the patch centre, whose weights `kernel_weights` caches.
_ROWS_REACH = 2


def _weights_at(base: np.ndarray, half: int, method: str, derivatives: int):
    """`kernel_weights` at table positions ``base`` (multiples of 1/_TABLE_RES px)."""
    t_tab, k_tab, d1_tab, d2_tab = _table(method)
    offs = (np.arange(half, -half - 1, -1) - int(round(t_tab[0]))) * _TABLE_RES
    idx = np.clip(base[:, None] + offs[None, :], 0, k_tab.size - 1)
    k = k_tab[idx]
    s = k.sum(axis=1, keepdims=True)
    if not derivatives:
        return k / s
    k1 = d1_tab[idx]
    s1 = k1.sum(axis=1, keepdims=True)
    w = k / s
    w1 = k1 / s - w * (s1 / s)
    if derivatives == 1:
        return w, w1
    k2 = d2_tab[idx]
    s2 = k2.sum(axis=1, keepdims=True)
    w2 = k2 / s - 2 * k1 * s1 / s ** 2 - k * s2 / s ** 2 + 2 * k * s1 ** 2 / s ** 3
    return w, w1, w2


def fraction_weights(t: np.ndarray, method: str = "sinc") -> np.ndarray:
    """`kernel_weights` for fractions ``t`` in [0, 1] of the ``2 * half`` taps ``-half + 1 .. half``.

    The interpolation weights of a position ``floor(p) + t``: tap ``k`` weighs pixel ``floor(p) + k``.
    The same values as ``kernel_weights(t, half, method)[:, 1:]`` (the tap at ``-half`` is ``half + t``
    px away, outside the kernel), in float32, looked up per fraction in a table of every
    1/2048 px (built once per kernel), which makes this several times faster.

    Returns
    -------
    ndarray, shape ``t.shape + (2 * half,)``, float32
    """
    half = PATCH_HALF[method]
    key = ("fractions", method, half)
    if key not in _TABLES:
        grid = np.arange(_TABLE_RES + 1) / _TABLE_RES
        _TABLES[key] = kernel_weights(grid, half, method)[:, 1:].astype(np.float32)
    table = _TABLES[key]
    q = np.rint(np.asarray(t, dtype=np.float64).ravel() * _TABLE_RES).astype(np.intp)
    if q.size and (q.min() < 0 or q.max() > _TABLE_RES):
        raise ValueError("fractions must lie in [0, 1]")
    return table.take(q, axis=0).reshape(np.shape(t) + (2 * half,))


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
    keep = np.isfinite(surf)
    if allowed is not None:
        keep &= allowed
    s = np.where(keep, surf, -np.inf)
    flat = s.reshape(n, -1)
    idx = np.argmax(flat, axis=1)
    peak = np.take_along_axis(flat, idx[:, None], axis=1)[:, 0]
    ia, ib = np.divmod(idx, nb)
    good = np.isfinite(peak) & (ia >= half) & (ia < na - half) & (ib >= half) & (ib < nb - half)
    ia = np.where(good, ia, -1)
    ib = np.where(good, ib, -1)
    # second peak: mask the 5 x 5 neighbourhood of the main one in place (clipped to the surface;
    # where a point has no peak, ia = ib = -1, that is the corner s[:2, :2], unused), then take the maximum
    near = np.arange(-2, 3)
    ra = np.clip(ia[:, None] + near, 0, na - 1)
    rb = np.clip(ib[:, None] + near, 0, nb - 1)
    at = (np.arange(n) * (na * nb))[:, None, None] + ra[:, :, None] * nb + rb[:, None, :]
    s.reshape(-1)[at.ravel()] = -np.inf
    s2 = flat.max(axis=1)
    second = np.where(np.isfinite(s2), s2, np.nan)
    patch = _patches(surf, np.where(good, ia, half), np.where(good, ib, half), half)
    fin = np.isfinite(patch)
    holed = np.flatnonzero(~fin.all(axis=(1, 2)))
    if holed.size:
        p, f = patch[holed], fin[holed]
        pmin = np.where(f, p, np.inf).min(axis=(1, 2))
        pmin = np.where(np.isfinite(pmin), pmin, 0.0)
        patch[holed] = np.where(f, p, pmin[:, None, None])
    peak = np.where(good, peak, np.nan)
    return ia, ib, peak, second, patch


def _patches(surf: np.ndarray, ca: np.ndarray, cb: np.ndarray, half: int) -> np.ndarray:
    """Patches ``surf[k, ca - half:ca + half + 1, cb - half:cb + half + 1]``, float64.

    Where the surface holds a whole patch the centres must lie at least
    ``half`` from its edges; otherwise indices are clipped to the surface.
    """
    n, na, nb = surf.shape
    w = 2 * half + 1
    if na >= w and nb >= w:
        win = np.lib.stride_tricks.sliding_window_view(surf, (w, w), axis=(1, 2))
        return win[np.arange(n), ca - half, cb - half].astype(np.float64)
    offs = np.arange(-half, half + 1)
    ra = np.clip(ca[:, None] + offs[None, :], 0, na - 1)
    rb = np.clip(cb[:, None] + offs[None, :], 0, nb - 1)
    return surf[np.arange(n)[:, None, None], ra[:, :, None], rb[:, None, :]].astype(np.float64)


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
    if method == "sinc":
        sy, sx = _balance(patch, sy, sx, half, iterations)
    else:
        sy, sx = _newton_max(patch, sy, sx, half, kind, iterations)
    f, gy, gx, hyy, hxx, hxy = _derivs(patch, sy, sx, half, kind)
    af = np.maximum(np.abs(f), 1e-12)
    cy, cx = -hyy / af, -hxx / af
    return sy, sx, np.where(cy > 0, cy, np.nan), np.where(cx > 0, cx, np.nan)


def _newton_max(patch, sy, sx, half, kind, iterations):
    """Maximum of the interpolated surface by damped Newton iterations."""
    for _ in range(iterations):
        f, gy, gx, hyy, hxx, hxy = _derivs(patch, sy, sx, half, kind)
        det = hyy * hxx - hxy * hxy
        nd = (hyy < 0) & (det > 0)
        safe = np.where(nd, det, 1.0)
        dy = np.where(nd, -(hxx * gy - hxy * gx) / safe, 0.05 * np.sign(gy))
        dx = np.where(nd, -(hyy * gx - hxy * gy) / safe, 0.05 * np.sign(gx))
        sy = np.clip(sy + np.clip(dy, -0.25, 0.25), -1.0, 1.0)
        sx = np.clip(sx + np.clip(dx, -0.25, 0.25), -1.0, 1.0)
    return sy, sx


def _balance(patch, sy, sx, half, iterations, tol=1e-3):
    """Point where the interpolated surface is equal ``BALANCE_SPAN`` px either side, per axis.

    Solves ``f(y + h, x) = f(y - h, x)`` and ``f(y, x + h) = f(y, x - h)``
    by Newton iterations. For a symmetric peak this is its maximum; unlike
    the zero of the derivative at the maximum it is not thrown off by the
    sharp top of amplitude correlation peaks sampled at whole pixels. A
    point stops iterating once its step is below ``tol`` pixels (two steps
    usually suffice from the parabola start).
    """
    h = BALANCE_SPAN
    sy, sx = sy.copy(), sx.copy()
    act = np.arange(len(sy))
    for _ in range(iterations):
        p = patch if act.size == len(patch) else patch[act]
        y, x = sy[act], sx[act]
        # the weights of all six positions from one table look-up
        w, dw = kernel_weights(np.concatenate([y + h, y - h, y, x + h, x - h, x]), half, "sinc", derivatives=1)
        wyp, wym, wy, wxp, wxm, wx = np.split(w, 6)
        dwyp, dwym, dwy, dwxp, dwxm, dwx = np.split(dw, 6)
        cols = np.einsum("nab,nb->na", p, wx)
        cols_d = np.einsum("nab,nb->na", p, dwx)
        rows = np.einsum("na,nab->nb", wy, p)
        rows_d = np.einsum("na,nab->nb", dwy, p)
        gy = np.einsum("na,na->n", wyp - wym, cols)
        jyy = np.einsum("na,na->n", dwyp - dwym, cols)
        jyx = np.einsum("na,na->n", wyp - wym, cols_d)
        gx = np.einsum("nb,nb->n", rows, wxp - wxm)
        jxx = np.einsum("nb,nb->n", rows, dwxp - dwxm)
        jxy = np.einsum("nb,nb->n", rows_d, wxp - wxm)
        det = jyy * jxx - jyx * jxy
        ok = (jyy < 0) & (jxx < 0) & (det > 0)
        safe = np.where(ok, det, 1.0)
        dy = np.clip(np.where(ok, -(jxx * gy - jyx * gx) / safe, 0.05 * np.sign(gy)), -0.25, 0.25)
        dx = np.clip(np.where(ok, -(jyy * gx - jxy * gy) / safe, 0.05 * np.sign(gx)), -0.25, 0.25)
        sy[act] = np.clip(y + dy, -1.0, 1.0)
        sx[act] = np.clip(x + dx, -1.0, 1.0)
        act = act[(np.abs(dy) > tol) | (np.abs(dx) > tol)]
        if act.size == 0:
            break
    return sy, sx


def _derivs(patch, sy, sx, half, kind):
    n = len(sy)
    w, dw, d2w = kernel_weights(np.concatenate([sy, sx]), half, kind, derivatives=2)
    wy, wx = w[:n], w[n:]
    dwy, dwx = dw[:n], dw[n:]
    d2wy, d2wx = d2w[:n], d2w[n:]
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
