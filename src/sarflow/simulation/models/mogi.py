"""Volcanic pressure sources: Mogi point source, McTigue finite sphere, rectangular sill.

All three are sources in a homogeneous elastic half-space with a flat free surface, evaluated at
the surface.

References
----------
Mogi, K. (1958). Relations between the eruptions of various volcanoes and the deformations of the
ground surfaces around them. *Bulletin of the Earthquake Research Institute, University of Tokyo*
36, 99-134.

McTigue, D. F. (1987). Elastic stress and deformation near a finite spherical magma body:
resolution of the point source paradox. *Journal of Geophysical Research* 92(B12), 12931-12940.
https://doi.org/10.1029/JB092iB12p12931

Lisowski, M. (2006). Analytical volcano deformation source models. In D. Dzurisin,
*Volcano Deformation*, Springer-Praxis, chapter 8, 279-304.

Okada, Y. (1985). Surface deformation due to shear and tensile faults in a half-space.
*Bulletin of the Seismological Society of America* 75(4), 1135-1154.
https://doi.org/10.1785/BSSA0750041135
"""

import math
from dataclasses import dataclass, field

import numpy as np

from sarflow.errors import InputError
from sarflow.simulation.geometry import real_parameter as _real
from sarflow.simulation.models.okada import OkadaFault

__all__ = ["MogiSource", "McTigueSource", "RectangularSill"]


def _check_poisson(nu):
    if not -1.0 < nu <= 0.5:
        raise InputError(f"poisson_ratio must be in (-1, 0.5], got {nu}")


def _radial(x_m, y_m, east_m, north_m, depth_m):
    """Horizontal offsets from the source, and the distance R to the source at depth."""
    x_m, y_m = np.broadcast_arrays(np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64))
    dx = x_m - east_m
    dy = y_m - north_m
    R = np.sqrt(dx * dx + dy * dy + depth_m * depth_m)
    return dx, dy, R


