"""Physical ground-displacement models with exact (closed-form) surface displacement.

Every model is a frozen dataclass of physical parameters (validated on construction, raising
`sarflow.errors.InputError`) with one method,
``displacement_m(x_m, y_m) -> (east, north, up)``: the displacement in metres at local east/north
coordinates in metres from the scene centre. Each field carries ``metadata["help"]``, a one-line
description with units.

=============  ======================  ==================================================
name           class                   source
=============  ======================  ==================================================
``okada``      `OkadaFault`            rectangular fault, Okada (1985)
``mogi``       `MogiSource`            point source of volume change, Mogi (1958)
``mctigue``    `McTigueSource`         finite pressurised sphere, McTigue (1987)
``sill``       `RectangularSill`       horizontal opening crack, Okada (1985) with dip 0
``glacier``    `ValleyGlacier`         valley glacier, Glen's-law profile, shear margins
``landslide``  `Landslide`             translating block with tapered edges
=============  ======================  ==================================================
"""

from typing import Protocol, runtime_checkable

import numpy as np

from sarflow.simulation.models.glacier import ValleyGlacier
from sarflow.simulation.models.landslide import Landslide
from sarflow.simulation.models.mogi import McTigueSource, MogiSource, RectangularSill
from sarflow.simulation.models.okada import OkadaFault

__all__ = [
    "DisplacementModel",
    "OkadaFault",
    "MogiSource",
    "McTigueSource",
    "RectangularSill",
    "ValleyGlacier",
    "Landslide",
    "MODELS",
]


@runtime_checkable
class DisplacementModel(Protocol):
    """Anything giving surface displacement (east, north, up) in metres at ground coordinates."""

    def displacement_m(self, x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Displacement in metres at east/north coordinates in metres from the scene centre."""


MODELS: dict[str, type] = {
    "okada": OkadaFault,
    "mogi": MogiSource,
    "mctigue": McTigueSource,
    "sill": RectangularSill,
    "glacier": ValleyGlacier,
    "landslide": Landslide,
}
