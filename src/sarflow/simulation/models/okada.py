"""Surface displacement of a rectangular dislocation in an elastic half-space (Okada, 1985).

Two layers:

* `okada85_surface` evaluates the closed-form surface expressions of Okada (1985) in the
  paper's own fault-attached frame and notation (Table 2 of the paper checks this layer);
* `OkadaFault` places such a fault in the local east/north/up frame of a scene.

References
----------
Okada, Y. (1985). Surface deformation due to shear and tensile faults in a half-space.
*Bulletin of the Seismological Society of America* 75(4), 1135-1154.
https://doi.org/10.1785/BSSA0750041135

Okada, Y. (1992). Internal deformation due to shear and tensile faults in a half-space.
*Bulletin of the Seismological Society of America* 82(2), 1018-1040 (its rules for the singular
points are used here too). https://doi.org/10.1785/BSSA0820021018

Chinnery, M. A. (1961). The deformation of the ground around surface faults.
*Bulletin of the Seismological Society of America* 51(3), 355-372.

Aki, K., & Richards, P. G. (2002). *Quantitative Seismology* (2nd ed.), University Science Books,
section 4.2 (strike, dip and rake conventions).
"""

import math
from dataclasses import dataclass, field

import numpy as np

from sarflow.errors import InputError
from sarflow.simulation.geometry import real_parameter as _real

__all__ = ["OkadaFault", "okada85_surface"]

# |cos(dip)| below this is treated as an exactly vertical fault (Okada's cos(dip) = 0 formulas);
# the general formulas divide by cos(dip) and lose precision as it vanishes.
_VERTICAL_COS = 1e-6
# Fault-frame distances smaller than this fraction of the fault size are snapped to zero, so that
# points on the fault plane, its edges or corners get the limiting values chosen by Okada instead of
# round-off-dependent ones.
_SNAP = 1e-10


def _dip_trig(dip_deg):
    """(sin, cos) of the dip, with a near-vertical dip snapped to exactly (1, 0)."""
    rad = math.radians(dip_deg)
    sin_d, cos_d = math.sin(rad), math.cos(rad)
    if abs(cos_d) < _VERTICAL_COS:
        return 1.0, 0.0
    return sin_d, cos_d


def _div(num, den):
    """``num / den`` with 0 wherever ``den`` is 0 (Okada's rules for the singular terms)."""
    out = np.zeros(np.broadcast_shapes(np.shape(num), np.shape(den)))
    return np.divide(num, den, out=out, where=den != 0)


def _log_pos(v):
    """``log(v)`` where ``v > 0``, 0 elsewhere."""
    return np.log(v, out=np.zeros(np.shape(v)), where=v > 0)


