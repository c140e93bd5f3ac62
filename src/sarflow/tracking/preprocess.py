"""Radiometric pre-processing of amplitude images before correlation.

Every filter is nodata-aware (normalised convolution: invalid pixels carry no
weight) and returns a float32 image whose nodata pixels hold 0, together with
the nodata mask. NCC is already invariant to a gain and an offset of each
chip; these filters additionally even out contrast inside a chip.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["preprocess"]


def _smooth(values: np.ndarray, weight: np.ndarray, sigma: float | None, size: int | None) -> np.ndarray:
    if sigma is not None:
        num = cv2.GaussianBlur(values, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
        den = cv2.GaussianBlur(weight, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    else:
        num = cv2.boxFilter(values, -1, (size, size), borderType=cv2.BORDER_CONSTANT)
        den = cv2.boxFilter(weight, -1, (size, size), borderType=cv2.BORDER_CONSTANT)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 1e-6)
    return out


def preprocess(img: np.ndarray, method: str, *, highpass_sigma: float = 8.0, wallis_size: int = 21,
               lowpass_sigma: float = 0.7):
    """Filter an amplitude image for matching.

    Parameters
    ----------
    img : ndarray, shape (H, W), float
        Amplitude, NaN (or inf) at nodata.
    method : {"none", "log", "highpass", "wallis", "lowpass"}
        ``"none"`` removes the mean of the valid pixels; ``"lowpass"``
        smooths with a Gaussian of standard deviation ``lowpass_sigma`` pixels
        then removes the mean (for the amplitude of critically sampled SLC
        data, whose aliased high frequencies lock estimates towards whole
        pixels: on the Envisat test pair, sigma 0.7 px brings the RMSE from
        0.115 to 0.078 px); ``"log"`` takes
        ``log(amplitude)`` (non-positive amplitudes become nodata) then
        removes the mean; ``"highpass"`` subtracts a Gaussian low-pass of
        standard deviation ``highpass_sigma`` pixels; ``"wallis"`` subtracts
        the local mean and divides by the local standard deviation over a
        ``wallis_size`` square window (Wallis 1976).
    highpass_sigma : float
        Pixels.
    wallis_size : int
        Pixels.
    lowpass_sigma : float
        Pixels.

    Returns
    -------
    out : ndarray, shape (H, W), float32
        Filtered image, 0 at nodata.
    bad : ndarray, shape (H, W), bool
        Nodata mask.
    """
    a = np.asarray(img, dtype=np.float32)
    bad = ~np.isfinite(a)
    if method == "log":
        bad |= ~(a > 0)
        a = np.log(np.where(bad, 1.0, a)).astype(np.float32)
    w = (~bad).astype(np.float32)
    v = np.where(bad, 0.0, a).astype(np.float32)
    nvalid = float(w.sum())
    if method == "lowpass":
        v = np.where(bad, 0.0, _smooth(v, w, lowpass_sigma, None)).astype(np.float32)
    if method in ("none", "log", "lowpass"):
        mean = float(v.sum(dtype=np.float64) / max(nvalid, 1.0))
        out = v - np.float32(mean)
    elif method == "highpass":
        out = v - _smooth(v, w, highpass_sigma, None)
    elif method == "wallis":
        m = _smooth(v, w, None, wallis_size)
        d = (v - m) * w
        var = _smooth(d * d, w, None, wallis_size)
        sd = np.sqrt(np.maximum(var, 0.0))
        floor = np.float32(1e-6 * max(float(np.sqrt(np.mean(d[w > 0] ** 2))) if nvalid else 0.0, 1e-30))
        out = np.zeros_like(d)
        np.divide(d, sd, out=out, where=sd > floor)
    else:
        raise ValueError(f"unknown preprocess method {method!r}")
    out = np.where(bad, 0.0, out).astype(np.float32)
    return out, bad
