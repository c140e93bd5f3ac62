"""Geophysical products computed from offsets products: arrays in, small dataclasses out, no I/O.

- `velocity_from_offsets` -- offsets (pixels) to displacement (metres) and velocity (m/day, m/yr)
  with direction and propagated uncertainty, in map or radar geometry.
"""

from sarflow.products.velocity import (
    DAYS_PER_YEAR,
    VelocityProduct,
    acquisition_span,
    canonical_units,
    date_tags,
    dates_from_tags,
    metres_per_degree,
    pair_dates_from_tags,
    parse_date,
    velocity_from_offsets,
)

__all__ = [
    "DAYS_PER_YEAR",
    "VelocityProduct",
    "acquisition_span",
    "canonical_units",
    "date_tags",
    "dates_from_tags",
    "metres_per_degree",
    "pair_dates_from_tags",
    "parse_date",
    "velocity_from_offsets",
]
