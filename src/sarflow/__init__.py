"""sarflow: ground-surface displacement from two SAR amplitude images.

The public API is small and loaded lazily (``import sarflow`` stays fast; torch is imported only by
the network code):

- `simulate` -- simulate a scenario and write a georeferenced pair with exact truth
- `simulate_pair` -- the same in memory, for any offset field
- `open_pair`, `read_raster`, `read_offsets`, `write_offsets` -- rasters in and out

Offsets convention: ``dx`` along columns (range), ``dy`` along rows (azimuth), in pixels; a feature
at row r, column c of the reference lies at (r + dy, c + dx) in the secondary. NaN = no estimate.
"""

from __future__ import annotations

import importlib

from sarflow._version import __version__
from sarflow.errors import SarflowError

_LAZY = {
    "simulate": ("sarflow.scene.simulate", "simulate"),
    "simulate_pair": ("sarflow.simulation.pair", "simulate_pair"),
    "open_pair": ("sarflow.io.rasters", "open_pair"),
    "read_raster": ("sarflow.io.rasters", "read_raster"),
    "read_offsets": ("sarflow.io.products", "read_offsets"),
    "write_offsets": ("sarflow.io.products", "write_offsets"),
    "OffsetProduct": ("sarflow.io.products", "OffsetProduct"),
}

__all__ = ["__version__", "SarflowError", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sarflow' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
