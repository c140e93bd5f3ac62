"""Classical offset tracking (numpy / OpenCV only).

Multi-kernel normalized cross-correlation on a regular grid with coarse-to-
fine search, unbiased windowed-sinc sub-pixel refinement, quality figures,
outlier rejection and optional (marked) gap filling.

>>> from sarflow.tracking import track_offsets, TrackConfig
>>> result = track_offsets(ref, sec, config=TrackConfig(step=8))  # doctest: +SKIP
>>> result.dx, result.dy, result.quality["sigma_px"]  # doctest: +SKIP
"""

from sarflow.tracking.config import TrackConfig
from sarflow.tracking.outliers import fill_gaps, normalized_median_test
from sarflow.tracking.track import TrackResult, grid_coordinates, track_offsets

__all__ = ["TrackConfig", "TrackResult", "track_offsets", "grid_coordinates", "normalized_median_test",
           "fill_gaps"]
