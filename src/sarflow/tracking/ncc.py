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
sums ``sum S`` and ``sum S**2`` are read from integral images of the block at
the positions the lags and grid points use, and the normalisation of each
chip size runs over blocks of grid rows small enough to stay in cache.
Products and cell sums are float32, integral images float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["cell_size", "NccVolume", "ncc_volume", "box_sums", "box_sums_at"]


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


def box_sums_at(ii: np.ndarray, rows, cols, c: int) -> np.ndarray:
    """Sums over the ``c x c`` windows with top-left corners ``(rows, cols)``, from an integral image.

    Parameters
    ----------
    ii : ndarray, shape (H + 1, W + 1)
        Integral image (``cv2.integral``) of an image of shape ``(H, W)``.
    rows, cols : array_like of int, broadcastable to each other
        Top-left corners of the windows, within ``0 .. H - c`` and ``0 .. W - c``.
    c : int
        Window side, pixels.

    Returns
    -------
    ndarray, shape of ``rows`` and ``cols`` broadcast, float64
        The values of ``box_sums(img, c)[rows, cols]``, same arithmetic.
    """
    rows, cols = np.asarray(rows), np.asarray(cols)
    return ii[rows + c, cols + c] - ii[rows, cols + c] - ii[rows + c, cols] + ii[rows, cols]


@dataclass
class NccVolume:
    """Correlation volume of one block.

    Attributes
    ----------
    ncc : ndarray, shape (K, ni, nj, ndy, ndx), float32
        Correlation for chip size ``k``, grid point ``(i, j)`` and lag
        ``(dy0 + a, dx0 + b)``; NaN where a chip has no variance and at lags
        not evaluated.
    ref_invalid : ndarray, shape (K, ni, nj)
        Fraction of nodata pixels in each reference chip.
    sec_bad : ndarray, shape (Hs, Ws)
        Nodata mask of the secondary block (1 = nodata), from which
        :meth:`sec_invalid_at` reads the nodata fraction of the secondary
        chips asked for (only those at the matched peaks are needed).
    chip_sizes : tuple of int
        Chip size of each ``k``.
    dy0, dx0 : int
        Lag of the first volume entry along each axis.
    """

    ncc: np.ndarray
    ref_invalid: np.ndarray
    sec_bad: np.ndarray
    chip_sizes: tuple
    dy0: int
    dx0: int
    _sec_bad_integral: np.ndarray | None = field(default=None, init=False, repr=False)

    def sec_invalid_at(self, k: int, rows, cols) -> np.ndarray:
        """Fraction of nodata pixels in secondary chips of size ``chip_sizes[k]``.

        Parameters
        ----------
        k : int
            Chip size index.
        rows, cols : array_like of int
            Top-left corners of the chips in the secondary block: the chip of
            grid point ``(i, j)`` at lag index ``(a, b)`` starts at
            ``(i * step + o + a, j * step + o + b)`` with
            ``o = max(chip_sizes) // 2 - c // 2``.

        Returns
        -------
        ndarray, shape of ``rows`` and ``cols`` broadcast, float64
            The same values as ``box_sums(sec_bad, c) / c**2`` at those corners.
        """
        c = self.chip_sizes[k]
        if self._sec_bad_integral is None:
            # made on first use: the tracker asks only the volume whose peaks it keeps
            self._sec_bad_integral = cv2.integral(np.asarray(self.sec_bad, np.float64), sdepth=cv2.CV_64F)
        return box_sums_at(self._sec_bad_integral, rows, cols, c) / float(c * c)


