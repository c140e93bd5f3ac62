"""normalize_pair: gain invariance, joint statistics, invalid pixels; the numpy twin agrees."""

import numpy as np
import pytest
import torch

from sarflow.errors import InputError, NoValidDataError
from sarflow.nn import normalize_pair, normalize_pair_numpy


def amplitudes(batch=2, size=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    # Rayleigh-like speckle amplitudes
    ref = torch.sqrt(-torch.log(torch.rand(batch, 1, size, size, generator=generator)))
    sec = torch.sqrt(-torch.log(torch.rand(batch, 1, size, size, generator=generator)))
    return ref, sec


def test_joint_standardisation():
    ref, sec = amplitudes()
    a, b = normalize_pair(ref, sec)
    joint = torch.cat([a, b], dim=1)
    torch.testing.assert_close(joint.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(joint.std(dim=(1, 2, 3), unbiased=False), torch.ones(2), atol=1e-5, rtol=0)


def test_invariant_to_a_global_gain_but_not_to_a_relative_one():
    ref, sec = amplitudes()
    a, b = normalize_pair(ref, sec)
    a2, b2 = normalize_pair(37.0 * ref, 37.0 * sec)
    torch.testing.assert_close(a2, a, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b2, b, atol=1e-5, rtol=1e-5)
    a3, b3 = normalize_pair(ref, 2.0 * sec)  # gain change between dates: survives as a difference
    assert (b3 - a3).mean() > (b - a).mean() + 0.1


def test_invalid_pixels_are_zero_and_excluded_from_statistics():
    ref, sec = amplitudes(batch=1)
    holed = ref.clone()
    holed[0, 0, 2, 3] = float("nan")
    holed[0, 0, 5, 5] = 0.0
    mask = torch.ones_like(ref)
    mask[0, 0, 2, 3] = 0
    mask[0, 0, 5, 5] = 0
    a, b = normalize_pair(holed, sec)
    assert torch.isfinite(a).all() and torch.isfinite(b).all()
    assert a[0, 0, 2, 3] == 0 and a[0, 0, 5, 5] == 0
    assert b[0, 0, 2, 3] != 0  # each image's own invalid pixels only
    # Invalid pixels do not enter the statistics: holes in both images equal a mask.
    sec_holed = sec.clone()
    sec_holed[0, 0, 2, 3] = -1.0
    sec_holed[0, 0, 5, 5] = float("inf")
    a2, b2 = normalize_pair(holed, sec_holed)
    am, bm = normalize_pair(ref, sec, mask)
    torch.testing.assert_close(a2, am)
    torch.testing.assert_close(b2, bm)
    assert bm[0, 0, 2, 3] == 0 and bm[0, 0, 5, 5] == 0

def test_empty_and_constant_samples():
    ref = torch.zeros(2, 1, 4, 4)
    ref[1] = 3.0
    a, b = normalize_pair(ref, ref.clone())
    assert torch.equal(a, torch.zeros_like(a)) and torch.equal(b, torch.zeros_like(b))


def test_numpy_version_agrees():
    ref, sec = amplitudes(batch=1)
    ref[0, 0, 1, 1] = float("nan")
    a, b = normalize_pair(ref, sec)
    an, bn = normalize_pair_numpy(ref[0, 0].numpy(), sec[0, 0].numpy())
    assert an.dtype == np.float32
    np.testing.assert_allclose(an, a[0, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(bn, b[0, 0].numpy(), atol=1e-5)
    with pytest.raises(NoValidDataError):
        normalize_pair_numpy(np.zeros((3, 3)), np.full((3, 3), np.nan))
    with pytest.raises(InputError, match=r"\(H, W\)"):
        normalize_pair_numpy(np.ones((3, 3)), np.ones((3, 4)))


def test_bad_shapes():
    with pytest.raises(InputError, match=r"\(B, 1, H, W\)"):
        normalize_pair(torch.ones(4, 4), torch.ones(4, 4))
    with pytest.raises(InputError, match="differ"):
        normalize_pair(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 4, 5))
    with pytest.raises(InputError, match="mask"):
        normalize_pair(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 4, 4), torch.ones(1, 1, 4, 5))
