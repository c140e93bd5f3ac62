"""Named scenarios: a displacement model, a radar geometry and a texture that suit each other.

``shift`` and ``smooth`` are defined in pixels; the others are physical models in metres seen
through a `RadarGeometry`. Every scenario's parameters are a frozen dataclass whose defaults give a
realistic, visible case on a 512 px scene of 10 m pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sarflow.errors import InputError
from sarflow.simulation.fields import GeophysicalField, OffsetField, SmoothField, UniformShift

__all__ = ["Scenario", "SCENARIOS", "get_scenario", "make_field"]


@dataclass(frozen=True)
class Scenario:
    """A named simulation case.

    Attributes
    ----------
    name : str
    summary : str
        One line for help texts.
    params : type
        The dataclass of its physical parameters.
    texture : str
        Default backscatter texture family.
    geophysical : bool
        True when ``params`` is a model in metres that needs a radar geometry.
    """

    name: str
    summary: str
    params: type
    texture: str = "fractal"
    geophysical: bool = True
    geometry_defaults: dict = field(default_factory=dict)


def _models():
    from sarflow.simulation import models

    return models.MODELS


def _build() -> dict[str, Scenario]:
    m = _models()
    return {
        "shift": Scenario("shift", "uniform offset (co-registration error, sub-pixel tests)", UniformShift,
                          texture="fractal", geophysical=False),
        "smooth": Scenario("smooth", "smooth random offset field of chosen amplitude (sub-pixel fields)",
                           SmoothField, texture="fractal", geophysical=False),
        "glacier": Scenario("glacier", "valley glacier: Glen-law flow, shear margins, still ground outside",
                            m["glacier"], texture="stripes"),
        "earthquake": Scenario("earthquake", "Okada (1985) rectangular fault, surface-rupturing or buried",
                               m["okada"], texture="fractal"),
        "volcano": Scenario("volcano", "Mogi (1958) point pressure source", m["mogi"], texture="fractal"),
        "volcano-sphere": Scenario("volcano-sphere", "McTigue (1987) finite pressurised sphere", m["mctigue"],
                                   texture="fractal"),
        "volcano-sill": Scenario("volcano-sill", "horizontal rectangular sill opening (Okada tensile)", m["sill"],
                                 texture="fractal"),
        "landslide": Scenario("landslide", "a bounded block sliding downslope", m["landslide"], texture="points"),
    }


_CACHE: dict[str, Scenario] = {}


def scenarios() -> dict[str, Scenario]:
    """All scenarios by name."""
    if not _CACHE:
        _CACHE.update(_build())
    return _CACHE


def get_scenario(name: str) -> Scenario:
    table = scenarios()
    if name not in table:
        raise InputError(f"unknown scenario {name!r}; choose one of {', '.join(table)}")
    return table[name]


def make_field(scenario: Scenario, params=None, geometry=None) -> OffsetField:
    """The offset field of a scenario with given parameters (defaults when None)."""
    from sarflow.simulation.geometry import RadarGeometry

    params = scenario.params() if params is None else params
    if not isinstance(params, scenario.params):
        raise InputError(f"scenario {scenario.name!r} takes {scenario.params.__name__} parameters, "
                         f"got {type(params).__name__}")
    if not scenario.geophysical:
        return params
    return GeophysicalField(model=params, geometry=geometry if geometry is not None else RadarGeometry())


SCENARIOS = ("shift", "smooth", "glacier", "earthquake", "volcano", "volcano-sphere", "volcano-sill", "landslide")
