"""Dense least-squares (gradient-based) measurement of a small residual offset.

After the multi-kernel tracker's prior has resampled the secondary onto the reference, what is
left is a residual of a few hundredths to tenths of a pixel. At that size the image difference is
linear in the residual, ``sec'(r) - ref(r) = -grad(I)(r) . rho``, and a window of pixels gives
the residual in closed form (the normal equations of Lucas & Kanade, 1981, in a Gaussian window):

``rho = -M^-1 b``,  ``M = G * [gx gx, gx gy; gx gy, gy gy]``,  ``b = G * [gx dt, gy dt]``

with ``g`` the mean of both images' gradients, ``dt = sec' - ref`` and ``G *`` a Gaussian-weighted
mean. Unlike the tracker's chips on a grid, the window slides to every pixel and there is no
peak interpolation (its sub-pixel bias vanishes near zero displacement; the resampling is
position-neutral, `sarflow.scene.coarse.RESAMPLE_KERNEL`).

The images are divided by their local mean amplitude first (a gain that differs between the dates,
or slowly across the scene, cancels); the gradients are a Kaiser-windowed sinc derivative
(`DERIVATIVE_HALF`, `DERIVATIVE_BETA`: amplitude speckle has power up to the sampling limit,
where central differences are wrong by a factor that grows with frequency), taken only where
every tap is valid. The Gaussians are three box filters in a row (O(1) per pixel, whatever the
width: `box_gaussian`), applied on a grid of ``step`` pixels to the means of the per-pixel
products over its cells, and the estimate is interpolated back: the windows are many times wider
than the grid.

Each estimate comes with its standard error, from the window's mean squared misfit and its
normal matrix. `fuse` keeps a base estimate (the network's residual, zero for a network that
reproduces its prior) where the least-squares estimate is not significantly different from it,
and moves to the least-squares estimate where it is: a shrinkage ``w = 1 - kappa var / P`` with
``P`` the local mean squared difference (James-Stein / Wiener style), so that noise alone leaves
the base as it is while a consistent difference (the prior's shape error inside its chips, a
smooth field the chips average over) is taken up.

Measured on the held-out scenes of `benchmarks/bench_network.py` (see
`benchmarks/bench_least_squares.py`, which also gives the settings' choice): the smooth
sub-pixel field's error after the prior falls by about a sixth, the uniform shift's and buried
fault's by a few per cent, and no scenario gets worse.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import cv2
import numpy as np

from sarflow.errors import InputError

__all__ = ["LeastSquaresConfig", "LeastSquaresEstimate", "least_squares_residual", "fuse", "refine_residual",
           "box_gaussian", "derivative_kernel", "DERIVATIVE_HALF", "DERIVATIVE_BETA"]

#: Half-length (taps either side) and Kaiser beta of the derivative filter.
DERIVATIVE_HALF = 7
DERIVATIVE_BETA = 4.0


@dataclass(frozen=True)
class LeastSquaresConfig:
    """Settings of the least-squares refinement.

    Attributes
    ----------
    sigma : float
        Gaussian window of the normal equations, pixels.
    power_sigma : float
        Gaussian window of the mean squared difference ``P`` in `fuse`, pixels.
    kappa : float
        Shrinkage: the base is kept where ``P <= kappa`` times the estimate's variance (both
        components together).
    normalize_sigma : float
        Window of the local mean amplitude each image is divided by, pixels.
    min_valid : float
        Least share of valid pixels (Gaussian-weighted) in the window for an estimate.
    step : float
        The windowed sums are taken on a grid of this many pixels (means of ``step x step`` blocks of
        the per-pixel products, then the windows) and the estimate interpolated back (bilinear):
        the windows are many times wider than the grid, so the result hardly changes, at a
        fraction of the cost. 1: every pixel.

    Chosen on held-out-style scenes from seeds the benchmark does not use
    (`benchmarks/bench_least_squares.py --first-repeat 20 --repeats 3`).
    """

    sigma: float = 32.0
    power_sigma: float = 64.0
    kappa: float = 1.5
    normalize_sigma: float = 8.0
    min_valid: float = 0.25
    step: float = 4.0

    def __post_init__(self):
        for name in ("sigma", "power_sigma", "normalize_sigma"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and 1.0 <= value <= 512.0):
                raise InputError(f"least-squares {name} must be between 1 and 512 pixels, got {value!r}")
        if not (isinstance(self.kappa, (int, float)) and np.isfinite(self.kappa) and self.kappa >= 0):
            raise InputError(f"least-squares kappa must be >= 0, got {self.kappa!r}")
        if not (isinstance(self.min_valid, (int, float)) and 0.0 < self.min_valid <= 1.0):
            raise InputError(f"least-squares min_valid must be in (0, 1], got {self.min_valid!r}")
        if not (isinstance(self.step, (int, float)) and float(self.step).is_integer()
                and 1 <= self.step <= min(self.sigma, self.power_sigma) / 2):
            raise InputError(f"least-squares step must be a whole number of pixels from 1 to half the windows, "
                             f"got {self.step!r}")

    def to_dict(self) -> dict:
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> LeastSquaresConfig:
        if not isinstance(values, dict):
            raise InputError(f"least-squares settings must be a mapping, got {type(values).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown least-squares settings: {', '.join(unknown)}")
        return cls(**{k: float(v) for k, v in values.items()})


class LeastSquaresEstimate(NamedTuple):
    """Residual offsets and their 1-sigma errors (pixels, float32; NaN: no estimate)."""

    dx: np.ndarray
    dy: np.ndarray
    sigma_dx: np.ndarray
    sigma_dy: np.ndarray


def _box_width(sigma: float) -> int:
    """Odd width of each of three box filters whose cascade has standard deviation ~``sigma``."""
    w = int(round(np.sqrt(12.0 * sigma * sigma / 3.0 + 1.0)))
    return w if w % 2 else w + 1


def box_gaussian(a: np.ndarray, sigma: float) -> np.ndarray:
    """Three box filters in a row (a Gaussian of standard deviation ~``sigma``), zero outside the array.

    float32 in and out; O(1) per pixel whatever ``sigma``. The sum is not renormalised at the
    edges: divide by the same filter of the weights (normalised convolution).
    """
    w = _box_width(sigma)
    out = np.ascontiguousarray(a, dtype=np.float32)
    for _ in range(3):
        out = cv2.boxFilter(out, -1, (w, w), normalize=True, borderType=cv2.BORDER_CONSTANT)
    return out


def _block_means(a: np.ndarray, f: int) -> np.ndarray:
    """Means of ``f x f`` blocks (the array zero-padded to a multiple of ``f``; float32)."""
    if f == 1:
        return a
    h, w = a.shape
    pad_h, pad_w = -h % f, -w % f
    if pad_h or pad_w:
        a = cv2.copyMakeBorder(a, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=0)
    return cv2.resize(a, ((w + pad_w) // f, (h + pad_h) // f), interpolation=cv2.INTER_AREA)


def _upsampled(a: np.ndarray, f: int, shape: tuple[int, int]) -> np.ndarray:
    """Values at the blocks' centres of `_block_means` interpolated (bilinear) to every pixel of ``shape``;
    a NaN spreads to the pixels it weighs on."""
    if f == 1:
        return a
    out = cv2.resize(a, (a.shape[1] * f, a.shape[0] * f), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(out[:shape[0], :shape[1]])


def derivative_kernel(half: int = DERIVATIVE_HALF, beta: float = DERIVATIVE_BETA) -> np.ndarray:
    """Taps ``-half .. half`` of a Kaiser-windowed ideal derivative, as a correlation kernel:
    ``sum_j k[j] f[x + j]`` is ``f'(x)`` (``k[half + j] = (-1)**(j+1) / j``, 0 at ``j = 0``)."""
    j = np.arange(-half, half + 1, dtype=np.float64)
    k = np.zeros_like(j)
    nz = j != 0
    k[nz] = -np.cos(np.pi * j[nz]) / j[nz]
    return (k * np.kaiser(2 * half + 1, beta)).astype(np.float32)