@dataclass(frozen=True)
class MogiSource:
    """Point source of volume change in an elastic half-space (Mogi, 1958).

    A small spherical cavity at depth d whose volume changes by ΔV. With the horizontal vector
    r from the source's epicentre to a surface point and R = sqrt(|r|² + d²), the surface
    displacement is

        u_horizontal = (1 − ν) ΔV / π · r / R³        (radial, away from the source for ΔV > 0)
        u_up         = (1 − ν) ΔV / π · d / R³

    so that the uplift above the source is (1 − ν) ΔV / (π d²), the ratio of horizontal to
    vertical displacement is |r| / d everywhere, and the volume of the uplift bowl,
    ∫ u_up dA = 2 (1 − ν) ΔV, is 1.5 ΔV for ν = 0.25 (Delaney & McTigue, 1994). In terms of a
    pressure change ΔP in a cavity of radius a in a medium of shear modulus μ,
    ΔV = π a³ ΔP / μ (`MogiSource.from_pressure`).

    The default, 2e7 m³ at 1.5 km depth, raises the ground above the source by 2.1 m and moves it
    up to 0.8 m horizontally: a visible bowl on a 5 km scene.

    Parameters
    ----------
    east_m, north_m : float
        Epicentre of the source, metres east and north of the scene centre.
    depth_m : float
        Depth of the source below the surface, metres (> 0).
    volume_change_m3 : float
        Volume change of the cavity ΔV, cubic metres (> 0 inflation, < 0 deflation).
    poisson_ratio : float
        Poisson's ratio ν of the half-space, -1 < ν <= 0.5.

    References
    ----------
    Mogi (1958), Bull. Earthq. Res. Inst. 36, 99-134.
    Delaney, P. T., & McTigue, D. F. (1994). Volume of magma accumulation or withdrawal estimated
    from surface uplift or subsidence, with application to the 1960 collapse of Kilauea volcano.
    *Bulletin of Volcanology* 56, 417-424.
    """

    east_m: float = field(default=0.0, metadata={"help": "east coordinate of the source's epicentre, m"})
    north_m: float = field(default=0.0, metadata={"help": "north coordinate of the source's epicentre, m"})
    depth_m: float = field(default=1500.0, metadata={"help": "depth of the point source, m"})
    volume_change_m3: float = field(
        default=2.0e7, metadata={"help": "volume change of the source, m^3 (negative deflates)"}
    )
    poisson_ratio: float = field(
        default=0.25, metadata={"help": "Poisson's ratio of the half-space, dimensionless, in (-1, 0.5]"}
    )

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise `InputError` for parameters that describe no possible source."""
        for f in ("east_m", "north_m", "depth_m", "volume_change_m3", "poisson_ratio"):
            _real(f, getattr(self, f))
        if self.depth_m <= 0:
            raise InputError(f"depth_m must be positive (the source is below the surface), got {self.depth_m}")
        _check_poisson(self.poisson_ratio)

    @classmethod
    def from_pressure(
        cls,
        *,
        depth_m: float,
        radius_m: float,
        pressure_change_pa: float,
        shear_modulus_pa: float,
        east_m: float = 0.0,
        north_m: float = 0.0,
        poisson_ratio: float = 0.25,
    ) -> "MogiSource":
        """The point source of a cavity of radius a under a pressure change ΔP: ΔV = π a³ ΔP / μ.

        Parameters
        ----------
        depth_m, radius_m : float
            Depth and radius of the cavity, metres (radius < depth).
        pressure_change_pa : float
            Pressure change ΔP in the cavity, pascals.
        shear_modulus_pa : float
            Shear modulus μ of the half-space, pascals (> 0).
        east_m, north_m, poisson_ratio : float
            As for the class.
        """
        radius_m = _real("radius_m", radius_m)
        pressure_change_pa = _real("pressure_change_pa", pressure_change_pa)
        shear_modulus_pa = _real("shear_modulus_pa", shear_modulus_pa)
        if radius_m <= 0:
            raise InputError(f"radius_m must be positive, got {radius_m}")
        if shear_modulus_pa <= 0:
            raise InputError(f"shear_modulus_pa must be positive, got {shear_modulus_pa}")
        if radius_m >= _real("depth_m", depth_m):
            raise InputError(
                f"radius_m ({radius_m}) must be smaller than depth_m ({depth_m}): the cavity must be buried"
            )
        volume = math.pi * radius_m**3 * pressure_change_pa / shear_modulus_pa
        return cls(
            east_m=east_m, north_m=north_m, depth_m=depth_m, volume_change_m3=volume, poisson_ratio=poisson_ratio
        )

    def displacement_m(self, x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Surface displacement at local ground coordinates.

        Parameters
        ----------
        x_m, y_m : array_like
            East and north coordinates, metres from the scene centre; broadcast together.

        Returns
        -------
        east, north, up : ndarray of float64
            Displacement in metres, of the broadcast shape of ``x_m`` and ``y_m``.
        """
        dx, dy, R = _radial(x_m, y_m, self.east_m, self.north_m, self.depth_m)
        k = (1.0 - self.poisson_ratio) * self.volume_change_m3 / math.pi / R**3
        return k * dx, k * dy, k * self.depth_m


