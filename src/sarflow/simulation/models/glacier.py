"""Surface motion of a valley glacier: Glen's-law channel profile with sliding and shear margins.

References
----------
Glen, J. W. (1955). The creep of polycrystalline ice. *Proceedings of the Royal Society of
London A* 228(1175), 519-538. https://doi.org/10.1098/rspa.1955.0066

Nye, J. F. (1965). The flow of a glacier in a channel of rectangular, elliptic or parabolic
cross-section. *Journal of Glaciology* 5(41), 661-690. https://doi.org/10.1017/S0022143000018670

Raymond, C. (1996). Shear margins in glaciers and ice sheets. *Journal of Glaciology* 42(140),
90-102.

Cuffey, K. M., & Paterson, W. S. B. (2010). *The Physics of Glaciers* (4th ed.), Academic Press,
chapter 8 (flow in a channel, lateral drag).
"""

import math
from dataclasses import dataclass, field

import numpy as np

from sarflow.errors import InputError
from sarflow.simulation.geometry import real_parameter as _real

__all__ = ["ValleyGlacier"]

# exp() argument bound for the downstream speed-up, so that absurd inputs stay finite.
_MAX_EXPONENT = 300.0
# Newton iterations for the nearest centreline point (quadratic convergence from a close start).
_NEWTON_STEPS = 8
# Newton stops early once every step is below this fraction of the meander wavelength.
_NEWTON_TOLERANCE = 1e-10


