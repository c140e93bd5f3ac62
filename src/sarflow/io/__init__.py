"""Rasters in and out: amplitude images, offsets products (GeoTIFF / NetCDF), quick-looks."""

from sarflow.io.atomic import atomic_path
from sarflow.io.products import OffsetProduct, grid_transform, read_offsets, write_geotiff, write_offsets
from sarflow.io.rasters import (
    Raster,
    RasterInfo,
    Window,
    check_image,
    check_same_grid,
    describe_raster,
    open_pair,
    read_raster,
)

__all__ = [
    "atomic_path",
    "OffsetProduct",
    "grid_transform",
    "read_offsets",
    "write_geotiff",
    "write_offsets",
    "Raster",
    "RasterInfo",
    "Window",
    "check_image",
    "check_same_grid",
    "describe_raster",
    "open_pair",
    "read_raster",
]
