"""One exception family for everything sarflow refuses to do.

``SarflowError`` is the root; ``InputError`` (also a ``ValueError``) covers bad
input data or arguments, with a few subclasses for the cases callers may want
to catch separately.
"""

from __future__ import annotations

__all__ = [
    "SarflowError",
    "InputError",
    "GridMismatchError",
    "ConstantImageError",
    "NoValidDataError",
    "RasterFormatError",
    "OutputExistsError",
]


class SarflowError(Exception):
    """Base class of every error sarflow raises on purpose."""


class InputError(SarflowError, ValueError):
    """Input data or arguments that cannot be processed as given."""


class GridMismatchError(InputError):
    """Two rasters that must share a grid (shape, transform, CRS) do not."""


class ConstantImageError(InputError):
    """An image (or a required part of it) carries no texture to match."""


class NoValidDataError(InputError):
    """An image, or a required part of it, is entirely nodata / non-finite."""


class RasterFormatError(InputError):
    """A file cannot be read as a raster: missing, truncated, corrupt, or of an unknown layout."""


class OutputExistsError(InputError):
    """An output path already exists and overwriting was not asked for (``--overwrite``)."""
