import h5py
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from sarflow.errors import ConstantImageError, GridMismatchError, InputError, NoValidDataError, RasterFormatError
from sarflow.io import describe_raster, open_pair, read_raster

UTM7 = CRS.from_epsg(32607)
TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 6650000.0)


def write_tif(path, data, *, transform=TRANSFORM, crs=UTM7, nodata=None, dtype=None):
    data = np.asarray(data)
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1,
                       dtype=dtype or data.dtype, transform=transform, crs=crs, nodata=nodata) as dst:
        dst.write(data, 1)
    return path


@pytest.fixture
def speckle():
    return np.random.default_rng(0).rayleigh(size=(40, 50)).astype(np.float32)


def test_read_keeps_crs_transform_and_values(tmp_path, speckle):
    path = write_tif(tmp_path / "a.tif", speckle)
    raster = read_raster(path)
    assert raster.crs == UTM7
    assert raster.transform == TRANSFORM
    np.testing.assert_array_equal(raster.data, speckle)
    assert raster.data.dtype == np.float32


def test_nodata_and_nonfinite_become_mask(tmp_path, speckle):
    data = speckle.copy()
    data[0, :5] = -9999.0
    data[1, 0] = np.inf
    path = write_tif(tmp_path / "a.tif", data, nodata=-9999.0)
    raster = read_raster(path)
    assert raster.info.nodata == -9999.0
    assert not raster.valid[0, :5].any() and not raster.valid[1, 0]
    assert np.isnan(raster.data[0, :5]).all()
    assert raster.valid.sum() == data.size - 6


def test_complex_geotiff_becomes_amplitude(tmp_path):
    rng = np.random.default_rng(1)
    slc = (rng.standard_normal((20, 30)) + 1j * rng.standard_normal((20, 30))).astype(np.complex64)
    path = write_tif(tmp_path / "slc.tif", slc)
    raster = read_raster(path)
    assert raster.info.is_complex
    np.testing.assert_allclose(raster.data, np.abs(slc), rtol=1e-6)


def test_hdf5_dataset_source(tmp_path):
    rng = np.random.default_rng(2)
    slc = (rng.standard_normal((16, 24)) + 1j * rng.standard_normal((16, 24))).astype(np.complex64)
    path = tmp_path / "prod.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("science/SLC/HH", data=slc)
    raster = read_raster(f"{path}:/science/SLC/HH")
    np.testing.assert_allclose(raster.data, np.abs(slc), rtol=1e-6)
    assert raster.transform is None and raster.crs is None


def test_hdf5_missing_dataset_is_named(tmp_path):
    path = tmp_path / "prod.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("a", data=np.ones((4, 4)))
    with pytest.raises(RasterFormatError, match="no dataset '/b'"):
        read_raster(f"{path}:/b")


def test_raw_binary_with_vrt(tmp_path):
    """ISCE / ENVI style: a headerless complex64 file described by a VRT."""
    rng = np.random.default_rng(3)
    slc = (rng.standard_normal((12, 10)) + 1j * rng.standard_normal((12, 10))).astype("<c8")
    slc.tofile(tmp_path / "img.slc")
    (tmp_path / "img.slc.vrt").write_text(
        '<VRTDataset rasterXSize="10" rasterYSize="12"><VRTRasterBand band="1" dataType="CFloat32" '
        'subClass="VRTRawRasterBand"><SourceFilename relativeToVRT="1">img.slc</SourceFilename>'
        "<ByteOrder>LSB</ByteOrder><ImageOffset>0</ImageOffset><PixelOffset>8</PixelOffset>"
        "<LineOffset>80</LineOffset></VRTRasterBand></VRTDataset>"
    )
    raster = read_raster(tmp_path / "img.slc.vrt")
    np.testing.assert_allclose(raster.data, np.abs(slc), rtol=1e-6)


def test_window_read_shifts_transform(tmp_path, speckle):
    path = write_tif(tmp_path / "a.tif", speckle)
    raster = read_raster(path, window=(5, 7, 10, 12))
    np.testing.assert_array_equal(raster.data, speckle[5:15, 7:19])
    assert raster.transform @ (0, 0) == TRANSFORM @ (7, 5)