def _corner_terms(xi, eta, q, sin_d, cos_d, one_m2nu, groups=(True, True, True)):
    """Chinnery-summand brackets of Okada (1985) eqs. (25)-(30) at one fault corner.

    Parameters
    ----------
    xi, eta : ndarray
        Okada's ξ = x − ξ' and η = p − η' for the corner (ξ', η').
    q : ndarray
        q = y sin δ − d cos δ (same at every corner).
    sin_d, cos_d : float
        Sine and cosine of the dip (cos_d exactly 0 selects the vertical-fault formulas).
    one_m2nu : float
        μ / (λ + μ) = 1 − 2ν.
    groups : (bool, bool, bool)
        Which of (ss, ds, ts) to form; a group not asked for is returned as None.

    Returns
    -------
    ss, ds, ts : tuple of three ndarrays, or None
        The bracketed expressions for strike-slip, dip-slip and tensile dislocations, components
        (x, y, z) of the fault frame, before the factors −U1/2π, −U2/2π, +U3/2π, without the
        π/2 parts of I5 (and of the tan δ · I5 in I1).
    quarter_turns : ndarray
        Those parts as multiples of π/2 in the arctangent of I5 (−1, 0 or 1).
    """
    ytil = eta * cos_d + q * sin_d
    dtil = eta * sin_d - q * cos_d
    xi2, eta2, q2 = xi * xi, eta * eta, q * q
    R = np.sqrt(xi2 + eta2 + q2)
    X = np.sqrt(xi2 + q2)
    corner = R == 0

    # R + η and R + ξ without cancellation when η, ξ < 0 (R + η = (ξ² + q²) / (R − η)).
    r_eta = np.where(eta >= 0, R + eta, _div(xi2 + q2, R - eta))
    r_xi = np.where(xi >= 0, R + xi, _div(eta2 + q2, R - xi))
    # Okada's rule where R + η = 0: ln(R + η) -> −ln(R − η) and 1/(R + η) -> 0 (same for R + ξ).
    ln_r_eta = np.where(r_eta > 0, _log_pos(r_eta), -_log_pos(R - eta))
    inv_r_eta = _div(1.0, r_eta)
    inv_r_xi = _div(1.0, r_xi)
    inv_r = _div(1.0, R)
    # d̃ is the depth of the corner's edge (>= 0 up to round-off), so R + d̃ vanishes only at a
    # corner on the surface; the second form keeps it >= 0 when round-off makes d̃ slightly negative.
    r_d = np.where(dtil >= 0, R + dtil, _div(xi2 + ytil * ytil, R - dtil))
    inv_r_d = _div(1.0, r_d)
    # tan⁻¹(ξη / qR), set to 0 on the plane of the fault (q = 0): the mean of both sides.
    theta = np.arctan(_div(xi * eta, q * R))

    if cos_d == 0.0:
        # Okada (1985) eq. (29)-(30), cos δ = 0.
        I1 = -0.5 * one_m2nu * xi * q * inv_r_d * inv_r_d
        I3 = 0.5 * one_m2nu * (eta * inv_r_d + ytil * q * inv_r_d * inv_r_d - ln_r_eta)
        I4 = -one_m2nu * q * inv_r_d
        I5 = -one_m2nu * xi * sin_d * inv_r_d
        quarter_turns = np.zeros(xi.shape)
    else:
        # Okada (1985) eq. (28); I5 = 0 where ξ = 0. tan⁻¹(A/B) is written as
        # sign(AB)·π/2 − tan⁻¹(B/A): near a vertical dip A/B grows like 1/cos δ and the π/2 parts,
        # which cancel between corners, would otherwise swamp the result (their size is
        # ~1/cos² δ after the tan δ factor of I1). The caller adds them back summed over corners.
        tan_d = sin_d / cos_d
        A = eta * (X + q * cos_d) + X * (R + X) * sin_d
        B = xi * (R + X) * cos_d
        quarter_turns = np.where((A == 0) | (B == 0), 0.0, np.sign(A) * np.sign(B))
        I5 = (2.0 * one_m2nu / cos_d) * np.where(B == 0, 0.0, -np.arctan(_div(B, A)))
        # I4's bracket ln(R + d̃) − sin δ ln(R + η) vanishes like cos δ near a vertical dip; written
        # as ln(1 + (d̃ − η)/(R + η)) + (1 − sin δ) ln(R + η) with d̃ − η and 1 − sin δ formed
        # without cancellation, it keeps its relative precision (tan δ · I4 enters I3).
        one_m_sin = cos_d * cos_d / (1.0 + sin_d)
        dtil_m_eta = -eta * one_m_sin - q * cos_d
        bracket = np.where(
            r_eta > 0,
            np.log1p(_div(dtil_m_eta, r_eta)) + one_m_sin * ln_r_eta,
            _log_pos(r_d) - sin_d * ln_r_eta,
        )
        I4 = (one_m2nu / cos_d) * bracket
        I3 = one_m2nu * (ytil * inv_r_d / cos_d - ln_r_eta) + tan_d * I4
        I1 = -one_m2nu * xi * inv_r_d / cos_d - tan_d * I5
    I2 = -one_m2nu * ln_r_eta - I3

    q_rr_eta = q * inv_r * inv_r_eta  # q / (R (R + η))
    q_rr_xi = q * inv_r * inv_r_xi  # q / (R (R + ξ))
    xi_q_rr_eta = xi * q_rr_eta

    ss = ds = ts = None
    if groups[0]:
        ss = (
            xi_q_rr_eta + theta + I1 * sin_d,
            ytil * q_rr_eta + q * cos_d * inv_r_eta + I2 * sin_d,
            dtil * q_rr_eta + q * sin_d * inv_r_eta + I4 * sin_d,
        )
    if groups[1]:
        ds = (
            q * inv_r - I3 * sin_d * cos_d,
            ytil * q_rr_xi + cos_d * theta - I1 * sin_d * cos_d,
            dtil * q_rr_xi + sin_d * theta - I5 * sin_d * cos_d,
        )
    if groups[2]:
        sin2 = sin_d * sin_d
        ts = (
            q * q_rr_eta - I3 * sin2,
            -dtil * q_rr_xi - sin_d * (xi_q_rr_eta - theta) - I1 * sin2,
            ytil * q_rr_xi + cos_d * (xi_q_rr_eta - theta) - I5 * sin2,
        )
    if not corner.any():
        return ss, ds, ts, quarter_turns
    # R = 0: the observation point is a fault corner at the surface (the end of a surface trace),
    # where some components are logarithmically singular; that corner's terms are set to 0.
    out = []
    for group in (ss, ds, ts):
        out.append(None if group is None else tuple(np.where(corner, 0.0, term) for term in group))
    out.append(np.where(corner, 0.0, quarter_turns))
    return tuple(out)


