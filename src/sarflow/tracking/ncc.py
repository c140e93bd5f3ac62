"""Normalized cross-correlation volumes for many chips and chip sizes at once.

The tracker evaluates, for every grid point ``p``, every chip size ``c`` and
every integer lag ``d`` of a rectangle of lags, the zero-mean normalized cross
correlation

.. math::

    \\rho_c(p, d) = \\frac{\\sum_{u \\in W_c(p)} R(u) S(u + d) - n^{-1}
    \\sum R \\sum S}{\\sqrt{(\\sum R^2 - n^{-1} (\\sum R)^2)
    (\\sum S^2 - n^{-1} (\\sum S)^2)}},

with ``W_c(p)`` the ``c x c`` chip centred on ``p`` and ``n = c**2``.

Instead of correlating chip by chip, the loop runs over lags: for one lag the
product image ``R(u) S(u + d)`` of a whole block is formed once, summed over
``g x g`` cells (``g`` the greatest common divisor of the step and the chip
geometry; chips of every size are unions of cells), and the chip sums of all
grid points and all chip sizes are read from one integral image of the cell
sums. The cost per grid point and lag is ``O(step**2)`` however large the
chips, so extra chip sizes (multi-kernel) cost almost nothing, and a dense
grid (``step = 1``) costs a few operations per pixel and lag. The secondary
sums ``sum S`` and ``sum S**2`` come from box-sum images computed once per
block. Products and cell sums are float32, integral images float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["cell_size", "NccVolume", "ncc_volume", "box_sums"]


def cell_size(step: int, chip_sizes: tuple[int, ...]) -> int:
    """Side ``g`` of the cells every chip is made of, pixels.

    ``g`` divides ``step``, every chip size and every difference of half chip
    sizes, so that all chips of a grid are unions of ``g x g`` cells.
    """
    cmax = max(chip_sizes)
    g = step
    for c in chip_sizes:
        g = math.gcd(g, c)
        g = math.gcd(g, cmax // 2 - c // 2) if cmax != c else g
    return max(g, 1)


def box_sums(img: np.ndarray, c: int) -> np.ndarray:
    """Sums over every ``c x c`` window of ``img``.

    Parameters
    ----------
    img : ndarray, shape (H, W)
    c : int
        Window side, pixels.

    Returns
    -------
    ndarray, shape (H - c + 1, W - c + 1), float64
        Element ``[y, x]`` is the sum of ``img[y:y + c, x:x + c]``.
    """
    return _box_from_integral(cv2.integral(np.ascontiguousarray(img), sdepth=cv2.CV_64F), c)


def _box_from_integral(ii: np.ndarray, c: int) -> np.ndarray:
    return ii[c:, c:] - ii[:-c, c:] - ii[c:, :-c] + ii[:-c, :-c]


@dataclass
class NccVolume:
    """Correlation volume of one block.

    Attributes
    ----------
    ncc : ndarray, shape (K, ni, nj, ndy, ndx), float32
        Correlation for chip size ``k``, grid point ``(i, j)`` and lag
        ``(dy0 + a, dx0 + b)``; NaN where a chip has no variance.
    ref_invalid : ndarray, shape (K, ni, nj)
        Fraction of nodata pixels in each reference chip.
    sec_invalid : list of ndarray
        Per chip size, the fraction of nodata pixels in the ``c x c``
        secondary window whose top-left corner is at each pixel of the
        secondary block (see :func:`ncc_volume`).
    dy0, dx0 : int
        Lag of the first volume entry along each axis.
    """

    ncc: np.ndarray
    ref_invalid: np.ndarray
    sec_invalid: list
    dy0: int
    dx0: int


def ncc_volume(ref: np.ndarray, ref_bad: np.ndarray, sec: np.ndarray, sec_bad: np.ndarray,
               chip_sizes: tuple[int, ...], step: int, ni: int, nj: int,
               dy0: int, dx0: int, ndy: int, ndx: int, lags: np.ndarray | None = None) -> NccVolume:
    """Correlation volume of a block of grid points for a rectangle of lags.

    Parameters
    ----------
    ref : ndarray, shape (Hr, Wr), float32
        Reference block, ``Hr = (ni - 1) * step + cmax``, likewise ``Wr``,
        with ``cmax = max(chip_sizes)``. Grid point ``(i, j)`` is the pixel
        ``(i * step + cmax // 2, j * step + cmax // 2)``; its chip of size
        ``c`` starts ``c // 2`` pixels above and left of it. Nodata pixels
        must hold 0 (values should be roughly zero-mean).
    ref_bad : ndarray, shape (Hr, Wr), float32
        1 at nodata pixels of ``ref``, else 0.
    sec : ndarray, shape (Hr + ndy - 1, Wr + ndx - 1), float32
        Secondary block; ``sec[y, x]`` lies at ``ref[y + dy0, x + dx0]``'s
        lag origin, i.e. the chip of lag ``(dy0 + a, dx0 + b)`` is read from
        ``sec`` shifted by ``(a, b)``. Nodata pixels hold 0.
    sec_bad : ndarray, same shape as ``sec``, float32
    chip_sizes : tuple of int
        Even chip sizes, ascending.
    step : int
        Grid spacing, pixels.
    ni, nj : int
        Grid points in the block along rows and columns.
    dy0, dx0 : int
        First lag along rows / columns, pixels.
    ndy, ndx : int
        Number of lags along rows / columns.
    lags : ndarray of bool, shape (ndy, ndx), optional
        Lags to evaluate; the others are NaN in the volume (and cost
        nothing in the loop over lags). Default: all.

    Returns
    -------
    NccVolume

    Notes
    -----
    The loop over lags only forms the product image, its cell sums and
    their integral image, and reads the chip sums of every grid point; the
    normalisation is then done once for all lags. Products and cell sums are
    float32 (relative error about 1e-7 per term), integral images float64.
    """
    chips = tuple(chip_sizes)
    cmax = max(chips)
    hr, wr = ref.shape
    g = cell_size(step, chips)
    st = step // g
    hc, wc = hr // g, wr // g
    nchip = len(chips)
    nlag = ndy * ndx

    ref64 = ref.astype(np.float64)
    iref = cv2.integral(ref64, sdepth=cv2.CV_64F)
    iref2 = cv2.integral(ref64 * ref64, sdepth=cv2.CV_64F)
    ibad = cv2.integral(ref_bad.astype(np.float64), sdepth=cv2.CV_64F)
    sec64 = sec.astype(np.float64)
    isec = cv2.integral(sec64, sdepth=cv2.CV_64F)
    isec2 = cv2.integral(sec64 * sec64, sdepth=cv2.CV_64F)
    isbad = cv2.integral(sec_bad.astype(np.float64), sdepth=cv2.CV_64F)

    cross = (np.empty if lags is None else np.zeros)((nchip, nlag, ni, nj), np.float64)
    cells = [(cmax // 2 - c // 2) // g for c in chips]
    prod = np.empty((hr, wr), np.float32)
    small = np.empty((hc, wc), np.float32) if g > 1 else prod
    sec = np.ascontiguousarray(sec)
    lag = -1
    for a in range(ndy):
        for b in range(ndx):
            lag += 1
            if lags is not None and not lags[a, b]:
                continue
            cv2.multiply(ref, sec[a:a + hr, b:b + wr], dst=prod)
            if g > 1:
                cv2.resize(prod, (wc, hc), dst=small, interpolation=cv2.INTER_AREA)
            ip = cv2.integral(small, sdepth=cv2.CV_64F)
            for k, c in enumerate(chips):
                cross[k, lag] = _grid_box(ip, cells[k], c // g, st, ni, nj)
    if g > 1:
        cross *= float(g * g)

    vol = np.empty((nchip, ni, nj, ndy, ndx), np.float32)
    ref_inv = np.empty((nchip, ni, nj), np.float32)
    sec_inv = []
    for k, c in enumerate(chips):
        o = cmax // 2 - c // 2
        n = float(c * c)
        sr = _grid_box(iref, o, c, step, ni, nj)
        vr = np.maximum(_grid_box(iref2, o, c, step, ni, nj) - sr * sr / n, 0.0)
        ref_inv[k] = _grid_box(ibad, o, c, step, ni, nj) / n
        sec_inv.append(_box_from_integral(isbad, c) / n)
        # secondary sums of every lag and grid point: strided views, no copies
        ss = _lag_view(_box_from_integral(isec, c)[o:, o:], ndy, ndx, ni, nj, step)
        ss2 = _lag_view(_box_from_integral(isec2, c)[o:, o:], ndy, ndx, ni, nj, step)
        num = cross[k].reshape(ndy, ndx, ni, nj)
        num -= (sr / n)[None, None] * ss
        den = ss2 - ss * ss / n
        den *= vr[None, None]
        ok = den > 1e-12 * n * n
        np.sqrt(den, out=den, where=ok)
        np.divide(num, den, out=num, where=ok)
        num[~ok] = np.nan
        if lags is not None:
            num[~lags] = np.nan
        vol[k] = num.transpose(2, 3, 0, 1)
    return NccVolume(vol, ref_inv, sec_inv, dy0, dx0)


def _lag_view(box: np.ndarray, ndy: int, ndx: int, ni: int, nj: int, step: int) -> np.ndarray:
    """View ``v[a, b, i, j] = box[a + i * step, b + j * step]`` of a box-sum image."""
    s0, s1 = box.strides
    return np.lib.stride_tricks.as_strided(box, shape=(ndy, ndx, ni, nj), strides=(s0, s1, s0 * step, s1 * step),
                                           writeable=False)


def _grid_box(ii: np.ndarray, o: int, length: int, st: int, ni: int, nj: int) -> np.ndarray:
    """Box sums of side ``length`` starting at ``o + i*st`` from integral image ``ii``."""
    r0 = slice(o, o + (ni - 1) * st + 1, st)
    r1 = slice(o + length, o + length + (ni - 1) * st + 1, st)
    c0 = slice(o, o + (nj - 1) * st + 1, st)
    c1 = slice(o + length, o + length + (nj - 1) * st + 1, st)
    return ii[r1, c1] - ii[r0, c1] - ii[r1, c0] + ii[r0, c0]