def test_window_outside_raster(tmp_path, speckle):
    path = write_tif(tmp_path / "a.tif", speckle)
    with pytest.raises(InputError, match="outside the raster of shape"):
        read_raster(path, window=(30, 0, 20, 10))


def test_missing_file(tmp_path):
    with pytest.raises(RasterFormatError, match="no such file"):
        read_raster(tmp_path / "nope.tif")


def test_missing_band(tmp_path, speckle):
    path = write_tif(tmp_path / "a.tif", speckle)
    with pytest.raises(RasterFormatError, match="band 2 requested but the raster has 1"):
        read_raster(path, band=2)


def test_truncated_file(tmp_path):
    data = np.random.default_rng(4).rayleigh(size=(300, 300)).astype(np.float32)
    path = write_tif(tmp_path / "a.tif", data)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(RasterFormatError, match="truncated or corrupt|cannot be opened"):
        read_raster(path)


def test_truncated_raw_behind_vrt(tmp_path):
    np.zeros(50, dtype="<c8").tofile(tmp_path / "img.slc")  # 400 bytes, the VRT promises 960
    (tmp_path / "img.vrt").write_text(
        '<VRTDataset rasterXSize="10" rasterYSize="12"><VRTRasterBand band="1" dataType="CFloat32" '
        'subClass="VRTRawRasterBand"><SourceFilename relativeToVRT="1">img.slc</SourceFilename>'
        "<PixelOffset>8</PixelOffset><LineOffset>80</LineOffset></VRTRasterBand></VRTDataset>"
    )
    with pytest.raises(RasterFormatError, match="truncated or corrupt|cannot be opened"):
        read_raster(tmp_path / "img.vrt")


def test_pair_shape_mismatch_names_both(tmp_path, speckle):
    a = write_tif(tmp_path / "a.tif", speckle)
    b = write_tif(tmp_path / "b.tif", speckle[:30])
    with pytest.raises(GridMismatchError, match=r"shape: \(40, 50\) .* vs \(30, 50\)"):
        open_pair(a, b)


def test_pair_crs_mismatch_names_both(tmp_path, speckle):
    a = write_tif(tmp_path / "a.tif", speckle)
    b = write_tif(tmp_path / "b.tif", speckle, crs=CRS.from_epsg(32605))
    with pytest.raises(GridMismatchError, match="EPSG:32607.*vs EPSG:32605"):
        open_pair(a, b)


def test_pair_transform_mismatch_names_both(tmp_path, speckle):
    a = write_tif(tmp_path / "a.tif", speckle)
    b = write_tif(tmp_path / "b.tif", speckle, transform=TRANSFORM @ Affine.translation(1, 0))
    with pytest.raises(GridMismatchError, match="differ in transform: .*500000.0.*vs .*500010.0"):
        open_pair(a, b)


def test_pair_without_georeferencing_is_accepted(tmp_path, speckle):
    a = write_tif(tmp_path / "a.tif", speckle)
    b = write_tif(tmp_path / "b.tif", speckle * 1.1, transform=Affine.identity(), crs=None)
    ref, sec = open_pair(a, b)
    assert describe_raster(b).transform is None
    assert sec.transform == ref.transform  # inherited from the reference


def test_constant_image_is_refused(tmp_path, speckle):
    a = write_tif(tmp_path / "a.tif", speckle)
    b = write_tif(tmp_path / "b.tif", np.full_like(speckle, 3.0))
    with pytest.raises(ConstantImageError, match="secondary image .* is constant"):
        open_pair(a, b)


def test_all_nodata_image_is_refused(tmp_path, speckle):
    a = write_tif(tmp_path / "a.tif", np.zeros_like(speckle), nodata=0.0)
    b = write_tif(tmp_path / "b.tif", speckle)
    with pytest.raises(NoValidDataError, match="reference image .* has no valid pixel"):
        open_pair(a, b)