#: Grid of the local mean amplitude (`_normalised`), pixels: the mean is smooth at the scale of its
#: window (`LeastSquaresConfig.normalize_sigma`, 8 px), so it is filtered on a grid twice as coarse and
#: interpolated back.
MEAN_STEP = 2


def _normalised(image: np.ndarray, valid: np.ndarray, count: np.ndarray, sigma: float) -> np.ndarray:
    """``image / local mean - 1`` over valid pixels, 0 elsewhere (``count``: `_local_sum` of the valid
    pixels' weights)."""
    out = np.array(image, dtype=np.float32)
    out[~valid] = 0.0
    mean = _local_sum(out, sigma)
    cv2.divide(mean, count, dst=mean)  # 0 where count is 0
    cv2.divide(out, mean, dst=out)  # 0 where the mean is 0
    out -= 1.0
    out[~valid] = 0.0
    return out


def _local_sum(a: np.ndarray, sigma: float) -> np.ndarray:
    """`box_gaussian` of ``a`` taken on the `MEAN_STEP` grid and interpolated to every pixel."""
    step = MEAN_STEP if sigma >= 4 * MEAN_STEP else 1
    return _upsampled(box_gaussian(_block_means(a, step), sigma / step), step, a.shape)


def least_squares_residual(reference: np.ndarray, secondary: np.ndarray,
                           config: LeastSquaresConfig = LeastSquaresConfig()) -> LeastSquaresEstimate:
    """The residual offset at every pixel between ``reference`` and an aligned ``secondary``.

    Parameters
    ----------
    reference, secondary : ndarray, shape (H, W)
        Amplitudes (linear), the secondary already resampled onto the reference (by a prior);
        non-finite or non-positive values are nodata.
    config : LeastSquaresConfig

    Returns
    -------
    LeastSquaresEstimate
        ``dx``, ``dy``: a feature at ``r`` of the reference lies at ``r + (dy, dx)`` in
        ``secondary``; NaN where the window holds too few valid pixels or no texture
        (a constant image). ``sigma_dx``, ``sigma_dy``: standard errors from the window's misfit.

    Memory: about 8 float32 arrays of the images' shape at its peak (the windowed sums are on the
    ``step`` grid).
    """
    reference = np.asarray(reference)
    secondary = np.asarray(secondary)
    if reference.ndim != 2 or reference.shape != secondary.shape:
        raise InputError(f"least-squares refinement needs two 2-D images of one shape, got "
                         f"{reference.shape} and {secondary.shape}")
    if np.iscomplexobj(reference) or np.iscomplexobj(secondary):
        raise InputError("least-squares refinement takes amplitudes, not complex values")
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(reference) & np.isfinite(secondary) & (reference > 0) & (secondary > 0)
    if not valid.any():
        nan = np.full(reference.shape, np.nan, dtype=np.float32)
        return LeastSquaresEstimate(nan, nan.copy(), nan.copy(), nan.copy())
    # Full-size arrays are few and reused: a fresh one costs more in page faults than the arithmetic.
    weight = valid.astype(np.float32)
    count = _local_sum(weight, config.normalize_sigma)
    ref = _normalised(reference, valid, count, config.normalize_sigma)
    sec = _normalised(secondary, valid, count, config.normalize_sigma)
    del count
    kernel = derivative_kernel()
    half = DERIVATIVE_HALF
    # gradients only where every tap is valid
    eroded = cv2.erode(valid.astype(np.uint8), np.ones((2 * half + 1, 2 * half + 1), np.uint8),
                       borderType=cv2.BORDER_CONSTANT, borderValue=0)
    del valid
    np.copyto(weight, eroded)
    del eroded
    gx = cv2.filter2D(ref, cv2.CV_32F, kernel[None, :], borderType=cv2.BORDER_CONSTANT)
    gy = cv2.filter2D(ref, cv2.CV_32F, kernel[:, None], borderType=cv2.BORDER_CONSTANT)
    scratch = np.empty_like(gx)
    cv2.filter2D(sec, cv2.CV_32F, kernel[None, :], dst=scratch, borderType=cv2.BORDER_CONSTANT)
    gx += scratch
    cv2.filter2D(sec, cv2.CV_32F, kernel[:, None], dst=scratch, borderType=cv2.BORDER_CONSTANT)
    gy += scratch
    np.multiply(weight, 0.5, out=scratch)
    gx *= scratch
    gy *= scratch
    dt = np.subtract(sec, ref, out=sec)
    dt *= weight
    del ref
    s = config.sigma
    f = int(config.step)
    shape = reference.shape

    def windowed(x, y):
        np.multiply(x, y, out=scratch)
        return box_gaussian(_block_means(scratch, f), s / f)

    a = windowed(gx, gx)
    b = windowed(gx, gy)
    c = windowed(gy, gy)
    u = windowed(gx, dt)
    v = windowed(gy, dt)
    t = windowed(dt, dt)
    del gx, gy, dt, scratch
    n = box_gaussian(_block_means(weight, f), s / f)
    del weight
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        det = a * c
        det -= b * b
        trace = a + c
        # a window with no texture (a constant image) or too few valid pixels has no estimate
        bad = (n < config.min_valid) | ~(trace > 0) | ~(det > 1e-6 * trace * trace)
        del trace
        det[bad] = np.nan
        rx = c * u
        rx -= b * v
        rx /= det
        np.negative(rx, out=rx)
        ry = a * v
        ry -= b * u
        ry /= det
        np.negative(ry, out=ry)
        # the window's mean squared misfit: t + 2 rho.b + rho' M rho
        misfit = rx * u
        misfit += ry * v
        misfit *= 2.0
        misfit += t
        del u, v, t
        misfit += rx * rx * a
        misfit += 2.0 * rx * ry * b
        misfit += ry * ry * c
        del b
        np.maximum(misfit, 0.0, out=misfit)
        misfit /= n
        del n
        # variance of a Gaussian-weighted least-squares mean: the weights' sum of squares
        misfit *= 1.0 / (4.0 * np.pi * s * s)
        misfit /= det
        del det
        c *= misfit
        a *= misfit
        del misfit
        sigma_dx = np.sqrt(np.maximum(c, 0.0, out=c), out=c)
        sigma_dy = np.sqrt(np.maximum(a, 0.0, out=a), out=a)
    for band in (rx, ry, sigma_dx, sigma_dy):
        band[bad] = np.nan
    return LeastSquaresEstimate(*(_upsampled(band, f, shape) for band in (rx, ry, sigma_dx, sigma_dy)))