@dataclass(frozen=True)
class ValleyGlacier:
    """A valley glacier crossing the scene along a meandering centreline; still ground around it.

    **Centreline.** In a frame with ``a`` along the mean flow direction (azimuth
    ``flow_azimuth_deg``, clockwise from north) and ``b`` across it (positive to the left of the
    flow), both in metres from the point (``east_m``, ``north_m``), the centreline is

        b0(a) = A sin(2π a / λ)      (A = ``meander_amplitude_m``, λ = ``meander_wavelength_m``).

    The across-flow coordinate w of a point is its signed distance to the centreline (> 0 to the
    left of the flow), measured to its nearest centreline point a* (found by Newton's method on
    the distance); the glacier's edges are the curves at distance ±h from the centreline. The
    smallest radius of curvature of the centreline, 1 / (A (2π/λ)²), must exceed the half-width
    h, so that this nearest point is unique inside the glacier. Ice flows along the centreline's
    tangent at a*, (1, b0'(a*)) / |(1, b0'(a*))|.

    **Across-flow profile.** With half-width h and n = ``glen_n``, a parallel-sided channel in which
    lateral drag balances the driving stress has the Glen's-law deformation profile
    u_s (1 − |w/h|^(n+1)) (Nye, 1965; Cuffey & Paterson, 2010, ch. 8). A fraction f
    (``sliding_fraction``) of the centreline speed is instead basal sliding, uniform across the
    glacier (plug flow) except in **shear margins** of width s = ``shear_margin_m`` at both edges,
    where it drops to zero with the same power-law shape over the margin (shear stress rising
    linearly across a narrow margin), concentrating the shear there (Raymond, 1996):

        speed(w) = U(a*) [ (1 − f)(1 − |w/h|^(n+1)) + f m(|w|) ]                  |w| < h
        m(|w|)   = 1                                    |w| <= h − s
                 = 1 − ((|w| − (h − s)) / s)^(n+1)      h − s < |w| < h
        speed    = 0                                                               |w| >= h

    With s = 0 the sliding plug ends abruptly at the edges (a velocity step). The centreline
    speed varies along the flow as U(a*) = ``speed_m_per_day`` · exp(k a*) with
    k = ``downstream_speedup_per_km`` / 1000 (faster toward the terminus for k > 0; the exponent is
    capped at ±300 to stay finite). Displacement = velocity × ``duration_days``. An optional
    vertical velocity (``emergence_m_per_day``, > 0 up, as in an ablation zone) follows the same
    across-flow shape, so it too vanishes at the edges. Outside the glacier the displacement is
    exactly zero.

    The default is a 1.2 km wide glacier flowing to the east-south-east at 1 m/day on its
    centreline at the scene centre, 10 % faster per km downstream, observed over 12 days (a
    Sentinel-1 repeat): 12 m (1.2 pixels at 10 m) at the centre, about 13 m where it leaves a
    5 km scene.

    Parameters
    ----------
    east_m, north_m : float
        A point of the centreline (where a = 0), metres east and north of the scene centre.
    flow_azimuth_deg : float
        Mean flow direction, degrees clockwise from north.
    width_m : float
        Glacier width, metres (> 0).
    speed_m_per_day : float
        Surface speed on the centreline at a = 0, metres per day (>= 0).
    duration_days : float
        Time between the two acquisitions, days (> 0).
    glen_n : float
        Exponent n of Glen's flow law (>= 1; 3 for glacier ice).
    sliding_fraction : float
        Fraction f of the centreline speed due to basal sliding, in [0, 1].
    shear_margin_m : float
        Width s of each shear margin, metres, in [0, width/2].
    meander_amplitude_m, meander_wavelength_m : float
        Amplitude A (>= 0) and wavelength λ (> 0) of the centreline's meanders, metres.
    downstream_speedup_per_km : float
        Relative increase of the centreline speed per km downstream, 1/km (0: uniform).
    emergence_m_per_day : float
        Vertical surface velocity on the centreline, metres per day (> 0 up).

    References
    ----------
    Glen (1955), https://doi.org/10.1098/rspa.1955.0066
    Nye (1965), https://doi.org/10.1017/S0022143000018670
    Raymond (1996), J. Glaciol. 42(140), 90-102.
    """

    east_m: float = field(default=0.0, metadata={"help": "east coordinate of a centreline point, m"})
    north_m: float = field(default=0.0, metadata={"help": "north coordinate of a centreline point, m"})
    flow_azimuth_deg: float = field(
        default=110.0, metadata={"help": "mean flow direction, degrees clockwise from north"}
    )
    width_m: float = field(default=1200.0, metadata={"help": "glacier width, m"})
    speed_m_per_day: float = field(
        default=1.0, metadata={"help": "centreline surface speed at the reference point, m/day"}
    )
    duration_days: float = field(default=12.0, metadata={"help": "time between the acquisitions, days"})
    glen_n: float = field(default=3.0, metadata={"help": "Glen's flow-law exponent, dimensionless (>= 1)"})
    sliding_fraction: float = field(
        default=0.5, metadata={"help": "fraction of the centreline speed due to basal sliding, in [0, 1]"}
    )
    shear_margin_m: float = field(default=150.0, metadata={"help": "width of each lateral shear margin, m"})
    meander_amplitude_m: float = field(default=300.0, metadata={"help": "amplitude of the centreline's meanders, m"})
    meander_wavelength_m: float = field(default=6000.0, metadata={"help": "wavelength of the centreline's meanders, m"})
    downstream_speedup_per_km: float = field(
        default=0.1, metadata={"help": "relative speed increase per km downstream, 1/km"}
    )
    emergence_m_per_day: float = field(
        default=0.0, metadata={"help": "vertical surface velocity on the centreline, m/day (positive up)"}
    )

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise `InputError` for parameters that describe no possible glacier."""
        for f in (
            "east_m",
            "north_m",
            "flow_azimuth_deg",
            "width_m",
            "speed_m_per_day",
            "duration_days",
            "glen_n",
            "sliding_fraction",
            "shear_margin_m",
            "meander_amplitude_m",
            "meander_wavelength_m",
            "downstream_speedup_per_km",
            "emergence_m_per_day",
        ):
            _real(f, getattr(self, f))
        if self.width_m <= 0:
            raise InputError(f"width_m must be positive, got {self.width_m}")
        if self.speed_m_per_day < 0:
            raise InputError(
                f"speed_m_per_day must be >= 0, got {self.speed_m_per_day} (reverse the flow with flow_azimuth_deg)"
            )
        if self.duration_days <= 0:
            raise InputError(f"duration_days must be positive, got {self.duration_days}")
        if self.glen_n < 1:
            raise InputError(f"glen_n must be >= 1, got {self.glen_n}")
        if not 0.0 <= self.sliding_fraction <= 1.0:
            raise InputError(f"sliding_fraction must be in [0, 1], got {self.sliding_fraction}")
        if not 0.0 <= self.shear_margin_m <= 0.5 * self.width_m:
            raise InputError(
                f"shear_margin_m must be in [0, width_m / 2] = [0, {0.5 * self.width_m}], got {self.shear_margin_m}"
            )
        if self.meander_amplitude_m < 0:
            raise InputError(f"meander_amplitude_m must be >= 0, got {self.meander_amplitude_m}")
        if self.meander_wavelength_m <= 0:
            raise InputError(f"meander_wavelength_m must be positive, got {self.meander_wavelength_m}")
        k = 2.0 * math.pi / self.meander_wavelength_m
        max_curvature = self.meander_amplitude_m * k * k
        if max_curvature * 0.5 * self.width_m >= 1.0:
            raise InputError(
                f"the centreline bends too tightly for the glacier's width: its smallest radius of curvature "
                f"{1.0 / max_curvature:.4g} m must exceed the half-width {0.5 * self.width_m:.4g} m "
                "(lower meander_amplitude_m or raise meander_wavelength_m)"
            )

    def _frame(self, x_m, y_m):
        """Foot point a* on the centreline, signed distance w to it, slope b0'(a*), flow-frame axes."""
        x_m, y_m = np.broadcast_arrays(np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64))
        phi = math.radians(self.flow_azimuth_deg)
        f_e, f_n = math.sin(phi), math.cos(phi)  # mean flow direction
        c_e, c_n = -math.cos(phi), math.sin(phi)  # left of it
        de, dn = x_m - self.east_m, y_m - self.north_m
        a = de * f_e + dn * f_n
        b = de * c_e + dn * c_n
        amp = self.meander_amplitude_m
        k = 2.0 * math.pi / self.meander_wavelength_m
        foot = a.copy()
        if amp > 0:
            # Nearest point of the centreline: Newton's method on F(t) = (t − a) + (b0(t) − b) b0'(t)
            # from t = a. For points within the half-width of the curve (below its smallest radius of
            # curvature, see validate) F' = 1 + b0'² − (b − b0) b0'' stays positive and the
            # iteration converges quadratically; steps are bounded by λ/8 for the far points,
            # whose exact foot does not matter (they are outside the glacier).
            max_step = 0.125 * self.meander_wavelength_m
            for _ in range(_NEWTON_STEPS):
                b0 = amp * np.sin(k * foot)
                d1 = amp * k * np.cos(k * foot)
                d2 = -k * k * b0
                f = (foot - a) + (b0 - b) * d1
                fp = np.maximum(1.0 + d1 * d1 - (b - b0) * d2, 0.05)
                step = np.clip(f / fp, -max_step, max_step)
                foot = foot - step
                # Converged everywhere: a further step would move the foot by round-off only.
                if not step.size or np.max(np.abs(step)) <= _NEWTON_TOLERANCE * self.meander_wavelength_m:
                    break
        b0 = amp * np.sin(k * foot)
        slope = amp * k * np.cos(k * foot)
        norm = np.sqrt(1.0 + slope * slope)
        # Signed distance: the offset from the foot point is normal to the curve there.
        w = ((b - b0) - slope * (a - foot)) / norm
        return foot, w, slope, norm, (f_e, f_n), (c_e, c_n)

    def profile(self, w_m: np.ndarray) -> np.ndarray:
        """Across-flow shape of the speed, 1 on the centreline and 0 at and beyond the edges.

        Parameters
        ----------
        w_m : array_like
            Across-flow distance from the centreline, metres.

        Returns
        -------
        ndarray of float64
            The bracket of the class docstring's speed(w) / U(a*), same shape as ``w_m``.
        """
        aw = np.abs(np.asarray(w_m, dtype=np.float64))
        h = 0.5 * self.width_m
        n1 = self.glen_n + 1.0
        f = self.sliding_fraction
        s = self.shear_margin_m
        inside = aw < h
        t = np.minimum(aw / h, 1.0)
        deform = 1.0 - t**n1
        if s > 0:
            margin = np.clip((aw - (h - s)) / s, 0.0, 1.0)
            sliding = 1.0 - margin**n1
        else:
            sliding = np.ones_like(aw)
        return np.where(inside, (1.0 - f) * deform + f * sliding, 0.0)

    def displacement_m(self, x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Surface displacement over ``duration_days`` at local ground coordinates.

        Parameters
        ----------
        x_m, y_m : array_like
            East and north coordinates, metres from the scene centre; broadcast together.

        Returns
        -------
        east, north, up : ndarray of float64
            Displacement in metres, of the broadcast shape of ``x_m`` and ``y_m``; exactly 0
            outside the glacier.
        """
        x_m, y_m = np.broadcast_arrays(np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64))
        # Points farther across the mean flow than the meanders' amplitude plus the half-width are
        # farther than the half-width from the centreline: outside the glacier, they do not move.
        phi = math.radians(self.flow_azimuth_deg)
        across = (x_m - self.east_m) * -math.cos(phi) + (y_m - self.north_m) * math.sin(phi)
        inside = np.abs(across) < self.meander_amplitude_m + 0.5 * self.width_m * (1.0 + 1e-9)
        if inside.all():
            return self._moving(x_m, y_m)
        out = tuple(np.zeros(x_m.shape) for _ in range(3))
        for component, values in zip(out, self._moving(x_m[inside], y_m[inside]), strict=True):
            component[inside] = values
        return out

    def _moving(self, x_m, y_m):
        """`displacement_m` at points that may lie on the glacier."""
        a, w, slope, norm, (f_e, f_n), (c_e, c_n) = self._frame(x_m, y_m)
        shape = self.profile(w)
        exponent = np.clip(self.downstream_speedup_per_km * a / 1000.0, -_MAX_EXPONENT, _MAX_EXPONENT)
        along = self.speed_m_per_day * self.duration_days * np.exp(exponent) * shape
        dir_e = (f_e + slope * c_e) / norm
        dir_n = (f_n + slope * c_n) / norm
        up = self.emergence_m_per_day * self.duration_days * shape
        return along * dir_e, along * dir_n, up