#: Elements of the float64 temporaries of one normalisation block (512 KiB each).
_NORM_BLOCK = 65536


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
        nothing). Default: all.

    Returns
    -------
    NccVolume

    Notes
    -----
    The loop over lags only forms the product image, its cell sums and
    their integral image, and reads the chip sums of every grid point; the
    normalisation is then done once for all lags, with the secondary sums
    read only at the window positions it uses. Products and cell sums are
    float32 (relative error about 1e-7 per term), integral images and the
    normalisation float64.
    """
    chips = tuple(chip_sizes)
    cmax = max(chips)
    nchip = len(chips)
    rects = _lag_rectangles(lags, ndy, ndx)
    ref = np.ascontiguousarray(ref)
    sec = np.ascontiguousarray(sec)
    iref, iref2 = _integrals(ref)
    isec, isec2 = _integrals(sec)
    ibad = cv2.integral(ref_bad.astype(np.float64), sdepth=cv2.CV_64F) if ref_bad.any() else None
    cross = _cross_sums(ref, sec, chips, step, ni, nj, ndy, ndx, lags)

    vol = np.empty((nchip, ni, nj, ndy, ndx), np.float32)
    if lags is not None:
        vol.fill(np.nan)
    ref_inv = np.empty((nchip, ni, nj), np.float32)
    for k, c in enumerate(chips):
        o = cmax // 2 - c // 2
        n = float(c * c)
        sr = _grid_box(iref, o, c, step, ni, nj)
        vr = np.maximum(_grid_box(iref2, o, c, step, ni, nj) - sr * sr / n, 0.0)
        ref_inv[k] = 0.0 if ibad is None else _grid_box(ibad, o, c, step, ni, nj) / n
        if not rects:
            continue
        _normalise(cross[k], sr / n, vr, isec, isec2, c, o, step, rects, vol[k])
    return NccVolume(vol, ref_inv, sec_bad, chips, dy0, dx0)


def _integrals(img: np.ndarray):
    """Integral images of ``img`` and of its square, float64."""
    # OpenCV integrates float64 input several times faster than float32 input
    x = img.astype(np.float64)
    return cv2.integral(x, sdepth=cv2.CV_64F), cv2.integral(x * x, sdepth=cv2.CV_64F)


def _cross_sums(ref, sec, chips, step, ni, nj, ndy, ndx, lags) -> np.ndarray:
    """Chip sums of ``ref * sec`` shifted by every lag to evaluate.

    Returns an array of shape (K, ndy * ndx, ni, nj), float64 (a view with a
    padded lag stride); entries of lags not evaluated are undefined.
    """
    cmax = max(chips)
    hr, wr = ref.shape
    g = cell_size(step, chips)
    st = step // g
    hc, wc = hr // g, wr // g
    npts = ni * nj
    # a lag stride that is no multiple of 4 KiB keeps the transposing reads of the
    # normalisation from mapping every lag of a point to the same cache set
    flat = np.empty((len(chips), ndy * ndx, npts + 8), np.float64)
    cross = flat[:, :, :npts].reshape(len(chips), ndy * ndx, ni, nj)
    todo = range(ndy * ndx) if lags is None else np.flatnonzero(lags).tolist()
    cells = [((cmax // 2 - c // 2) // g, c // g) for c in chips]
    prod = np.empty((hr, wr), np.float32)
    small = np.empty((hc, wc), np.float32) if g > 1 else prod
    ip = np.empty((hc + 1, wc + 1), np.float64)
    scale = float(g * g)
    for lag in todo:
        a, b = divmod(lag, ndx)
        cv2.multiply(ref, sec[a:a + hr, b:b + wr], dst=prod)
        if g > 1:
            cv2.resize(prod, (wc, hc), dst=small, interpolation=cv2.INTER_AREA)
        cv2.integral(small, ip, sdepth=cv2.CV_64F)
        for k, (o, length) in enumerate(cells):
            _grid_box(ip, o, length, st, ni, nj, out=cross[k, lag])
        if g > 1:
            # the cell values are means
            cross[:, lag] *= scale
    return cross


def _lag_rectangles(lags: np.ndarray | None, ndy: int, ndx: int) -> list:
    """Rectangles ``(a0, a1, b0, b1)`` (half-open) that exactly cover the lags to evaluate."""
    if lags is None:
        return [(0, ndy, 0, ndx)]
    runs = []
    for a in range(ndy):
        row = np.concatenate(([False], lags[a], [False]))
        edges = np.flatnonzero(row[1:] != row[:-1])
        runs.append(tuple(edges.tolist()))
    rects = []
    a = 0
    while a < ndy:
        e = a + 1
        while e < ndy and runs[e] == runs[a]:
            e += 1
        r = runs[a]
        rects.extend((a, e, r[m], r[m + 1]) for m in range(0, len(r), 2))
        a = e
    return rects


def _lag_positions(o: int, step: int, n: int, nlag: int):
    """Window corners ``o + i * step + a`` along one axis, as a slice or an index array.

    Returns the positions and the pitch ``p`` such that position ``(i, a)``
    is entry ``i * p + a``: all corners from the first to the last (a slice)
    unless the lags cover less than half of each step.
    """
    if 2 * nlag >= step:
        return slice(o, o + (n - 1) * step + nlag), step
    pos = (o + step * np.arange(n)[:, None] + np.arange(nlag)[None, :]).ravel()
    return pos, nlag


def _box_at(ii: np.ndarray, rows, cols, c: int) -> np.ndarray:
    """Box sums of side ``c`` at the grid ``rows x cols`` (slices or index arrays)."""
    def shift(s):
        return slice(s.start + c, s.stop + c) if isinstance(s, slice) else s + c

    def take(r, q):
        a = ii[r] if isinstance(r, slice) else ii.take(r, axis=0)
        return a[:, q] if isinstance(q, slice) else a.take(q, axis=1)

    r1, c1 = shift(rows), shift(cols)
    # OpenCV arithmetic, as in `_grid_box`
    out = cv2.subtract(take(r1, c1), take(rows, c1))
    cv2.subtract(out, take(r1, cols), dst=out)
    cv2.add(out, take(rows, cols), dst=out)
    return out


def _normalise(cross, mr, vr, isec, isec2, c: int, o: int, step: int, rects, out) -> None:
    """NCC of chip size ``c`` from its cross sums, written into ``out`` (ni, nj, ndy, ndx).

    ``mr``, ``vr`` are the reference mean and ``n`` times the variance per
    grid point (``n = c**2``); the secondary sums come from the integral
    images ``isec``, ``isec2`` at the window corners ``o + i * step + a``,
    ``o + j * step + b``. Entries whose variance product is not above
    ``1e-12 * n**2`` are NaN; lags outside ``rects`` are left as they are.
    Runs over blocks of grid rows, with the secondary sums of each block
    computed just before they are used.
    """
    ni, nj, ndy, ndx = out.shape
    n = float(c * c)
    floor = 1e-12 * n * n
    cr = cross.reshape(ndy, ndx, ni, nj)
    cols, px = _lag_positions(o, step, nj, ndx)
    block = max(1, _NORM_BLOCK // (nj * ndy * ndx))
    for i0 in range(0, ni, block):
        i1 = min(i0 + block, ni)
        rows, py = _lag_positions(o + i0 * step, step, i1 - i0, ndy)
        ss = _box_at(isec, rows, cols, c)
        vs = _box_at(isec2, rows, cols, c)
        vs -= ss * ss / n
        for a0, a1, b0, b1 in rects:
            shape = (i1 - i0, nj, a1 - a0, b1 - b0)
            s = _lag_view(ss, py, px, a0, b0, shape)
            v = _lag_view(vs, py, px, a0, b0, shape)
            num = np.multiply(mr[i0:i1, :, None, None], s, out=np.empty(shape))
            np.subtract(cr[a0:a1, b0:b1, i0:i1].transpose(2, 3, 0, 1), num, out=num)
            den = np.multiply(v, vr[i0:i1, :, None, None], out=np.empty(shape))
            low = den <= floor
            if low.any():
                den[low] = np.nan
            flat = den.reshape(len(den), -1)
            cv2.sqrt(flat, flat)
            np.divide(num, den, out=num)
            out[i0:i1, :, a0:a1, b0:b1] = num


def _lag_view(box: np.ndarray, py: int, px: int, a0: int, b0: int, shape) -> np.ndarray:
    """View ``v[i, j, a, b] = box[i * py + a0 + a, j * px + b0 + b]`` of a box-sum grid."""
    s0, s1 = box.strides
    base = box[a0:, b0:]
    return np.lib.stride_tricks.as_strided(base, shape=shape, strides=(s0 * py, s1 * px, s0, s1), writeable=False)


def _grid_box(ii: np.ndarray, o: int, length: int, st: int, ni: int, nj: int, out=None) -> np.ndarray:
    """Box sums of side ``length`` starting at ``o + i*st`` from integral image ``ii``, into ``out`` if given."""
    r0 = slice(o, o + (ni - 1) * st + 1, st)
    r1 = slice(o + length, o + length + (ni - 1) * st + 1, st)
    c0 = slice(o, o + (nj - 1) * st + 1, st)
    c1 = slice(o + length, o + length + (nj - 1) * st + 1, st)
    if st == 1 and out is not None:
        # OpenCV's arithmetic on row-strided views is about twice as fast as NumPy's (same IEEE results)
        cv2.subtract(ii[r1, c1], ii[r0, c1], dst=out)
        cv2.subtract(out, ii[r1, c0], dst=out)
        return cv2.add(out, ii[r0, c0], dst=out)
    out = np.subtract(ii[r1, c1], ii[r0, c1], out=out)
    out -= ii[r1, c0]
    out += ii[r0, c0]
    return out