def fuse(base_dx: np.ndarray, base_dy: np.ndarray, estimate: LeastSquaresEstimate,
         config: LeastSquaresConfig = LeastSquaresConfig()) -> tuple[np.ndarray, np.ndarray]:
    """``base + w (estimate - base)`` with ``w = clip(1 - kappa (var_x + var_y) / P, 0, 1)``.

    ``P`` is the local (``power_sigma``) mean of the squared difference between the estimate and
    the base, both components, and ``var`` the estimate's variance; both vary at the windows' scale,
    so ``w`` is formed on the ``step`` grid and interpolated back. Where the estimate is NaN (no
    estimate), or the base is, the base is returned as it is.
    """
    ex = np.subtract(estimate.dx, base_dx, dtype=np.float32)
    ey = np.subtract(estimate.dy, base_dy, dtype=np.float32)
    unknown = ~(np.isfinite(ex) & np.isfinite(ey))
    ex[unknown] = 0.0
    ey[unknown] = 0.0
    f = int(config.step)
    scratch = np.empty_like(ex)

    def cells(x, y=None):
        """Means over the step grid's cells of ``x * y`` (``x`` alone without ``y``), unknown pixels as 0."""
        if y is None:
            np.copyto(scratch, x)
        else:
            np.multiply(x, y, out=scratch)
        scratch[unknown] = 0.0
        return _block_means(scratch, f)

    with np.errstate(divide="ignore", invalid="ignore"):
        scratch.fill(1.0)
        scratch[unknown] = 0.0
        share = _block_means(scratch, f)
        noise = (cells(estimate.sigma_dx, estimate.sigma_dx) + cells(estimate.sigma_dy, estimate.sigma_dy)) / share
        power = box_gaussian(cells(ex, ex) + cells(ey, ey), config.power_sigma / f)
        power /= box_gaussian(share, config.power_sigma / f)
        w = 1.0 - config.kappa * noise / power
        w[~np.isfinite(w)] = 0.0
        np.clip(w, 0.0, 1.0, out=w)
    del scratch
    w = _upsampled(w.astype(np.float32), f, ex.shape)
    w[unknown] = 0.0
    ex *= w
    ey *= w
    ex += base_dx
    ey += base_dy
    return ex, ey


def refine_residual(reference: np.ndarray, secondary: np.ndarray, base_dx: np.ndarray, base_dy: np.ndarray,
                    config: LeastSquaresConfig = LeastSquaresConfig()) -> tuple[np.ndarray, np.ndarray]:
    """`least_squares_residual` of the pair, then `fuse` with the base residual (same shapes)."""
    if np.shape(base_dx) != np.shape(reference) or np.shape(base_dy) != np.shape(reference):
        raise InputError(f"the base residual {np.shape(base_dx)} must have the images' shape {np.shape(reference)}")
    return fuse(np.asarray(base_dx, np.float32), np.asarray(base_dy, np.float32),
                least_squares_residual(reference, secondary, config), config)
