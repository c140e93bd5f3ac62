"""How much context a trained network really uses: the tile overlap that keeps seams invisible.

A network's theoretical receptive field bounds the pixels that *can* influence an output pixel;
for CC-ResSiamNet's deep encoder and wide correlations it is over a thousand pixels, more than any
sensible tile. What matters for tiling is the *effective* context: how far from a tile's edge an
output pixel must lie for the missing pixels beyond that edge to change it by less than a
tolerance. It depends on the trained weights (a network that keeps its estimate local needs
little), so it is measured, not derived from the architecture:

for increasing candidate overlaps, a simulated scene is predicted once as a single tile and once
in overlapping blended tiles (`sarflow.scene.inference.predict_offsets`, float32); the smallest
overlap whose largest difference, away from the scene's edges, stays under ``tolerance`` is the
network's overlap. ``sarflow export-model`` stores it with the weights (``tile_overlap``), and scene
inference uses it by default instead of the receptive field, so every pixel is computed about once
instead of three to four times. The scene test of 0.01 px seams runs with that overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sarflow.errors import InputError

__all__ = ["OverlapMeasurement", "measure_overlap", "DEFAULT_CANDIDATES"]

#: Overlaps tried, pixels, in order.
DEFAULT_CANDIDATES = (16, 32, 48, 64, 96, 128, 160, 192)


@dataclass(frozen=True)
class OverlapMeasurement:
    """Result of `measure_overlap`.

    Attributes
    ----------
    overlap : int or None
        Smallest candidate whose seams stay under the tolerance; None if none did.
    tolerance_px : float
        Largest allowed difference between tiled and single-tile offsets, pixels.
    errors_px : dict of int to float
        Largest difference (over ``dx``, ``dy``, all test pairs) for each candidate tried.
    tile_size : int
        Tile side used for the tiled runs.
    """

    overlap: int | None
    tolerance_px: float
    errors_px: dict[int, float]
    tile_size: int

    def to_dict(self) -> dict:
        return {"overlap": self.overlap, "tolerance_px": self.tolerance_px, "tile_size": self.tile_size,
                "errors_px": {str(k): v for k, v in self.errors_px.items()}}


def _test_pairs(shape: tuple[int, int], count: int, seed: int):
    """Simulated pairs with smooth motion of a few tenths of a pixel to a few pixels."""
    from sarflow.simulation.fields import SmoothField
    from sarflow.simulation.pair import simulate_pair

    amplitudes = (0.6, 2.5, 1.2, 4.0)
    for k in range(count):
        field = SmoothField(amplitude_px=amplitudes[k % len(amplitudes)], correlation_px=shape[0] / 6, seed=seed + k)
        pair = simulate_pair(field, shape=shape, seed=seed + 100 + k)
        yield pair.reference, pair.secondary


def measure_overlap(model, *, tolerance_px: float = 0.005, tile_size: int = 384,
                    candidates: tuple[int, ...] = DEFAULT_CANDIDATES, pairs: int = 2, edge_px: int = 64,
                    seed: int = 0, device: str = "cpu") -> OverlapMeasurement:
    """Smallest tile overlap for which tiled inference equals one tile within ``tolerance_px``.

    Parameters
    ----------
    model : torch.nn.Module
        A `sarflow.nn` network in evaluation mode (its weights decide the answer).
    tolerance_px : float
        Allowed largest difference, pixels (by default half the 0.01 px the scene tests allow: the
        measurement sees two scenes, the margin covers others).
    tile_size : int
        Tile side of the tiled runs; candidates above half of it are skipped. The scene is 2.5 tiles
        a side, so every pixel away from its edges lies near some seam or corner.
    candidates : tuple of int
        Overlaps to try, increasing.
    pairs : int
        Simulated test pairs (smooth motion of 0.6 and 2.5 px, then 1.2 and 4 px).
    edge_px : int
        Pixels at the scene's edges left out of the comparison: there the tiles reaching past the
        scene see nodata where the single tile sees its own edge padding.
    seed : int
        Seed of the test pairs.

    Returns
    -------
    OverlapMeasurement

    Raises
    ------
    InputError
        Non-positive tolerance, a tile too small for the candidates, or no pair.
    """
    from sarflow.scene.inference import InferenceConfig, predict_offsets

    if not tolerance_px > 0:
        raise InputError(f"tolerance_px must be positive, got {tolerance_px}")
    if pairs < 1:
        raise InputError(f"pairs must be at least 1, got {pairs}")
    usable = [int(c) for c in candidates if 0 <= int(c) <= tile_size // 2]
    if not usable:
        raise InputError(f"no candidate overlap fits a tile of {tile_size} px (at most half a tile)")
    side = tile_size * 5 // 2
    test = list(_test_pairs((side, side), pairs, seed))
    options = dict(precision="fp32", channels_last=False, device=device)
    single_config = InferenceConfig(tile_size=side, **options)
    singles = [predict_offsets(model, ref, sec, config=single_config) for ref, sec in test]
    inner = (slice(edge_px, side - edge_px), slice(edge_px, side - edge_px))
    errors: dict[int, float] = {}
    chosen = None
    for overlap in usable:
        config = InferenceConfig(tile_size=tile_size, overlap=overlap, **options)
        worst = 0.0
        for (ref, sec), single in zip(test, singles):
            tiled = predict_offsets(model, ref, sec, config=config)
            for key in ("dx", "dy"):
                diff = np.abs(tiled[key] - single[key])[inner]
                diff = diff[np.isfinite(diff)]
                worst = max(worst, float(diff.max()) if diff.size else 0.0)
        errors[overlap] = worst
        if worst < tolerance_px:
            chosen = overlap
            break
    return OverlapMeasurement(overlap=chosen, tolerance_px=float(tolerance_px), errors_px=errors,
                              tile_size=int(tile_size))
