"""Endless simulated training pairs: mixed scenarios with random physical parameters.

Each sample is drawn from a `SyntheticRecipe` with its own integer seed, so a sample is a pure
function of ``(recipe, seed)``: training streams, validation sets and held-out test sets are made by
disjoint seed ranges (`SEED_RANGES`), never by shuffling one pool.

A sample mixes, by the recipe's weights, a uniform shift, a smooth random field, a valley glacier,
a fault (Okada; half surface-rupturing), a pressure source (Mogi, McTigue sphere or sill) or a
landslide, usually over a weak smooth background field (co-registration and atmospheric residue).
Physical models are placed at random in and around the patch and rescaled so that the largest
offset on the patch is drawn log-uniformly between ``min_offset_px`` and ``max_offset_px``: every
model is linear in its amplitude (slip, volume, speed), so this is the same model with another
amplitude. Imaging draws coherence, looks, thermal noise, resolution and texture; nodata holes and
edges are cut into the images and masked out of the loss.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from sarflow.errors import InputError
from sarflow.simulation.fields import GeophysicalField, SmoothField, UniformShift
from sarflow.simulation.geometry import RadarGeometry
from sarflow.simulation.models import Landslide, McTigueSource, MogiSource, OkadaFault, RectangularSill, ValleyGlacier
from sarflow.simulation.pair import ImagingConfig, simulate_pair
from sarflow.simulation.textures import TEXTURES

__all__ = ["SyntheticRecipe", "Sample", "make_sample", "SEED_RANGES", "SCENARIO_KINDS", "parse_scenario_weights",
           "ScaledField", "SumField", "with_prior", "prior_config", "prior_perturbation"]

#: Disjoint seed ranges: training streams, validation, and the held-out test set of the benchmarks.
SEED_RANGES = {"train": (0, 1_000_000_000), "validation": (1_000_000_000, 1_100_000_000),
               "test": (2_000_000_000, 2_100_000_000)}

SCENARIO_KINDS = ("shift", "smooth", "glacier", "fault", "volcano", "landslide")


def parse_scenario_weights(text: str) -> tuple[float, ...]:
    """``"KIND=W,..."`` -> `SyntheticRecipe.weights` (kinds of `SCENARIO_KINDS`; unnamed kinds get 0).

    Raises `InputError` naming a malformed item, an unknown kind or a weight that is not a number.
    """
    weights = dict.fromkeys(SCENARIO_KINDS, 0.0)
    for item in text.split(","):
        if "=" not in item:
            raise InputError(f"{item!r} is not KIND=WEIGHT")
        kind, number = (part.strip() for part in item.split("=", 1))
        if kind not in weights:
            raise InputError(f"unknown scenario {kind!r}; use {', '.join(SCENARIO_KINDS)}")
        try:
            weights[kind] = float(number)
        except ValueError:
            raise InputError(f"{number!r} is not a number") from None
    return tuple(weights.values())


@dataclass(frozen=True)
class SyntheticRecipe:
    """Distributions the training pairs are drawn from.

    Attributes
    ----------
    patch_size : int
        Square patch size in pixels.
    weights : tuple of float
        Relative frequency of each kind in `SCENARIO_KINDS` order.
    min_offset_px, max_offset_px : float
        Range of the largest offset on a patch (log-uniform).
    background_px : float
        Largest amplitude of the smooth background field added to physical scenarios.
    coherence : (float, float)
        Uniform range of speckle coherence.
    looks : tuple of int
        Looks, drawn uniformly from this list.
    snr_db : (float, float)
        Uniform range of signal-to-noise ratio, dB.
    resolution_px : (float, float)
        Uniform range of the resolution cell, pixels.
    nodata_probability : float
        Chance that a sample gets nodata holes or a nodata edge.
    """

    patch_size: int = 256
    weights: tuple[float, ...] = (0.10, 0.25, 0.20, 0.20, 0.10, 0.15)
    min_offset_px: float = 0.02
    max_offset_px: float = 6.0
    background_px: float = 0.15
    coherence: tuple[float, float] = (0.25, 0.98)
    looks: tuple[int, ...] = (1, 1, 2, 4)
    snr_db: tuple[float, float] = (3.0, 25.0)
    resolution_px: tuple[float, float] = (1.6, 2.6)
    nodata_probability: float = 0.2

    def __post_init__(self):
        if self.patch_size < 32:
            raise InputError(f"patch_size must be at least 32, got {self.patch_size}")
        if len(self.weights) != len(SCENARIO_KINDS) or min(self.weights) < 0 or sum(self.weights) <= 0:
            raise InputError(f"weights must be {len(SCENARIO_KINDS)} non-negative numbers ({', '.join(SCENARIO_KINDS)})")
        if not 0 < self.min_offset_px < self.max_offset_px:
            raise InputError("need 0 < min_offset_px < max_offset_px")
        if not (0 <= self.coherence[0] <= self.coherence[1] <= 1):
            raise InputError(f"coherence range must lie in [0, 1], got {self.coherence}")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class Sample:
    """One training pair: amplitude images, exact offsets and the mask of pixels to learn from.

    Attributes
    ----------
    reference, secondary : ndarray (H, W) float32, NaN = nodata
    target : ndarray (2, H, W) float32 (dx, dy), pixels
    mask : ndarray (H, W) bool
    kind : str
    seed : int
    """

    reference: np.ndarray
    secondary: np.ndarray
    target: np.ndarray
    mask: np.ndarray
    kind: str
    seed: int
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ScaledField:
    """An offset field multiplied by a constant (models are linear in their amplitude)."""

    field: object
    scale: float

    def offsets_px(self, rows, cols, shape):
        dx, dy = self.field.offsets_px(rows, cols, shape)
        return np.asarray(dx) * self.scale, np.asarray(dy) * self.scale


@dataclass(frozen=True)
class SumField:
    """The sum of offset fields."""

    fields: tuple

    def offsets_px(self, rows, cols, shape):
        dx = dy = 0.0
        for f in self.fields:
            a, b = f.offsets_px(rows, cols, shape)
            dx, dy = dx + np.asarray(a), dy + np.asarray(b)
        return dx, dy


def _log_uniform(rng, lo, hi):
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _physical_model(kind: str, rng: np.random.Generator, extent_m: float):
    """A random physical model placed in or near a patch of ``extent_m`` metres."""
    half = extent_m / 2
    if kind == "glacier":
        width = rng.uniform(0.15, 0.6) * extent_m
        return ValleyGlacier(
            east_m=rng.uniform(-0.3, 0.3) * extent_m, north_m=rng.uniform(-0.3, 0.3) * extent_m,
            flow_azimuth_deg=rng.uniform(0, 360), width_m=width, speed_m_per_day=1.0,
            sliding_fraction=rng.uniform(0.0, 0.9), shear_margin_m=rng.uniform(0.0, 0.25) * width,
            meander_amplitude_m=rng.uniform(0, 0.3) * extent_m, meander_wavelength_m=rng.uniform(2, 5) * extent_m,
            downstream_speedup_per_km=rng.uniform(0, 0.3),
        )
    if kind == "fault":
        surface = rng.uniform() < 0.5
        return OkadaFault(
            east_m=rng.uniform(-0.3, 0.3) * extent_m, north_m=rng.uniform(-0.3, 0.3) * extent_m,
            strike_deg=rng.uniform(0, 360), dip_deg=rng.uniform(30, 90), length_m=rng.uniform(0.5, 3) * extent_m,
            width_m=rng.uniform(0.2, 1.0) * extent_m,
            top_depth_m=0.0 if surface else rng.uniform(0.05, 0.5) * extent_m,
            slip_m=1.0, rake_deg=rng.uniform(-180, 180), opening_m=0.0,
        )
    if kind == "volcano":
        depth = rng.uniform(0.15, 0.8) * extent_m
        choice = rng.integers(3)
        east, north = rng.uniform(-0.4, 0.4, 2) * extent_m
        if choice == 0:
            return MogiSource(east_m=east, north_m=north, depth_m=depth, volume_change_m3=1e6)
        if choice == 1:
            return McTigueSource(east_m=east, north_m=north, depth_m=depth, radius_m=rng.uniform(0.1, 0.5) * depth)
        return RectangularSill(east_m=east, north_m=north, depth_m=depth, length_m=rng.uniform(0.2, 0.8) * extent_m,
                               width_m=rng.uniform(0.2, 0.8) * extent_m, strike_deg=rng.uniform(0, 180), opening_m=1.0)
    if kind == "landslide":
        length = rng.uniform(0.15, 0.6) * extent_m
        return Landslide(
            east_m=rng.uniform(-0.3, 0.3) * half, north_m=rng.uniform(-0.3, 0.3) * half,
            shape=str(rng.choice(["ellipse", "rectangle"])), length_m=length, width_m=length * rng.uniform(0.4, 1.0),
            azimuth_deg=rng.uniform(0, 360), plunge_deg=rng.uniform(0, 40), magnitude_m=1.0,
            taper_m=rng.uniform(0, 0.3) * length / 2,
        )
    raise InputError(f"unknown physical scenario kind {kind!r}")


def _make_field(kind: str, rng: np.random.Generator, recipe: SyntheticRecipe, size: int):
    """The offset field of one sample: a random model scaled to a random largest offset."""
    target_max = _log_uniform(rng, recipe.min_offset_px, recipe.max_offset_px)
    if kind == "shift":
        angle = rng.uniform(0, 2 * np.pi)
        magnitude = target_max * rng.uniform(0.0, 1.0) ** 0.5
        return UniformShift(float(magnitude * np.cos(angle)), float(magnitude * np.sin(angle))), {}
    if kind == "smooth":
        f = SmoothField(amplitude_px=target_max, correlation_px=float(rng.uniform(0.05, 0.5) * size),
                        mean_dx_px=float(rng.normal(0, 0.3 * target_max)),
                        mean_dy_px=float(rng.normal(0, 0.3 * target_max)), seed=int(rng.integers(1 << 31)),
                        margin_px=int(2 * recipe.max_offset_px + 40))
        return f, {}
    spacing = float(rng.uniform(5.0, 20.0))
    geometry = RadarGeometry(incidence_deg=float(rng.uniform(25, 45)), heading_deg=float(rng.uniform(-20, 20)) + float(
        rng.choice([0.0, 180.0])), pixel_spacing_m=(spacing, spacing), grid=str(rng.choice(["map", "radar"])))
    model = _physical_model(kind, rng, size * spacing)
    base = GeophysicalField(model, geometry)
    rr, cc = np.meshgrid(np.linspace(0, size - 1, 33), np.linspace(0, size - 1, 33), indexing="ij")
    dx, dy = base.offsets_px(rr, cc, (size, size))
    peak = float(np.max(np.hypot(dx, dy)))
    if not peak > 0:
        return UniformShift(0.0, 0.0), {"model": type(model).__name__}
    field = ScaledField(base, target_max / peak)
    if recipe.background_px > 0 and rng.uniform() < 0.7:
        background = SmoothField(amplitude_px=float(rng.uniform(0, recipe.background_px)),
                                 correlation_px=float(rng.uniform(0.3, 1.0) * size), seed=int(rng.integers(1 << 31)),
                                 margin_px=int(2 * recipe.max_offset_px + 40))
        field = SumField((field, background))
    return field, {"model": type(model).__name__}


def _cut_nodata(image: np.ndarray, rng: np.random.Generator) -> None:
    """Blank random holes (ellipses) or an image edge, in place."""
    h, w = image.shape
    if rng.uniform() < 0.5:
        side = rng.integers(4)
        depth = int(rng.uniform(0.05, 0.3) * (h if side < 2 else w))
        if side == 0:
            image[:depth] = np.nan
        elif side == 1:
            image[-depth:] = np.nan
        elif side == 2:
            image[:, :depth] = np.nan
        else:
            image[:, -depth:] = np.nan
    else:
        yy, xx = np.mgrid[0:h, 0:w]
        for _ in range(rng.integers(1, 4)):
            r0, c0 = rng.uniform(0, h), rng.uniform(0, w)
            a, b = rng.uniform(0.03, 0.15) * h, rng.uniform(0.03, 0.15) * w
            image[((yy - r0) / a) ** 2 + ((xx - c0) / b) ** 2 < 1] = np.nan


def make_sample(recipe: SyntheticRecipe, seed: int, *, kind: str | None = None) -> Sample:
    """Draw the training pair number ``seed`` of ``recipe`` (optionally forcing its scenario kind)."""
    rng = np.random.default_rng([int(seed), 0x5A4F])
    size = recipe.patch_size
    weights = np.asarray(recipe.weights, dtype=float)
    chosen = kind if kind is not None else str(rng.choice(SCENARIO_KINDS, p=weights / weights.sum()))
    if chosen not in SCENARIO_KINDS:
        raise InputError(f"unknown scenario kind {chosen!r}; choose one of {', '.join(SCENARIO_KINDS)}")
    field, info = _make_field(chosen, rng, recipe, size)
    imaging = ImagingConfig(
        resolution_px=float(rng.uniform(*recipe.resolution_px)),
        coherence=float(rng.uniform(*recipe.coherence)),
        looks=int(rng.choice(recipe.looks)),
        snr_db=float(rng.uniform(*recipe.snr_db)),
    )
    texture = str(rng.choice(TEXTURES))
    pair = simulate_pair(field, shape=(size, size), imaging=imaging, texture=texture,
                         texture_contrast=float(rng.uniform(0.3, 1.5)), seed=int(rng.integers(1 << 62)),
                         exact_motion=False)
    reference, secondary = pair.reference.copy(), pair.secondary.copy()
    # Random radiometric gain between the dates (calibration, moisture): the network must not care.
    secondary *= np.float32(10 ** (rng.normal(0, 1.0) / 20))
    if rng.uniform() < recipe.nodata_probability:
        _cut_nodata(reference if rng.uniform() < 0.5 else secondary, rng)
    target = np.stack([pair.dx, pair.dy]).astype(np.float32)
    mask = np.isfinite(reference) & np.isfinite(secondary) & np.isfinite(target).all(axis=0)
    info.update({"imaging": asdict(imaging), "texture": texture,
                 "max_offset_px": float(np.max(np.hypot(pair.dx, pair.dy)))})
    return Sample(reference=reference, secondary=secondary, target=target, mask=mask, kind=chosen, seed=int(seed),
                  info=info)


#: The tracker prior of residual training (`with_prior`); inference uses the same for such networks:
#: grid step, smallest chip, search radius (pixels) and chip sizes (the tracker's own 32, 64, 128).
PRIOR_STEP, PRIOR_CHIP, PRIOR_SEARCH_RADIUS, PRIOR_KERNELS = 8, 32, 16, 3
#: Blocks the prior of a scene is tracked in, pixels a side. Each block is tracked on a window with
#: a margin of 96 px a side, so smaller blocks repeat more work: on the 4096 x 4096 pair of
#: ``benchmarks/bench_predict_speed.py`` (2 processes) 2048 px blocks took 3.8-3.9 s against 4.7-4.9
#: s for 1024 px ones, with the same RMSE against the truth (0.0294 px at both); about 100 bytes
#: per window pixel each (500 MB; `sarflow.scene.predict` gives the prior as many workers as
#: the memory budget holds). Patches and held-out scenes of up to 2048 px are one block either way.
PRIOR_BLOCK = 2048


def prior_config(search_radius: int = PRIOR_SEARCH_RADIUS):
    """`sarflow.scene.coarse.CoarsePriorConfig` of the residual route.

    Grid step 8; chips 32, 64 and 128, the multi-kernel tracker's defaults. Scenes smaller than
    256 pixels a side leave out the 128 px chip (`sarflow.scene.coarse.CoarsePriorConfig`), so
    128 px training patches see chips 32 and 64, while scenes get the tracker's full set (the
    shipped network's model card gives the held-out figures with it).
    """
    from sarflow.scene.coarse import CoarsePriorConfig

    return CoarsePriorConfig(search_radius=search_radius, step=PRIOR_STEP, chip_size=PRIOR_CHIP,
                             block_size=PRIOR_BLOCK, kernels=PRIOR_KERNELS)


def prior_perturbation(rng: np.random.Generator, shape: tuple[int, int], amplitude: float,
                       spacing: int = 32) -> np.ndarray:
    """A smooth random field of largest magnitude ``amplitude`` pixels (cubic spline through a grid of
    independent normal values ``spacing`` pixels apart), float32 of ``shape``."""
    from scipy import ndimage

    h, w = shape
    coarse = rng.normal(size=(h // spacing + 3, w // spacing + 3))
    rows = np.arange(h, dtype=np.float64) / spacing + 1.0
    cols = np.arange(w, dtype=np.float64) / spacing + 1.0
    r, c = np.meshgrid(rows, cols, indexing="ij")
    field = ndimage.map_coordinates(coarse, [r, c], order=3, mode="nearest")
    return (field * (amplitude / max(float(np.abs(field).max()), 1e-9))).astype(np.float32)


def with_prior(sample: Sample, search_radius: int = PRIOR_SEARCH_RADIUS, *, jitter_px: float = 0.0,
               jitter_share: float = 0.5) -> Sample:
    """The residual problem of ``sample`` after the tracker prior (`sarflow.tracking.prior`).

    The prior is the multi-kernel tracker's adaptively smoothed, gap-filled, median-filtered grid
    (`prior_config`)
    interpolated to every pixel, exactly as whole-scene inference makes it
    (`sarflow.scene.coarse`); the secondary is resampled onto the reference by it
    (`sarflow.scene.coarse.resample`, its `RESAMPLE_KERNEL`), and
    the target becomes the residual ``rho`` with ``rho + p(r + rho) = d``. The prior is kept in
    ``info["prior"]`` (``(2, H, W)``), the tracker's error estimate of it in ``info["prior_sigma"]``
    (``(H, W)``) and the gap spread in ``info["prior_spread"]`` (``(2, H, W)``). Pixels whose resampled secondary draws on nodata leave the mask.

    With ``jitter_px`` > 0, a share ``jitter_share`` of the samples (chosen by the sample's seed, so
    batches stay reproducible) has the prior perturbed by a smooth random field of each component
    (`prior_perturbation`, amplitude uniform in ``[0.05, jitter_px]``) before the secondary is
    resampled; the residual target is then that of the perturbed prior (``info["prior"]`` holds it,
    ``info["prior_jitter_px"]`` the amplitude). Without it, the residual is mostly the tracker's own
    noise, which gives the network little to learn from; with it, the network must measure
    residuals of up to ``jitter_px`` everywhere, while the unperturbed share keeps the task it meets
    at inference.
    """
    if jitter_px < 0 or not 0 <= jitter_share <= 1:
        raise InputError(f"need jitter_px >= 0 and 0 <= jitter_share <= 1, got {jitter_px} and {jitter_share}")
    from sarflow.scene.blocks import ArraySource, Block
    from sarflow.scene.coarse import coarse_prior_grid, resample
    from sarflow.tracking.prior import residual_target

    h, w = sample.reference.shape
    block = Block(0, h, 0, w)
    grid = coarse_prior_grid(ArraySource(sample.reference), ArraySource(sample.secondary),
                             config=prior_config(search_radius))
    pdx, pdy = grid.window(block)
    info = dict(sample.info)
    if jitter_px > 0:
        rng = np.random.default_rng([int(sample.seed), 0x717])
        if rng.uniform() < jitter_share:
            amplitude = float(rng.uniform(min(0.05, jitter_px), jitter_px))
            pdx = pdx + prior_perturbation(rng, (h, w), amplitude)
            pdy = pdy + prior_perturbation(rng, (h, w), amplitude)
            info["prior_jitter_px"] = amplitude
    secondary = resample(ArraySource(sample.secondary), pdx, pdy, block)
    rdx, rdy = residual_target(sample.target[0], sample.target[1], pdx, pdy)
    target = np.stack([rdx, rdy]).astype(np.float32)
    mask = sample.mask & np.isfinite(secondary) & np.isfinite(target).all(axis=0)
    info["prior"] = np.stack([pdx, pdy])
    # The prior's own uncertainty, as scene inference adds it to the network's sigma
    # (`sarflow.scene.coarse.PriorGrid.sigma_of_network`): the tracker's error estimate and the
    # spread of gap-filled points.
    info["prior_sigma"] = grid.sigma_window(block)
    info["prior_spread"] = np.stack(grid.spread_window(block))
    return Sample(reference=sample.reference, secondary=secondary, target=np.nan_to_num(target), mask=mask,
                  kind=sample.kind, seed=sample.seed, info=info)
