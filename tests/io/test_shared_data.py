"""Reading the real datasets in ../shared/data (skipped where absent)."""

import numpy as np
import pytest

from sarflow.io import describe_raster, open_pair, read_offsets, read_raster

pytestmark = pytest.mark.shared_data

ENVISAT_H5 = "envisat/envisat.h5:/science/LSAR/SLC/swaths/frequencyA/HH"


def test_envisat_slc_from_hdf5_and_raw_vrt(shared_data):
    ref, sec = open_pair(f"{shared_data}/{ENVISAT_H5}", shared_data / "envisat" / "warped_envisat.slc.vrt")
    assert ref.data.shape == sec.data.shape == (500, 500)
    assert ref.info.is_complex and sec.info.is_complex
    assert ref.data.dtype == np.float32 and (ref.data[ref.valid] >= 0).all()
    # The VRT's dummy geotransform (identity, EPSG:4326) places nothing: pixel coordinates.
    assert describe_raster(shared_data / "envisat" / "warped_envisat.slc.vrt").crs is None
    # Same scene resampled: amplitudes strongly correlated.
    ok = ref.valid & sec.valid
    assert np.corrcoef(ref.data[ok], sec.data[ok])[0, 1] > 0.3  # unrelated speckle gives about 0


def test_yahtse_landsat_pair_shares_a_utm_grid(shared_data):
    images = sorted((shared_data / "yahtse_landsat8" / "IMAGES").glob("*_B8_yahtse.TIF"))
    ref, sec = open_pair(images[0], images[1])
    assert ref.data.shape == (1087, 1698)
    assert ref.crs.to_epsg() == 32607 and ref.transform.a == 15.0


def test_yahtse_reference_offsets_read_as_product(shared_data):
    product = read_offsets(shared_data / "yahtse_landsat8" / "reference_offsets_px.tif")
    assert product.shape == (68, 106)
    assert product.crs.to_epsg() == 32607
    assert np.isfinite(product.dx).mean() > 0.3


def test_window_of_a_real_image(shared_data):
    path = sorted((shared_data / "yahtse_landsat8" / "IMAGES").glob("*_B8_yahtse.TIF"))[0]
    full = read_raster(path)
    part = read_raster(path, window=(100, 200, 64, 32))
    np.testing.assert_array_equal(part.data, full.data[100:164, 200:232])
