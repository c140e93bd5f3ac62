import numpy as np
import pytest
import torch

from sarflow.training.augment import augment_batch, dihedral


def _index_maps(n):
    rows, cols = torch.meshgrid(torch.arange(n, dtype=torch.float32), torch.arange(n, dtype=torch.float32),
                                indexing="ij")
    return rows, cols


@pytest.mark.parametrize("code", range(8))
def test_dihedral_keeps_offsets_consistent_with_moved_features(code):
    """After the transform, the pixel holding a feature still points to where that feature went.

    Images hold the (row, col) of their own pixel, so the transformed reference tells which original
    pixel p each new pixel shows; the target must then equal T(p + u(p)) - T(p).
    """
    n = 9
    rows, cols = _index_maps(n)
    rng = np.random.default_rng(code)
    u = torch.tensor(rng.normal(size=(1, 2, n, n)), dtype=torch.float32)
    ref_rows, ref_cols, target, mask = dihedral(rows[None, None], cols[None, None], u, torch.ones(1, 1, n, n), code)
    new_rows, new_cols = _index_maps(n)
    # Map original continuous positions (r, c) to transformed ones by fitting T on pixel centres.
    p_r, p_c = ref_rows[0, 0], ref_cols[0, 0]  # original position shown at each new pixel

    def T(r, c):
        # T is affine: find it from where original corners landed.
        out_r, out_c = torch.empty_like(r), torch.empty_like(c)
        # Linear part from the pixel grid: new index as a function of the original index.
        a = torch.linalg.lstsq(torch.stack([p_r.flatten(), p_c.flatten(), torch.ones(n * n)], 1),
                               torch.stack([new_rows.flatten(), new_cols.flatten()], 1)).solution
        out_r = a[0, 0] * r + a[1, 0] * c + a[2, 0]
        out_c = a[0, 1] * r + a[1, 1] * c + a[2, 1]
        return out_r, out_c

    orig_dx = u[0, 0][p_r.long(), p_c.long()]
    orig_dy = u[0, 1][p_r.long(), p_c.long()]
    moved_r, moved_c = T(p_r + orig_dy, p_c + orig_dx)
    torch.testing.assert_close(target[0, 1], moved_r - new_rows, atol=1e-4, rtol=0)
    torch.testing.assert_close(target[0, 0], moved_c - new_cols, atol=1e-4, rtol=0)


def test_augment_batch_shapes_and_radiometry_only_on_images():
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(4, 1, 16, 16) + 0.1
    sec = torch.rand(4, 1, 16, 16) + 0.1
    target = torch.randn(4, 2, 16, 16)
    mask = torch.ones(4, 1, 16, 16, dtype=torch.bool)
    r2, s2, t2, m2 = augment_batch(ref, sec, target, mask, generator=g, speckle_probability=1.0)
    assert r2.shape == ref.shape and t2.shape == target.shape and m2.dtype == torch.bool
    # Offsets are only permuted / negated, never scaled.
    assert torch.allclose(t2.abs().sum(), target.abs().sum())
    assert (r2 > 0).all() and not torch.allclose(r2.sort().values, ref.sort().values)
