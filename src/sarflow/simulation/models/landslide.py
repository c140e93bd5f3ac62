"""A landslide as a rigid moving block with sharp or tapered edges.

References
----------
Hungr, O., Leroueil, S., & Picarelli, L. (2014). The Varnes classification of landslide types
(update). *Landslides* 11, 167-194. https://doi.org/10.1007/s10346-013-0436-y
"""

import math
from dataclasses import dataclass, field

import numpy as np

from sarflow.errors import InputError
from sarflow.simulation.geometry import real_parameter as _real

__all__ = ["Landslide"]


def _ramp(u):
    """Raised-cosine ramp: 0 at u <= 0, 1 at u >= 1, smooth and increasing between."""
    u = np.clip(u, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(math.pi * u)


@dataclass(frozen=True)
class Landslide:
    """A bounded block translating downslope: uniform displacement inside, none outside.

    The body is an ellipse or a rectangle centred on (``east_m``, ``north_m``), with its
    ``length_m`` axis along the direction of motion ``azimuth_deg`` (clockwise from north) and
    ``width_m`` across it. Every point of the body moves by the same vector of length
    ``magnitude_m``, plunging ``plunge_deg`` below the horizontal (> 0 downward, as on a slope):

        (east, north, up) = magnitude · (cos p sin az, cos p cos az, −sin p)

    Edges: with ``taper_m = 0`` the displacement is full inside the body and zero on and beyond its
    outline (a sharp scarp). With ``taper_m = t > 0`` it falls from full to zero across a rim of
    width t inside the outline, as a raised cosine 0.5 − 0.5 cos(π u) of the fractional position u
    across the rim (1 at the inner edge, 0 at the outline):

    * rectangle: u = (distance to the outline) / t;
    * ellipse: the rim lies between the outline (semi-axes L/2, W/2) and the inner ellipse with
      semi-axes L/2 − t, W/2 − t, and u is the fractional position between them along the ray
      from the centre.

    The weight never increases along any ray from the centre, and it is exactly 0 outside the
    outline.

    The default is an 800 m × 500 m slide moving 5 m to the south-west, 20° below horizontal.

    Parameters
    ----------
    east_m, north_m : float
        Centre of the body, metres east and north of the scene centre.
    shape : {"ellipse", "rectangle"}
        Outline of the body.
    length_m, width_m : float
        Size of the body along and across the direction of motion, metres (> 0).
    azimuth_deg : float
        Direction of horizontal motion, degrees clockwise from north.
    plunge_deg : float
        Angle of the motion below the horizontal, degrees in [-90, 90] (negative: upward).
    magnitude_m : float
        Length of the displacement vector, metres (>= 0).
    taper_m : float
        Width of the tapered rim, metres, 0 <= taper < min(length, width) / 2 (0: sharp edges).

    References
    ----------
    Hungr, Leroueil & Picarelli (2014), https://doi.org/10.1007/s10346-013-0436-y
    """

    east_m: float = field(default=0.0, metadata={"help": "east coordinate of the body's centre, m"})
    north_m: float = field(default=0.0, metadata={"help": "north coordinate of the body's centre, m"})
    shape: str = field(default="ellipse", metadata={"help": "outline of the moving body: ellipse or rectangle"})
    length_m: float = field(default=800.0, metadata={"help": "size of the body along the direction of motion, m"})
    width_m: float = field(default=500.0, metadata={"help": "size of the body across the direction of motion, m"})
    azimuth_deg: float = field(
        default=225.0, metadata={"help": "direction of horizontal motion, degrees clockwise from north"}
    )
    plunge_deg: float = field(
        default=20.0, metadata={"help": "angle of the motion below horizontal, degrees (positive downward)"}
    )
    magnitude_m: float = field(default=5.0, metadata={"help": "length of the displacement vector, m"})
    taper_m: float = field(
        default=100.0, metadata={"help": "width of the tapered rim inside the outline, m (0 = sharp)"}
    )

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise `InputError` for parameters that describe no possible landslide."""
        for f in ("east_m", "north_m", "length_m", "width_m", "azimuth_deg", "plunge_deg", "magnitude_m", "taper_m"):
            _real(f, getattr(self, f))
        if self.shape not in ("ellipse", "rectangle"):
            raise InputError(f"shape must be 'ellipse' or 'rectangle', got {self.shape!r}")
        if self.length_m <= 0:
            raise InputError(f"length_m must be positive, got {self.length_m}")
        if self.width_m <= 0:
            raise InputError(f"width_m must be positive, got {self.width_m}")
        if not -90.0 <= self.plunge_deg <= 90.0:
            raise InputError(f"plunge_deg must be in [-90, 90], got {self.plunge_deg}")
        if self.magnitude_m < 0:
            raise InputError(f"magnitude_m must be >= 0, got {self.magnitude_m} (reverse the motion with azimuth_deg)")
        half_min = 0.5 * min(self.length_m, self.width_m)
        if not 0.0 <= self.taper_m < half_min:
            raise InputError(
                f"taper_m must be in [0, min(length_m, width_m) / 2) = [0, {half_min:g}), got {self.taper_m}"
            )

    def weight(self, x_m: np.ndarray, y_m: np.ndarray) -> np.ndarray:
        """Fraction of the full displacement at local ground coordinates, in [0, 1].

        Parameters
        ----------
        x_m, y_m : array_like
            East and north coordinates, metres from the scene centre; broadcast together.

        Returns
        -------
        ndarray of float64
            1 in the body's core, 0 on and outside its outline, the taper in between.
        """
        x_m, y_m = np.broadcast_arrays(np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64))
        az = math.radians(self.azimuth_deg)
        de, dn = x_m - self.east_m, y_m - self.north_m
        a = de * math.sin(az) + dn * math.cos(az)  # along the motion
        b = -de * math.cos(az) + dn * math.sin(az)  # across it
        p, q, t = 0.5 * self.length_m, 0.5 * self.width_m, self.taper_m
        if self.shape == "rectangle":
            inset = np.minimum(p - np.abs(a), q - np.abs(b))  # distance to the outline inside it
            if t == 0:
                return np.where(inset > 0, 1.0, 0.0)
            return np.where(inset > 0, _ramp(inset / t), 0.0)
        m_out = np.sqrt((a / p) ** 2 + (b / q) ** 2)  # 1 on the outline
        if t == 0:
            return np.where(m_out < 1.0, 1.0, 0.0)
        m_in = np.sqrt((a / (p - t)) ** 2 + (b / (q - t)) ** 2)  # 1 on the inner ellipse
        rim = (m_in > 1.0) & (m_out < 1.0)
        # Along a ray, both m are proportional to the distance from the centre; the fractional
        # position between the outline (0) and the inner ellipse (1) is m_in (1 − m_out) / (m_in − m_out).
        gap = np.where(rim, m_in - m_out, 1.0)
        u = np.where(rim, m_in * (1.0 - m_out) / gap, 0.0)
        return np.where(m_in <= 1.0, 1.0, np.where(rim, _ramp(u), 0.0))

    def displacement_m(self, x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Surface displacement at local ground coordinates.

        Parameters
        ----------
        x_m, y_m : array_like
            East and north coordinates, metres from the scene centre; broadcast together.

        Returns
        -------
        east, north, up : ndarray of float64
            Displacement in metres, of the broadcast shape of ``x_m`` and ``y_m``; exactly 0
            outside the body.
        """
        w = self.weight(x_m, y_m) * self.magnitude_m
        az = math.radians(self.azimuth_deg)
        pl = math.radians(self.plunge_deg)
        horizontal = math.cos(pl)
        return w * (horizontal * math.sin(az)), w * (horizontal * math.cos(az)), w * (-math.sin(pl))
