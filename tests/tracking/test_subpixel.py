"""Integer peaks, patches and sub-pixel refinement of sarflow.tracking.subpixel."""

from __future__ import annotations

import numpy as np
import pytest

from sarflow.tracking.subpixel import peak_patch, refine


def _surfaces(seed, n=60, na=11, nb=12):
    """Random surfaces with NaN holes, peaks on the edges and empty windows."""
    rng = np.random.default_rng(seed)
    surf = rng.standard_normal((n, na, nb)).astype(np.float32)
    surf[0] = np.nan
    surf[1, :, :6] = np.nan
    surf[2, 0, 0] = 9.0
    surf[3, na - 1, nb - 1] = 9.0
    ca, cb = na // 2, nb // 2
    surf[4, 1, cb] = 9.0
    surf[5, ca - 1:ca + 2, cb - 1:cb + 2] = np.nan  # holes inside the patch of a good peak
    surf[5, ca, cb] = 9.0
    allowed = rng.random(surf.shape) > 0.2
    allowed[6] = False
    return surf, allowed


def _one_by_one(surf, allowed, half):
    """The expected answer of `peak_patch`, point by point."""
    n, na, nb = surf.shape
    out = []
    for k in range(n):
        s = np.where(np.isfinite(surf[k]) & (True if allowed is None else allowed[k]), surf[k], -np.inf)
        a, b = np.unravel_index(np.argmax(s), s.shape)
        good = np.isfinite(s[a, b]) and half <= a < na - half and half <= b < nb - half
        rest = s.copy()
        ca, cb = (a, b) if good else (-1, -1)
        rest[max(ca - 2, 0):max(ca + 3, 0), max(cb - 2, 0):max(cb + 3, 0)] = -np.inf
        second = rest.max() if np.isfinite(rest.max()) else np.nan
        pa, pb = (a, b) if good else (half, half)
        rows = np.clip(np.arange(pa - half, pa + half + 1), 0, na - 1)
        cols = np.clip(np.arange(pb - half, pb + half + 1), 0, nb - 1)
        patch = surf[k][np.ix_(rows, cols)].astype(np.float64)
        fill = np.nanmin(patch) if np.isfinite(patch).any() else 0.0
        patch = np.where(np.isfinite(patch), patch, fill)
        out.append((ca, cb, s[a, b] if good else np.nan, second, patch))
    return [np.array(v) for v in zip(*out)]


@pytest.mark.parametrize("half,shape", [(4, (11, 12)), (1, (11, 12)), (3, (5, 9))])
@pytest.mark.parametrize("masked", [True, False])
def test_peak_patch_matches_point_by_point(half, shape, masked):
    surf, allowed = _surfaces(0, 60, *shape)
    allowed = allowed if masked else None
    ia, ib, peak, second, patch = peak_patch(surf, allowed, half)
    want = _one_by_one(surf, allowed, half)
    for got, exp in zip((ia, ib, peak, second, patch), want):
        np.testing.assert_array_equal(got, exp.astype(got.dtype))
    assert patch.dtype == np.float64 and patch.shape == (60, 2 * half + 1, 2 * half + 1)
    assert ia[0] == -1 and np.isnan(peak[0]) and np.isnan(second[0])


def test_refine_of_many_patches_equals_refine_of_each():
    t = np.arange(-4, 5)
    rng = np.random.default_rng(1)
    fy, fx = rng.uniform(-0.6, 0.6, (2, 40))
    patches = (np.sinc((t[None, :, None] - fy[:, None, None]) / 2) ** 2
               * np.sinc((t[None, None, :] - fx[:, None, None]) / 2) ** 2)
    patches += 0.01 * rng.standard_normal(patches.shape)
    together = refine(patches, "sinc")
    for k in range(0, 40, 7):
        alone = refine(patches[k:k + 1], "sinc")
        for a, b in zip(together, alone):
            np.testing.assert_allclose(a[k], b[0], rtol=0, atol=1e-12)
    assert np.abs(together[0] - fy).max() < 0.05 and np.abs(together[1] - fx).max() < 0.05