@dataclass(frozen=True)
class McTigueSource:
    """Pressurised sphere of finite radius in an elastic half-space (McTigue, 1987).

    McTigue's first-order correction to the Mogi source for a sphere of radius a at depth d,
    as given by Lisowski (2006, eq. 8.19), with ε = a / d and R² = |r|² + d²:

        u = a³ ΔP (1 − ν) / μ · (r, d) / R³ · [1 + ε³ ((1 + ν) / (2 (5ν − 7))
                                                  + 15 d² (ν − 2) / (4 R² (5ν − 7)))]

    (horizontal components along r, vertical with d). The bracket tends to 1 as ε -> 0, where
    the field is Mogi's with ΔV = π a³ ΔP / μ (`McTigueSource.mogi_equivalent`); the
    correction grows like ε³ and the expansion is accurate to a few percent for ε <~ 0.5.

    The default, a 1 km sphere at 2 km depth under 20 MPa in a 5 GPa medium, lifts the ground
    above it by 0.85 m.

    Parameters
    ----------
    east_m, north_m : float
        Epicentre of the sphere's centre, metres east and north of the scene centre.
    depth_m : float
        Depth of the sphere's centre, metres (> radius).
    radius_m : float
        Radius a of the sphere, metres (> 0).
    pressure_change_pa : float
        Pressure change ΔP in the sphere, pascals (> 0 inflation).
    shear_modulus_pa : float
        Shear modulus μ of the half-space, pascals (> 0).
    poisson_ratio : float
        Poisson's ratio ν, -1 < ν <= 0.5.

    References
    ----------
    McTigue (1987), JGR 92(B12), 12931-12940, https://doi.org/10.1029/JB092iB12p12931
    Lisowski (2006), in Dzurisin, *Volcano Deformation*, chapter 8.
    """

    east_m: float = field(default=0.0, metadata={"help": "east coordinate of the sphere's epicentre, m"})
    north_m: float = field(default=0.0, metadata={"help": "north coordinate of the sphere's epicentre, m"})
    depth_m: float = field(default=2000.0, metadata={"help": "depth of the sphere's centre, m"})
    radius_m: float = field(default=1000.0, metadata={"help": "radius of the sphere, m (smaller than the depth)"})
    pressure_change_pa: float = field(
        default=2.0e7, metadata={"help": "pressure change in the sphere, Pa (negative deflates)"}
    )
    shear_modulus_pa: float = field(default=5.0e9, metadata={"help": "shear modulus of the half-space, Pa"})
    poisson_ratio: float = field(
        default=0.25, metadata={"help": "Poisson's ratio of the half-space, dimensionless, in (-1, 0.5]"}
    )

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise `InputError` for parameters that describe no possible source."""
        for f in (
            "east_m",
            "north_m",
            "depth_m",
            "radius_m",
            "pressure_change_pa",
            "shear_modulus_pa",
            "poisson_ratio",
        ):
            _real(f, getattr(self, f))
        if self.depth_m <= 0:
            raise InputError(f"depth_m must be positive, got {self.depth_m}")
        if self.radius_m <= 0:
            raise InputError(f"radius_m must be positive, got {self.radius_m}")
        if self.radius_m >= self.depth_m:
            raise InputError(
                f"radius_m ({self.radius_m}) must be smaller than depth_m ({self.depth_m}): "
                "the sphere would cut the surface"
            )
        if self.shear_modulus_pa <= 0:
            raise InputError(f"shear_modulus_pa must be positive, got {self.shear_modulus_pa}")
        _check_poisson(self.poisson_ratio)

    def mogi_equivalent(self) -> MogiSource:
        """The Mogi point source with the same position and ΔV = π a³ ΔP / μ."""
        return MogiSource.from_pressure(
            depth_m=self.depth_m,
            radius_m=self.radius_m,
            pressure_change_pa=self.pressure_change_pa,
            shear_modulus_pa=self.shear_modulus_pa,
            east_m=self.east_m,
            north_m=self.north_m,
            poisson_ratio=self.poisson_ratio,
        )

    def displacement_m(self, x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Surface displacement at local ground coordinates.

        Parameters
        ----------
        x_m, y_m : array_like
            East and north coordinates, metres from the scene centre; broadcast together.

        Returns
        -------
        east, north, up : ndarray of float64
            Displacement in metres, of the broadcast shape of ``x_m`` and ``y_m``.
        """
        nu = self.poisson_ratio
        d = self.depth_m
        dx, dy, R = _radial(x_m, y_m, self.east_m, self.north_m, d)
        eps3 = (self.radius_m / d) ** 3
        correction = 1.0 + eps3 * (
            (1.0 + nu) / (2.0 * (5.0 * nu - 7.0)) + 15.0 * d * d * (nu - 2.0) / (4.0 * R * R * (5.0 * nu - 7.0))
        )
        k = self.radius_m**3 * self.pressure_change_pa * (1.0 - nu) / self.shear_modulus_pa * correction / R**3
        return k * dx, k * dy, k * d