def okada85_surface(
    x,
    y,
    *,
    bottom_depth: float,
    dip_deg: float,
    length: float,
    width: float,
    strike_slip: float = 0.0,
    dip_slip: float = 0.0,
    opening: float = 0.0,
    poisson_ratio: float = 0.25,
):
    """Surface displacement of a finite rectangular fault, in Okada's (1985) frame and notation.

    The fault-attached frame of the paper (its Fig. 1): ``x`` along strike, ``y`` horizontal and
    perpendicular to strike, pointing up-dip (the fault dips toward −y, i.e. to the right of the
    strike direction), ``z`` up. The fault occupies 0 <= ξ' <= L along strike and 0 <= η' <= W up-dip
    from its lower edge, which runs along the line (x, 0, −d); its upper edge is at depth
    d − W sin δ, above y = W cos δ. With p = y cos δ + d sin δ and q = y sin δ − d cos δ the
    displacement is the Chinnery sum

        f(ξ, η)|| = f(x, p) − f(x, p − W) − f(x − L, p) + f(x − L, p − W)

    of eqs. (25)-(30), with the auxiliary terms I1..I5 of eq. (28), or of eq. (29) for a vertical
    fault (|cos δ| < 1e-6 is treated as cos δ = 0).

    Singular points get the limiting values of Okada (1985, 1992): on the fault plane or its extension
    (q = 0) the term tan⁻¹(ξη/qR) is 0, so a point exactly on a surface trace gets the mean of the
    two sides of the displacement discontinuity; where R + η = 0, ln(R + η) -> −ln(R − η) and
    1/(R + η) -> 0 (likewise for R + ξ); I5 = 0 where ξ = 0. At a corner of the fault that
    reaches the surface (R = 0: the ends of a surface trace) that corner's terms are set to 0.
    Fault-frame distances below 1e-10 of the fault size are snapped to 0 first, so points given
    "on" the trace up to round-off are treated as on it. No finite input gives NaN or infinity.

    Parameters
    ----------
    x, y : array_like
        Observation points on the surface (z = 0) in the fault frame; broadcast together.
    bottom_depth : float
        d, the depth of the fault's lower edge (> 0), same length unit as ``x``.
    dip_deg : float
        δ, dip angle in degrees, 0 <= δ <= 90.
    length, width : float
        L along strike and W down dip (> 0).
    strike_slip, dip_slip, opening : float
        U1, U2, U3: dislocation of the hanging wall relative to the footwall. U1 > 0 is
        left-lateral, U2 > 0 moves the hanging wall up-dip (reverse faulting), U3 > 0 opens the
        fault. Same length unit as the displacement returned.
    poisson_ratio : float
        ν of the half-space; Okada's μ/(λ + μ) is 1 − 2ν (ν = 0.25 is λ = μ).

    Returns
    -------
    ux, uy, uz : ndarray of float64
        Displacement along the fault frame's x, y, z, of the broadcast shape of ``x`` and ``y``.

    Raises
    ------
    InputError
        For a fault that is not below the surface or has non-positive size.
    """
    for name, value in (
        ("bottom_depth", bottom_depth),
        ("dip_deg", dip_deg),
        ("length", length),
        ("width", width),
        ("strike_slip", strike_slip),
        ("dip_slip", dip_slip),
        ("opening", opening),
        ("poisson_ratio", poisson_ratio),
    ):
        _real(name, value)
    if not 0.0 <= dip_deg <= 90.0:
        raise InputError(f"dip_deg must be between 0 and 90 degrees, got {dip_deg}")
    if length <= 0 or width <= 0:
        raise InputError(f"length and width must be positive, got length={length}, width={width}")
    if not -1.0 < poisson_ratio <= 0.5:
        raise InputError(f"poisson_ratio must be in (-1, 0.5], got {poisson_ratio}")
    sin_d, cos_d = _dip_trig(dip_deg)
    scale = max(length, width, bottom_depth)
    top = bottom_depth - width * sin_d
    if top < -_SNAP * scale or (top <= _SNAP * scale and sin_d == 0.0):
        raise InputError(
            f"the fault must lie below the surface: bottom_depth={bottom_depth} with width={width} and "
            f"dip {dip_deg} deg puts its top edge at depth {top:g}"
        )

    x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    tol = _SNAP * scale
    one_m2nu = 1.0 - 2.0 * poisson_ratio
    p = y * cos_d + bottom_depth * sin_d
    q = y * sin_d - bottom_depth * cos_d
    q = np.where(np.abs(q) < tol, 0.0, q)

    ux = np.zeros(x.shape)
    uy = np.zeros(x.shape)
    uz = np.zeros(x.shape)
    k_ss = -strike_slip / (2.0 * math.pi)
    k_ds = -dip_slip / (2.0 * math.pi)
    k_ts = opening / (2.0 * math.pi)
    quarter_turns = np.zeros(x.shape)
    # Only the dislocation components present are formed (a zero slip adds exactly nothing).
    coefficients = [(k, g) for k, g in ((k_ss, 0), (k_ds, 1), (k_ts, 2)) if k != 0.0]
    groups = tuple(any(g == i for _, g in coefficients) for i in range(3))
    for xi0, eta0, sign in ((0.0, 0.0, 1.0), (0.0, width, -1.0), (length, 0.0, -1.0), (length, width, 1.0)):
        xi = x - xi0
        xi = np.where(np.abs(xi) < tol, 0.0, xi)
        eta = p - eta0
        eta = np.where(np.abs(eta) < tol, 0.0, eta)
        terms = _corner_terms(xi, eta, q, sin_d, cos_d, one_m2nu, groups)
        for out, axis in ((ux, 0), (uy, 1), (uz, 2)):
            total = 0.0
            for k, g in coefficients:
                total = total + k * terms[g][axis]
            out += sign * total
        quarter_turns += sign * terms[3]  # exact: small integers
    if cos_d != 0.0:
        # The π/2 parts of I5 summed over the corners (zero almost everywhere), and of −tan δ · I5 in I1.
        i5 = (one_m2nu * math.pi / cos_d) * quarter_turns
        i1 = -(sin_d / cos_d) * i5
        ux += k_ss * i1 * sin_d
        uy += -k_ds * i1 * sin_d * cos_d - k_ts * i1 * sin_d * sin_d
        uz += -k_ds * i5 * sin_d * cos_d - k_ts * i5 * sin_d * sin_d
    return ux, uy, uz


