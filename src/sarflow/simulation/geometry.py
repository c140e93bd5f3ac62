"""Imaging geometry of a simulated SAR scene: pixels <-> ground coordinates, displacement -> offsets.

Ground frame: local Cartesian metres, ``x`` east, ``y`` north, ``z`` up, origin at the scene
centre (the pixel position ((H − 1)/2, (W − 1)/2) of an H × W image). Image offsets: ``dx`` along
columns, ``dy`` along rows, in pixels; a feature at (row, col) of the reference image lies at
(row + dy, col + dx) in the secondary image.

References
----------
Bamler, R., & Hartl, P. (1998). Synthetic aperture radar interferometry. *Inverse Problems*
14(4), R1-R54. https://doi.org/10.1088/0266-5611/14/4/001

Strozzi, T., Luckman, A., Murray, T., Wegmüller, U., & Werner, C. L. (2002). Glacier motion
estimation using SAR offset-tracking procedures. *IEEE Transactions on Geoscience and Remote
Sensing* 40(11), 2384-2391. https://doi.org/10.1109/TGRS.2002.805079
"""

import math
from dataclasses import dataclass, field

import numpy as np

from sarflow.errors import InputError

__all__ = ["RadarGeometry", "real_parameter"]


def real_parameter(name: str, value) -> float:
    """Check that a model parameter is a finite real number and return it as a float.

    Parameters
    ----------
    name : str
        Parameter name, for the error message.
    value : object
        The value to check (bools are refused).

    Returns
    -------
    float

    Raises
    ------
    InputError
        If ``value`` is not a real number or is not finite.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{name} must be finite, got {value}")
    return value


def _shape(shape) -> tuple[int, int]:
    try:
        h, w = shape
    except (TypeError, ValueError):
        raise InputError(f"shape must be a pair (rows, cols), got {shape!r}") from None
    if (
        isinstance(h, (bool, np.bool_))
        or isinstance(w, (bool, np.bool_))
        or not all(isinstance(v, (int, np.integer)) for v in (h, w))
    ):
        raise InputError(f"shape must hold two integers, got {shape!r}")
    if h < 1 or w < 1:
        raise InputError(f"shape must be positive, got {shape!r}")
    return int(h), int(w)


def _floats(*arrays):
    return np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in arrays))


@dataclass(frozen=True)
class RadarGeometry:
    r"""Viewing geometry of a side-looking radar over a flat scene, and the image grid.

    The radar flies along ``heading_deg`` (clockwise from north) and looks ``look_side`` of its
    track, down at the scene with incidence angle θ = ``incidence_deg`` from the vertical,
    taken as constant across the scene (flat Earth, a scene a few km across). The **ground-range
    direction** ĝ is the horizontal unit vector pointing away from the radar, at azimuth
    heading + 90° (right-looking) or heading − 90° (left-looking); the **along-track direction**
    â points along the heading.

    Image grids (``grid``):

    * ``"map"``: a geocoded, terrain-corrected, north-up image: columns increase to the east,
      rows increase to the **south**; ``pixel_spacing_m = (row, col)`` spacing in ground metres.
    * ``"radar"``: the acquisition geometry: rows increase along the flight direction â
      (azimuth time), columns increase away from the radar along ĝ, with column spacing in ground
      range (``range_spacing = "ground"``) or slant range (``"slant"``; ground spacing =
      slant spacing / sin θ). Seen from above, ĝ is to the right of â for a right-looking radar,
      so such an image, displayed rows down and columns right, is a mirror image of the ground::

          map grid                           radar grid

                 N                           +-------> cols: range, along ĝ
                 |                           |         (away from the radar)
           ------+-----> E   cols            |
                 |                           v  rows: along track, along â
                 v  rows (south)                (the heading, clockwise from north)

    Displacement to offsets. Horizontal motion moves the target and maps to offsets directly
    (east/north in the map grid; along-track and ground-range components in the radar grid). A
    radar locates a target by its slant range; a vertical motion u changes the range by −u cos θ,
    so in a ground-range or terrain-corrected image (focused or geocoded with the reference
    topography) the target appears displaced by −u / tan θ along ĝ: uplift moves it **toward**
    the radar::

           radar
             o
              \  line of sight, incidence θ from the vertical
               \
                \       P'  target after uplift u
                 \     /|
                  \   / | u      the wavefront (constant range) through P' is
                   \ /  |        perpendicular to the line of sight and meets the
           ---------Q---P------>  ground at Q, u / tan θ from P toward the radar:
                                  ĝ (ground range, away from the radar)

    In slant range the column offset is the range change over the slant spacing:
    dx = (g sin θ − u cos θ) / Δr, where g is the ground-range component of the horizontal
    motion. Summary, with (e, n, u) the displacement and (Δrow, Δcol) = ``pixel_spacing_m``:

    ============  ==========================================  ==================================
    grid          dx (columns)                                dy (rows)
    ============  ==========================================  ==================================
    map           (e − u cot θ ĝ_e) / Δcol                    −(n − u cot θ ĝ_n) / Δrow
    radar/ground  ((e, n)·ĝ − u cot θ) / Δcol                 (e, n)·â / Δrow
    radar/slant   ((e, n)·ĝ sin θ − u cos θ) / Δcol           (e, n)·â / Δrow
    ============  ==========================================  ==================================

    The default is a Sentinel-1-like ascending pass (heading −12°, right-looking, so ĝ points to
    azimuth 78°, roughly east) at 39° incidence, on a 10 m north-up map grid.

    Parameters
    ----------
    incidence_deg : float
        Incidence angle θ from the vertical, degrees, 0 < θ < 90.
    heading_deg : float
        Flight direction, degrees clockwise from north (ascending Sentinel-1: about −12;
        descending: about −168, i.e. 192).
    look_side : {"right", "left"}
        Side of the track the radar looks to.
    pixel_spacing_m : tuple of float
        (row spacing, column spacing) in metres: ground metres, except the column spacing of a
        slant-range radar grid, which is in slant-range metres.
    grid : {"map", "radar"}
        Layout of the image (see above).
    range_spacing : {"ground", "slant"}
        Whether radar-grid columns are spaced in ground or slant range; "slant" needs
        ``grid = "radar"``.

    Methods
    -------
    pixel_to_ground(rows, cols, shape)
        Local east/north metres of pixel positions.
    ground_to_pixel(x_m, y_m, shape)
        Pixel positions of local east/north metres (the inverse).
    displacement_to_offsets(east_m, north_m, up_m)
        Image offsets (dx, dy) in pixels of a ground displacement in metres.
    """

    incidence_deg: float = field(
        default=39.0, metadata={"help": "incidence angle from the vertical, degrees in (0, 90)"}
    )
    heading_deg: float = field(
        default=-12.0, metadata={"help": "flight direction, degrees clockwise from north (-12: Sentinel-1 ascending)"}
    )
    look_side: str = field(default="right", metadata={"help": "side the radar looks to: right or left"})
    pixel_spacing_m: tuple[float, float] = field(
        default=(10.0, 10.0),
        metadata={"help": "pixel spacing (row, column), m (column in slant range for a slant-range grid)"},
    )
    grid: str = field(
        default="map",
        metadata={
            "help": "image layout: map (north-up, rows south) or radar (rows along track, columns away from the radar)"
        },
    )
    range_spacing: str = field(default="ground", metadata={"help": "radar-grid column spacing: ground or slant range"})

    def __post_init__(self):
        spacing = self.pixel_spacing_m
        if isinstance(spacing, (str, bytes)) or not hasattr(spacing, "__len__") or len(spacing) != 2:
            raise InputError(f"pixel_spacing_m must be a pair (row spacing, column spacing), got {spacing!r}")
        object.__setattr__(
            self,
            "pixel_spacing_m",
            (real_parameter("pixel_spacing_m[0]", spacing[0]), real_parameter("pixel_spacing_m[1]", spacing[1])),
        )
        self.validate()

    def validate(self) -> None:
        """Raise `InputError` for a geometry that cannot exist."""
        inc = real_parameter("incidence_deg", self.incidence_deg)
        if not 0.0 < inc < 90.0:
            raise InputError(f"incidence_deg must be strictly between 0 and 90 degrees, got {inc}")
        real_parameter("heading_deg", self.heading_deg)
        if self.look_side not in ("right", "left"):
            raise InputError(f"look_side must be 'right' or 'left', got {self.look_side!r}")
        if min(self.pixel_spacing_m) <= 0:
            raise InputError(f"pixel_spacing_m must be positive, got {self.pixel_spacing_m}")
        if self.grid not in ("map", "radar"):
            raise InputError(f"grid must be 'map' or 'radar', got {self.grid!r}")
        if self.range_spacing not in ("ground", "slant"):
            raise InputError(f"range_spacing must be 'ground' or 'slant', got {self.range_spacing!r}")
        if self.range_spacing == "slant" and self.grid != "radar":
            raise InputError(
                "range_spacing='slant' applies to the radar grid only; a map grid is spaced in ground metres"
            )

    # ----------------------------------------------------------------- directions
    @property
    def look_azimuth_deg(self) -> float:
        """Azimuth of the ground-range direction ĝ (away from the radar), degrees in [0, 360)."""
        turn = 90.0 if self.look_side == "right" else -90.0
        return (self.heading_deg + turn) % 360.0

    @property
    def along_track_unit(self) -> tuple[float, float]:
        """(east, north) components of the unit vector â along the flight direction."""
        h = math.radians(self.heading_deg)
        return math.sin(h), math.cos(h)

    @property
    def ground_range_unit(self) -> tuple[float, float]:
        """(east, north) components of the unit vector ĝ pointing away from the radar."""
        a = math.radians(self.look_azimuth_deg)
        return math.sin(a), math.cos(a)

    @property
    def line_of_sight_unit(self) -> tuple[float, float, float]:
        """(east, north, up) unit vector from a ground target toward the radar.

        A displacement d lengthens the slant range by −d · (this vector).
        """
        th = math.radians(self.incidence_deg)
        g_e, g_n = self.ground_range_unit
        return -math.sin(th) * g_e, -math.sin(th) * g_n, math.cos(th)

    @property
    def ground_pixel_spacing_m(self) -> tuple[float, float]:
        """(row, column) pixel spacing on the ground, metres."""
        row, col = self.pixel_spacing_m
        if self.range_spacing == "slant":
            col = col / math.sin(math.radians(self.incidence_deg))
        return row, col

    # ----------------------------------------------------------------- pixels <-> ground
    def pixel_to_ground(self, rows, cols, shape) -> tuple[np.ndarray, np.ndarray]:
        """Local ground coordinates of (fractional) pixel positions.

        Parameters
        ----------
        rows, cols : array_like
            Pixel positions (row, column); broadcast together.
        shape : tuple of int
            (H, W) of the image; its centre ((H − 1)/2, (W − 1)/2) is the ground origin.

        Returns
        -------
        x_m, y_m : ndarray of float64
            East and north coordinates in metres, of the broadcast shape of ``rows``, ``cols``.
        """
        h, w = _shape(shape)
        rows, cols = _floats(rows, cols)
        r = rows - 0.5 * (h - 1)
        c = cols - 0.5 * (w - 1)
        s_row, s_col = self.ground_pixel_spacing_m
        if self.grid == "map":
            return c * s_col, -r * s_row
        a_e, a_n = self.along_track_unit
        g_e, g_n = self.ground_range_unit
        along = r * s_row
        across = c * s_col
        return along * a_e + across * g_e, along * a_n + across * g_n

    def ground_to_pixel(self, x_m, y_m, shape) -> tuple[np.ndarray, np.ndarray]:
        """Pixel positions of local ground coordinates (the inverse of `pixel_to_ground`).

        Parameters
        ----------
        x_m, y_m : array_like
            East and north coordinates, metres from the scene centre; broadcast together.
        shape : tuple of int
            (H, W) of the image.

        Returns
        -------
        rows, cols : ndarray of float64
            Fractional pixel positions, of the broadcast shape of ``x_m``, ``y_m``.
        """
        h, w = _shape(shape)
        x_m, y_m = _floats(x_m, y_m)
        s_row, s_col = self.ground_pixel_spacing_m
        if self.grid == "map":
            r, c = -y_m / s_row, x_m / s_col
        else:
            a_e, a_n = self.along_track_unit
            g_e, g_n = self.ground_range_unit
            r = (x_m * a_e + y_m * a_n) / s_row
            c = (x_m * g_e + y_m * g_n) / s_col
        return r + 0.5 * (h - 1), c + 0.5 * (w - 1)

    # ----------------------------------------------------------------- displacement -> offsets
    def displacement_to_offsets(self, east_m, north_m, up_m) -> tuple[np.ndarray, np.ndarray]:
        """Image offsets caused by a ground displacement.

        Parameters
        ----------
        east_m, north_m, up_m : array_like
            Displacement components in metres; broadcast together.

        Returns
        -------
        dx_px, dy_px : ndarray of float64
            Offsets along columns and rows in pixels (see the class docstring for the formulas and
            signs), of the broadcast shape of the inputs.
        """
        e, n, u = _floats(east_m, north_m, up_m)
        th = math.radians(self.incidence_deg)
        s_row, s_col = self.pixel_spacing_m
        g_e, g_n = self.ground_range_unit
        if self.grid == "map":
            shift = u / math.tan(th)  # apparent motion toward the radar
            return (e - shift * g_e) / s_col, -(n - shift * g_n) / s_row
        a_e, a_n = self.along_track_unit
        along = e * a_e + n * a_n
        ground = e * g_e + n * g_n
        if self.range_spacing == "ground":
            dx = (ground - u / math.tan(th)) / s_col
        else:
            dx = (ground * math.sin(th) - u * math.cos(th)) / s_col
        return dx, along / s_row