@dataclass(frozen=True)
class RectangularSill:
    """Horizontal rectangular opening crack (a sill) in an elastic half-space.

    A uniform opening of a horizontal rectangle, from Okada's (1985) tensile dislocation with
    dip 0 (`OkadaFault` with ``dip_deg = 0``, ``slip_m = 0``). The surface uplift integrates to
    the sill's volume change L W × opening (exactly so for a point-sized crack, whose uplift is
    3 ΔV d³ / (2π R⁵), independent of ν); the pattern is a dome elongated along the sill's long
    axis, with horizontal motion pointing away from its centre when it opens.

    The default, a 2 km × 1.5 km sill at 1.5 km depth opening by 2 m, lifts the ground above it
    by 0.8 m.

    Parameters
    ----------
    east_m, north_m : float
        Centre of the sill, metres east and north of the scene centre.
    depth_m : float
        Depth of the sill, metres (> 0).
    length_m, width_m : float
        Side lengths, metres (> 0); ``length_m`` along ``strike_deg``.
    strike_deg : float
        Azimuth of the ``length_m`` side, degrees clockwise from north.
    opening_m : float
        Opening (thickness change), metres (> 0 inflation, < 0 deflation).
    poisson_ratio : float
        Poisson's ratio ν, -1 < ν <= 0.5.

    References
    ----------
    Okada (1985), BSSA 75(4), 1135-1154, https://doi.org/10.1785/BSSA0750041135
    """

    east_m: float = field(default=0.0, metadata={"help": "east coordinate of the sill's centre, m"})
    north_m: float = field(default=0.0, metadata={"help": "north coordinate of the sill's centre, m"})
    depth_m: float = field(default=1500.0, metadata={"help": "depth of the sill, m"})
    length_m: float = field(default=2000.0, metadata={"help": "sill length along strike, m"})
    width_m: float = field(default=1500.0, metadata={"help": "sill width across strike, m"})
    strike_deg: float = field(
        default=0.0, metadata={"help": "azimuth of the sill's length, degrees clockwise from north"}
    )
    opening_m: float = field(default=2.0, metadata={"help": "opening of the sill, m (negative closes)"})
    poisson_ratio: float = field(
        default=0.25, metadata={"help": "Poisson's ratio of the half-space, dimensionless, in (-1, 0.5]"}
    )

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise `InputError` for parameters that describe no possible sill."""
        for f in ("east_m", "north_m", "depth_m", "length_m", "width_m", "strike_deg", "opening_m", "poisson_ratio"):
            _real(f, getattr(self, f))
        if self.depth_m <= 0:
            raise InputError(f"depth_m must be positive (the sill is below the surface), got {self.depth_m}")
        if self.length_m <= 0:
            raise InputError(f"length_m must be positive, got {self.length_m}")
        if self.width_m <= 0:
            raise InputError(f"width_m must be positive, got {self.width_m}")
        _check_poisson(self.poisson_ratio)

    @property
    def volume_change_m3(self) -> float:
        """Volume change of the sill, length × width × opening, cubic metres."""
        return self.length_m * self.width_m * self.opening_m

    def as_okada(self) -> OkadaFault:
        """The same source as an `OkadaFault` (dip 0, pure opening)."""
        phi = math.radians(self.strike_deg)
        # Okada's up-dip edge of a dip-0 fault lies W to the left of the strike direction from the
        # other; the fault is placed by that edge's midpoint.
        half = 0.5 * self.width_m
        return OkadaFault(
            east_m=self.east_m - half * math.cos(phi),
            north_m=self.north_m + half * math.sin(phi),
            strike_deg=self.strike_deg,
            dip_deg=0.0,
            length_m=self.length_m,
            width_m=self.width_m,
            top_depth_m=self.depth_m,
            slip_m=0.0,
            rake_deg=0.0,
            opening_m=self.opening_m,
            poisson_ratio=self.poisson_ratio,
        )

    def displacement_m(self, x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Surface displacement at local ground coordinates.

        Parameters
        ----------
        x_m, y_m : array_like
            East and north coordinates, metres from the scene centre; broadcast together.

        Returns
        -------
        east, north, up : ndarray of float64
            Displacement in metres, of the broadcast shape of ``x_m`` and ``y_m``.
        """
        return self.as_okada().displacement_m(x_m, y_m)

    def singular_distance_m(self, x_m: np.ndarray, y_m: np.ndarray) -> np.ndarray:
        """Distance from surface points to the sill, metres (see `OkadaFault.singular_distance_m`)."""
        return self.as_okada().singular_distance_m(x_m, y_m)