@dataclass(frozen=True)
class OkadaFault:
    """A rectangular fault (shear slip and/or opening) in an elastic half-space, Okada (1985).

    Uniform dislocation on a planar rectangle; surface displacement from the closed-form
    expressions of Okada (1985) (see `okada85_surface`), rotated into the scene frame.

    Geometry: the fault is placed by the midpoint of its **top edge** (``east_m``, ``north_m``) at
    depth ``top_depth_m``; with ``top_depth_m = 0`` this is the midpoint of the surface trace. It
    strikes ``strike_deg`` clockwise from north and dips ``dip_deg`` to the **right** of the strike
    direction (Aki & Richards convention), so its lower edge lies ``width_m cos(dip)`` to the right
    of the top edge in map view, at depth ``top_depth_m + width_m sin(dip)``::

        map view, strike direction pointing right:

            top edge (length L), midpoint * = (east_m, north_m)
            +---------*---------+   ---> strike (strike_deg, clockwise from north)
            |    fault plane    |   |
            +-------------------+   v  dip direction (right of strike)
            lower edge: W cos(dip) from the top edge in map view, at depth top_depth_m + W sin(dip)

    Slip: ``slip_m`` along ``rake_deg`` (Aki & Richards: the angle, in the fault plane, from the
    strike direction to the motion of the hanging wall relative to the footwall, positive when the
    hanging wall moves up-dip): 0 = left-lateral, 180 = right-lateral, 90 = reverse (thrust),
    -90 = normal. The strike-slip and dip-slip components are ``slip cos(rake)`` and
    ``slip sin(rake)`` (Okada's U1, U2); ``opening_m`` is the tensile component U3 (> 0 opens).

    Across a fault that reaches the surface the displacement jumps by the slip's horizontal and
    vertical parts; points exactly on the trace get the mean of the two sides, and the two trace
    ends (where the field is singular) get finite values, never NaN.

    The default is a surface-rupturing, steeply dipping strike-slip fault crossing a 5 km scene
    (3 m of left-lateral slip, a 0.3 pixel jump at 10 m pixels).

    Parameters
    ----------
    east_m, north_m : float
        Midpoint of the top edge, metres east and north of the scene centre.
    strike_deg : float
        Strike azimuth, degrees clockwise from north.
    dip_deg : float
        Dip below the horizontal, degrees, 0 <= dip <= 90 (0: horizontal, then it must be buried).
    length_m, width_m : float
        Along-strike length and down-dip width, metres (> 0).
    top_depth_m : float
        Depth of the top edge, metres (>= 0; 0 = surface rupturing).
    slip_m : float
        Shear slip magnitude, metres (>= 0).
    rake_deg : float
        Rake of the slip, degrees.
    opening_m : float
        Tensile dislocation (opening > 0, closing < 0), metres.
    poisson_ratio : float
        Poisson's ratio ν of the half-space, -1 < ν <= 0.5 (0.25: λ = μ).

    Methods
    -------
    displacement_m(x_m, y_m)
        (east, north, up) surface displacement in metres.

    References
    ----------
    Okada (1985), BSSA 75(4), 1135-1154, https://doi.org/10.1785/BSSA0750041135
    """

    east_m: float = field(
        default=0.0,
        metadata={"help": "east coordinate of the top edge's midpoint (surface trace midpoint if top depth is 0), m"},
    )
    north_m: float = field(default=0.0, metadata={"help": "north coordinate of the top edge's midpoint, m"})
    strike_deg: float = field(
        default=30.0, metadata={"help": "strike azimuth, degrees clockwise from north (fault dips to the right)"}
    )
    dip_deg: float = field(default=80.0, metadata={"help": "dip below horizontal, degrees in [0, 90]"})
    length_m: float = field(default=4000.0, metadata={"help": "fault length along strike, m"})
    width_m: float = field(default=3000.0, metadata={"help": "fault width down dip, m"})
    top_depth_m: float = field(
        default=0.0, metadata={"help": "depth of the fault's top edge, m (0 = surface rupturing)"}
    )
    slip_m: float = field(default=3.0, metadata={"help": "shear slip magnitude (hanging wall relative to footwall), m"})
    rake_deg: float = field(
        default=0.0, metadata={"help": "rake, degrees (0 left-lateral, 180 right-lateral, 90 reverse, -90 normal)"}
    )
    opening_m: float = field(default=0.0, metadata={"help": "tensile opening across the fault (negative closes), m"})
    poisson_ratio: float = field(
        default=0.25, metadata={"help": "Poisson's ratio of the half-space, dimensionless, in (-1, 0.5]"}
    )

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise `InputError` for parameters that describe no possible fault."""
        for f in (
            "east_m",
            "north_m",
            "strike_deg",
            "dip_deg",
            "length_m",
            "width_m",
            "top_depth_m",
            "slip_m",
            "rake_deg",
            "opening_m",
            "poisson_ratio",
        ):
            _real(f, getattr(self, f))
        if not 0.0 <= self.dip_deg <= 90.0:
            raise InputError(
                f"dip_deg must be between 0 and 90 degrees, got {self.dip_deg} "
                "(for a fault dipping the other way, add 180 to strike_deg)"
            )
        if self.length_m <= 0:
            raise InputError(f"length_m must be positive, got {self.length_m}")
        if self.width_m <= 0:
            raise InputError(f"width_m must be positive, got {self.width_m}")
        if self.top_depth_m < 0:
            raise InputError(
                f"top_depth_m must be >= 0, got {self.top_depth_m}: "
                "the fault's top edge would lie above the ground surface"
            )
        if self.dip_deg == 0.0 and self.top_depth_m == 0.0:
            raise InputError("a horizontal fault (dip_deg = 0) must be buried: top_depth_m must be > 0")
        if self.slip_m < 0:
            raise InputError(
                f"slip_m is a magnitude and must be >= 0, got {self.slip_m} (reverse the sense with rake_deg)"
            )
        if not -1.0 < self.poisson_ratio <= 0.5:
            raise InputError(f"poisson_ratio must be in (-1, 0.5], got {self.poisson_ratio}")

    @property
    def strike_slip_m(self) -> float:
        """Strike-slip component slip cos(rake), metres (> 0 left-lateral)."""
        return self.slip_m * math.cos(math.radians(self.rake_deg))

    @property
    def dip_slip_m(self) -> float:
        """Dip-slip component slip sin(rake), metres (> 0 reverse)."""
        return self.slip_m * math.sin(math.radians(self.rake_deg))

    @property
    def bottom_depth_m(self) -> float:
        """Depth of the fault's lower edge, metres."""
        return self.top_depth_m + self.width_m * _dip_trig(self.dip_deg)[0]

    def _fault_frame(self, x_m, y_m):
        """Ground points in Okada's frame: (x along strike, y up-dip) from the lower edge's first corner."""
        x_m, y_m = np.broadcast_arrays(np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64))
        cos_d = _dip_trig(self.dip_deg)[1]
        phi = math.radians(self.strike_deg)
        s_e, s_n = math.sin(phi), math.cos(phi)  # along strike
        l_e, l_n = -math.cos(phi), math.sin(phi)  # left of strike = Okada's +y (up-dip)
        # Okada's origin: the surface projection of the lower edge's starting corner.
        o_e = self.east_m - 0.5 * self.length_m * s_e - self.width_m * cos_d * l_e
        o_n = self.north_m - 0.5 * self.length_m * s_n - self.width_m * cos_d * l_n
        de, dn = x_m - o_e, y_m - o_n
        return de * s_e + dn * s_n, de * l_e + dn * l_n, (s_e, s_n), (l_e, l_n)

    def displacement_m(self, x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Surface displacement at local ground coordinates.

        Parameters
        ----------
        x_m, y_m : array_like
            East and north coordinates of the points, metres from the scene centre; broadcast
            together.

        Returns
        -------
        east, north, up : ndarray of float64
            Displacement in metres, of the broadcast shape of ``x_m`` and ``y_m``.
        """
        x, y, (s_e, s_n), (l_e, l_n) = self._fault_frame(x_m, y_m)
        ux, uy, uz = okada85_surface(
            x,
            y,
            bottom_depth=self.bottom_depth_m,
            dip_deg=self.dip_deg,
            length=self.length_m,
            width=self.width_m,
            strike_slip=self.strike_slip_m,
            dip_slip=self.dip_slip_m,
            opening=self.opening_m,
            poisson_ratio=self.poisson_ratio,
        )
        return ux * s_e + uy * l_e, ux * s_n + uy * l_n, uz

    def singular_distance_m(self, x_m: np.ndarray, y_m: np.ndarray) -> np.ndarray:
        """Distance from surface points to the fault rectangle, metres.

        The surface displacement is smooth (real-analytic) away from the fault, varying on scales of
        this distance; it is 0 on a surface trace, where the displacement jumps. Used to evaluate
        the field on a coarse grid away from the fault (`sarflow.simulation.fields.GeophysicalField`).

        Parameters
        ----------
        x_m, y_m : array_like
            East and north coordinates, metres from the scene centre; broadcast together.

        Returns
        -------
        ndarray of float64
            Of the broadcast shape of ``x_m`` and ``y_m``.
        """
        x, y, _, _ = self._fault_frame(x_m, y_m)
        sin_d, cos_d = _dip_trig(self.dip_deg)
        depth = self.bottom_depth_m
        # Coordinates from the lower edge's first corner along strike, up dip and normal to the plane.
        p = y * cos_d + depth * sin_d
        q = y * sin_d - depth * cos_d
        along = x - np.clip(x, 0.0, self.length_m)
        up_dip = p - np.clip(p, 0.0, self.width_m)
        return np.sqrt(along * along + up_dip * up_dip + q * q)
