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
width: `box_gaussian`).

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

    Chosen on held-out-style scenes from seeds the benchmark does not use
    (`benchmarks/bench_least_squares.py --first-repeat 20 --repeats 3`).
    """

    sigma: float = 32.0
    power_sigma: float = 64.0
    kappa: float = 1.5
    normalize_sigma: float = 8.0
    min_valid: float = 0.25

    def __post_init__(self):
        for name in ("sigma", "power_sigma", "normalize_sigma"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and 1.0 <= value <= 512.0):
                raise InputError(f"least-squares {name} must be between 1 and 512 pixels, got {value!r}")
        if not (isinstance(self.kappa, (int, float)) and np.isfinite(self.kappa) and self.kappa >= 0):
            raise InputError(f"least-squares kappa must be >= 0, got {self.kappa!r}")
        if not (isinstance(self.min_valid, (int, float)) and 0.0 < self.min_valid <= 1.0):
            raise InputError(f"least-squares min_valid must be in (0, 1], got {self.min_valid!r}")

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

    def reach(self) -> int:
        """Pixels beyond which the inputs no longer change a pixel's refined value (three box
        filters of each window, the local mean and the derivative)."""
        return int(3 * (_box_width(self.sigma) // 2 + _box_width(self.power_sigma) // 2
                        + _box_width(self.normalize_sigma) // 2) + 2 * DERIVATIVE_HALF)


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


def derivative_kernel(half: int = DERIVATIVE_HALF, beta: float = DERIVATIVE_BETA) -> np.ndarray:
    """Taps ``-half .. half`` of a Kaiser-windowed ideal derivative, as a correlation kernel:
    ``sum_j k[j] f[x + j]`` is ``f'(x)`` (``k[half + j] = (-1)**(j+1) / j``, 0 at ``j = 0``)."""
    j = np.arange(-half, half + 1, dtype=np.float64)
    k = np.zeros_like(j)
    nz = j != 0
    k[nz] = -np.cos(np.pi * j[nz]) / j[nz]
    return (k * np.kaiser(2 * half + 1, beta)).astype(np.float32)


def _normalised(image: np.ndarray, valid: np.ndarray, count: np.ndarray, sigma: float) -> np.ndarray:
    """``image / local mean - 1`` over valid pixels, 0 elsewhere (``count``: the same filter of the
    valid pixels' weights)."""
    out = np.array(image, dtype=np.float32)
    out[~valid] = 0.0
    mean = cv2.divide(box_gaussian(out, sigma), count)  # 0 where count is 0
    cv2.divide(out, mean, dst=out)  # 0 where the mean is 0
    out -= 1.0
    out[~valid] = 0.0
    return out


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

    Memory: about 14 float32 arrays of the images' shape at its peak.
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
    count = box_gaussian(valid.astype(np.float32), config.normalize_sigma)
    ref = _normalised(reference, valid, count, config.normalize_sigma)
    sec = _normalised(secondary, valid, count, config.normalize_sigma)
    del count
    kernel = derivative_kernel()
    half = DERIVATIVE_HALF
    # gradients only where every tap is valid
    weight = cv2.erode(valid.astype(np.uint8), np.ones((2 * half + 1, 2 * half + 1), np.uint8),
                       borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(np.float32)
    del valid
    gx = cv2.filter2D(ref, cv2.CV_32F, kernel[None, :], borderType=cv2.BORDER_CONSTANT)
    gx += cv2.filter2D(sec, cv2.CV_32F, kernel[None, :], borderType=cv2.BORDER_CONSTANT)
    gy = cv2.filter2D(ref, cv2.CV_32F, kernel[:, None], borderType=cv2.BORDER_CONSTANT)
    gy += cv2.filter2D(sec, cv2.CV_32F, kernel[:, None], borderType=cv2.BORDER_CONSTANT)
    half_weight = weight * 0.5
    gx *= half_weight
    gy *= half_weight
    del half_weight
    dt = np.subtract(sec, ref, out=sec)
    dt *= weight
    del ref
    s = config.sigma
    a = box_gaussian(gx * gx, s)
    b = box_gaussian(gx * gy, s)
    c = box_gaussian(gy * gy, s)
    u = box_gaussian(gx * dt, s)
    v = box_gaussian(gy * dt, s)
    del gx, gy
    t = box_gaussian(dt * dt, s)
    del dt
    n = box_gaussian(weight, s)
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
    return LeastSquaresEstimate(rx, ry, sigma_dx, sigma_dy)


def fuse(base_dx: np.ndarray, base_dy: np.ndarray, estimate: LeastSquaresEstimate,
         config: LeastSquaresConfig = LeastSquaresConfig()) -> tuple[np.ndarray, np.ndarray]:
    """``base + w (estimate - base)`` with ``w = clip(1 - kappa (var_x + var_y) / P, 0, 1)``.

    ``P`` is the local (``power_sigma``) mean of the squared difference between the estimate and
    the base, both components. Where the estimate is NaN (no estimate), or the base is, the base
    is returned as it is.
    """
    ex = np.subtract(estimate.dx, base_dx, dtype=np.float32)
    ey = np.subtract(estimate.dy, base_dy, dtype=np.float32)
    unknown = ~(np.isfinite(ex) & np.isfinite(ey))
    ex[unknown] = 0.0
    ey[unknown] = 0.0
    known = (~unknown).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        power = box_gaussian(ex * ex + ey * ey, config.power_sigma)
        power /= box_gaussian(known, config.power_sigma)
        del known
        noise = np.square(estimate.sigma_dx, dtype=np.float32)
        noise += np.square(estimate.sigma_dy, dtype=np.float32)
        noise *= config.kappa
        noise /= power
        del power
        w = np.subtract(1.0, noise, out=noise)
        np.clip(w, 0.0, 1.0, out=w)
    w[unknown | ~np.isfinite(w)] = 0.0
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
