"""Velocity from an offsets product: pixels to metres, metres to metres per day and per year.

Offsets are in pixels of the image pair (``dx`` along columns, ``dy`` along rows; a feature at
reference (r, c) lies at (r + dy, c + dx) in the secondary). The displacement they measure,
divided by the time between the two acquisitions, is a velocity.

Two geometries
--------------
map (the product has a CRS)
    A pixel vector (dx, dy) becomes a map vector through the linear part of the product
    transform divided by the grid step: the product grid samples the image every ``grid_step``
    pixels, and the offsets are in image pixels, not product cells. The whole 2 x 2 matrix is
    used, so rotated and flipped grids are handled. In a projected CRS, map units become metres
    (feet by their factor); components are along grid x (``vx``, east on a north-up grid) and grid
    y (``vy``, north), and the projection's scale error (0.9996 on a UTM central meridian) is left
    uncorrected, as usual for such products. In a geographic CRS (degrees), each cell's degrees of
    longitude and latitude become metres east and north with the ellipsoid's metres per degree at
    that cell's latitude. ``direction`` is the azimuth of motion in degrees clockwise from (grid)
    north, in [0, 360).
radar (no CRS: pixel coordinates of a radar image)
    ``pixel_spacing = (range_m, azimuth_m)`` is required; with ``incidence_deg`` the range spacing
    is taken as slant range and projected to the ground: ground = slant / sin(incidence).
    Components ``v_range`` (along increasing columns, away from the radar) and ``v_azimuth``
    (along increasing rows); ``direction`` is the angle from +range toward +azimuth, degrees in
    (-180, 180].

Uncertainty
-----------
From 1-sigma offsets errors in pixels (bands ``sigma_dx`` and ``sigma_dy``, or ``sigma_px`` for
both components, as `sarflow.tracking` writes it), taken as independent between dx and dy: with J
the 2 x 2 Jacobian from pixels to metres, C = J diag(sigma_dx^2, sigma_dy^2) J^T, and
``vx_error = sqrt(C_xx) / T``, ``vy_error = sqrt(C_yy) / T``, and to first order

    v_error = sqrt(vx^2 C_xx + vy^2 C_yy + 2 vx vy C_xy) / (v T),

which is sqrt((vx svx)^2 + (vy svy)^2) / v on an unrotated grid. Where v = 0 the direction is
undefined and v_error is the average over directions, sqrt((C_xx + C_yy) / 2) / T.

Dates
-----
Given dates (reference first), or a time span in days, or the product's tags
``reference_date`` / ``secondary_date`` (also ITS_LIVE's ``acquisition_date_img1`` /
``acquisition_date_img2``). Reading the input images' own tags is the job's business
(`sarflow.scene.velocity`); `dates_from_tags` parses one image's tags. A year is 365.25 days.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import numpy as np
from affine import Affine

from sarflow.errors import InputError

__all__ = [
    "DAYS_PER_YEAR",
    "PAIR_DATE_TAGS",
    "IMAGE_DATE_TAGS",
    "VelocityProduct",
    "acquisition_span",
    "pair_date_tags",
    "canonical_units",
    "date_tags",
    "dates_from_tags",
    "metres_per_degree",
    "pair_dates_from_tags",
    "parse_date",
    "velocity_from_offsets",
]

#: Days in the year of ``m/yr`` (the Julian year, as ITS_LIVE uses).
DAYS_PER_YEAR = 365.25

#: Product tags holding the two acquisition dates, in the order they are looked for.
PAIR_DATE_TAGS = (("reference_date", "secondary_date"), ("acquisition_date_img1", "acquisition_date_img2"))

#: Image tags holding an acquisition time, in the order they are looked for (case-insensitive):
#: GDAL's Sentinel-1 SAFE driver, generic and Landsat-style names, and last the TIFF DateTime tag,
#: which by the TIFF standard is when the file was written (the acquisition time in Sentinel-1
#: measurement files, not in a file someone has since cropped or converted).
IMAGE_DATE_TAGS = ("ACQUISITION_START_TIME", "ACQUISITION_DATE", "DATE_ACQUIRED", "TIFFTAG_DATETIME")

_UNITS = {"m/day": 1.0, "m/d": 1.0, "m/yr": DAYS_PER_YEAR, "m/year": DAYS_PER_YEAR, "m/a": DAYS_PER_YEAR}
_WGS84 = (6378137.0, 1.0 / 298.257223563)
_MAX_ABS_LATITUDE = 89.0


def canonical_units(units: str) -> tuple[str, float]:
    """``("m/yr", 365.25)`` or ``("m/day", 1.0)``: the velocity units written and their factor from m/day."""
    key = str(units).strip().lower().replace(" ", "")
    if key not in _UNITS:
        raise InputError(f"unknown velocity units {units!r}; use 'm/yr' or 'm/day'")
    return ("m/day" if _UNITS[key] == 1.0 else "m/yr"), _UNITS[key]


# ----------------------------------------------------------------------------------------------
# Dates


def parse_date(value) -> datetime:
    """An acquisition date or time as a naive UTC `datetime`.

    Accepts `datetime`, `date`, `numpy.datetime64` and strings in ISO 8601 (``2020-01-13``,
    ``2020-01-13T05:43:12.5Z``, ``20200113``, ``20200113T054312``) or the TIFF form
    ``2020:01:13 05:43:12``. Aware times are converted to UTC; naive ones are taken as UTC.
    """
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, np.datetime64):
        if np.isnat(value):
            raise InputError("a date is missing (NaT)")
        dt = value.astype("datetime64[us]").item()
    elif isinstance(value, str):
        text = value.strip().rstrip(".")
        dt = None
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            for fmt in ("%Y:%m:%d %H:%M:%S", "%Y%m%dT%H:%M:%S", "%Y/%m/%d", "%Y/%m/%d %H:%M:%S"):
                try:
                    dt = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
        if dt is None:
            raise InputError(f"{value!r} is not a date; use ISO 8601, e.g. 2020-01-13 or 2020-01-13T05:43:12")
    else:
        raise InputError(f"{value!r} is not a date; use ISO 8601, e.g. 2020-01-13 or 2020-01-13T05:43:12")
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


def dates_from_tags(tags: Mapping[str, str]) -> tuple[datetime, str] | None:
    """The acquisition time found in one image's tags, and the tag it came from (None if none).

    Looks for `IMAGE_DATE_TAGS` in that order, ignoring case and values that do not parse.
    """
    lookup = {str(k).lower(): v for k, v in tags.items()}
    for key in IMAGE_DATE_TAGS:
        value = lookup.get(key.lower())
        if not value:
            continue
        try:
            return parse_date(str(value)), key
        except InputError:
            continue
    return None


def pair_dates_from_tags(metadata: Mapping[str, str]) -> tuple[tuple[str, str], str] | None:
    """Both acquisition dates from a product's tags (`PAIR_DATE_TAGS`) as stored, and their source; or None."""
    for first, second in PAIR_DATE_TAGS:
        if metadata.get(first) and metadata.get(second):
            return (metadata[first], metadata[second]), f"product tags {first}, {second}"
    return None


_MISSING_DATES = ("no acquisition dates: give them (--dates REFERENCE_DATE SECONDARY_DATE, e.g. "
                  "--dates 2020-01-01 2020-01-13) or the time span (--days 12); the product carries no "
                  "reference_date / secondary_date tags")


def pair_date_tags(dates: Sequence) -> dict[str, str]:
    """Product tags ``reference_date`` / ``secondary_date`` (ISO 8601) for acquisition dates given by a user.

    `sarflow track` and `sarflow predict` store them (``--dates``), so `sarflow velocity` finds
    them in the product without being told again.

    Raises
    ------
    InputError
        Not two dates, dates that do not parse, are equal or reversed (as `acquisition_span`).
    """
    reference, secondary, _, _ = acquisition_span(dates=dates)
    return {"reference_date": reference.isoformat(), "secondary_date": secondary.isoformat()}


def acquisition_span(metadata: Mapping[str, str] | None = None, *, dates: Sequence | None = None,
                     days: float | None = None) -> tuple[datetime | None, datetime | None, float, str]:
    """Reference date, secondary date, time between them in days, and where they came from.

    Parameters
    ----------
    metadata : mapping, optional
        Product tags, searched for `PAIR_DATE_TAGS` when neither ``dates`` nor ``days`` is given.
    dates : (reference, secondary), optional
        Anything `parse_date` reads; the reference (first image) first.
    days : float, optional
        The time span itself, days (> 0); the dates are then unknown (None).

    Raises
    ------
    InputError
        Both or neither given (and no tags), dates that do not parse, are equal or reversed.
    """
    if dates is not None and days is not None:
        raise InputError("give the acquisition dates or the time span in days, not both")
    if days is not None:
        try:
            span = float(days)
        except (TypeError, ValueError):
            raise InputError(f"days={days!r} is not a number") from None
        if not math.isfinite(span) or span <= 0:
            raise InputError(f"the time span must be a positive number of days, got {days}")
        return None, None, span, "given time span"
    if dates is not None:
        if isinstance(dates, (str, bytes)) or len(dates) != 2:
            raise InputError(f"dates must be two dates, reference then secondary, got {dates!r}")
        source = "given dates"
    else:
        found = pair_dates_from_tags(metadata or {})
        if found is None:
            raise InputError(_MISSING_DATES)
        dates, source = found
    start, end = parse_date(dates[0]), parse_date(dates[1])
    span = (end - start).total_seconds() / 86400.0
    if span == 0:
        raise InputError(f"both acquisition dates are {start.isoformat()}: a velocity needs two different dates")
    if span < 0:
        raise InputError(f"the secondary date {end.isoformat()} is before the reference date {start.isoformat()}: "
                         "give the reference (first image) date first; offsets go from reference to secondary, so "
                         "if the reference really is the later image, track the pair the other way round")
    return start, end, span, source


def date_tags(dates: Sequence) -> dict[str, str]:
    """Product tags recording the acquisition dates (checked: parseable, reference first, different).

    ``{"reference_date": ..., "secondary_date": ...}`` in ISO 8601; an offsets product carrying
    them gives its velocity without dates being passed again.
    """
    start, end, _, _ = acquisition_span(dates=dates)
    return {"reference_date": start.isoformat(), "secondary_date": end.isoformat()}


# ----------------------------------------------------------------------------------------------
# The product


@dataclass(kw_only=True)
class VelocityProduct:
    """Velocity on an offsets product's grid.

    Attributes
    ----------
    vx, vy : ndarray, shape (h, w), float64
        Velocity components, m/day: along grid x (east) and grid y (north) in map geometry, along
        range and azimuth in radar geometry (`component_names`). NaN where there is no offset.
    days : float
        Time between the acquisitions, days.
    geometry : {"map", "radar"}
    vx_error, vy_error, v_error : ndarray (h, w) or None
        1-sigma uncertainties, m/day; None when the offsets carry no sigma bands.
    dx, dy : ndarray (h, w)
        The offsets, pixels (arrow directions on the grid for quick-looks).
    transform : Affine
        The offsets product's transform; ``crs`` its CRS (None in radar geometry).
    start, end : datetime or None
        Acquisition times (None when only the span was given).
    metadata : dict of str -> str
        How it was made: dates and their source, spacing, grid step, conventions, provenance.
    """

    vx: np.ndarray
    vy: np.ndarray
    days: float
    geometry: str = "map"
    vx_error: np.ndarray | None = None
    vy_error: np.ndarray | None = None
    v_error: np.ndarray | None = None
    dx: np.ndarray | None = None
    dy: np.ndarray | None = None
    transform: Affine = field(default_factory=Affine.identity)
    crs: object | None = None
    start: datetime | None = None
    end: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.geometry not in ("map", "radar"):
            raise InputError(f"geometry must be 'map' or 'radar', got {self.geometry!r}")
        if np.shape(self.vx) != np.shape(self.vy) or np.ndim(self.vx) != 2:
            raise InputError(f"vx and vy must be 2-D arrays of one shape, got {np.shape(self.vx)}, {np.shape(self.vy)}")

    @property
    def shape(self) -> tuple[int, int]:
        return np.shape(self.vx)

    @property
    def component_names(self) -> tuple[str, str]:
        """``("vx", "vy")`` in map geometry, ``("v_range", "v_azimuth")`` in radar geometry."""
        return ("vx", "vy") if self.geometry == "map" else ("v_range", "v_azimuth")

    @property
    def v(self) -> np.ndarray:
        """Speed, m/day (h, w)."""
        return np.hypot(self.vx, self.vy)

    @property
    def v_per_year(self) -> np.ndarray:
        """Speed, m/yr (h, w); a year is `DAYS_PER_YEAR` days."""
        return self.v * DAYS_PER_YEAR

    @property
    def displacement_m(self) -> np.ndarray:
        """Displacement magnitude between the acquisitions, metres (h, w)."""
        return self.v * self.days

    @property
    def direction_deg(self) -> np.ndarray:
        """Direction of motion, degrees; NaN where the speed is zero or unknown.

        Map geometry: azimuth clockwise from (grid) north, [0, 360). Radar geometry: angle from
        +range toward +azimuth, (-180, 180].
        """
        vx, vy = np.asarray(self.vx, dtype=np.float64), np.asarray(self.vy, dtype=np.float64)
        moving = np.hypot(vx, vy) > 0
        if self.geometry == "map":
            angle = np.degrees(np.arctan2(vx, vy)) % 360.0
            angle = np.where(angle >= 360.0, angle - 360.0, angle)
        else:
            angle = np.degrees(np.arctan2(vy, vx))
        return np.where(moving, angle, np.nan)

    def bands(self, units: str = "m/yr") -> dict[str, np.ndarray]:
        """Output bands in file order, float32: components, ``v``, ``direction``, then errors if any.

        Map geometry: ``vx``, ``vy``, ``v``, ``direction``, ``v_error``, ``vx_error``, ``vy_error``
        (ITS_LIVE names); radar geometry: ``v_range``, ``v_azimuth``, ``v``, ``direction``,
        ``v_error``, ``v_range_error``, ``v_azimuth_error``. Velocities in ``units`` ('m/yr' or
        'm/day'), direction in degrees.
        """
        _, factor = canonical_units(units)
        cx, cy = self.component_names
        out = {cx: self.vx * factor, cy: self.vy * factor, "v": self.v * factor, "direction": self.direction_deg}
        if self.v_error is not None:
            out["v_error"] = self.v_error * factor
            out[f"{cx}_error"] = self.vx_error * factor
            out[f"{cy}_error"] = self.vy_error * factor
        return {name: np.asarray(band, dtype=np.float32) for name, band in out.items()}

    def band_units(self, units: str = "m/yr") -> dict[str, str]:
        """Units of each of `bands`: the velocity units, ``degree`` for ``direction``."""
        name, _ = canonical_units(units)
        return {band: ("degree" if band == "direction" else name) for band in self.band_names()}

    def band_names(self) -> list[str]:
        cx, cy = self.component_names
        names = [cx, cy, "v", "direction"]
        if self.v_error is not None:
            names += ["v_error", f"{cx}_error", f"{cy}_error"]
        return names

    def long_names(self) -> dict[str, str]:
        """A CF ``long_name`` for each band."""
        if self.geometry == "map":
            geographic = bool(getattr(self.crs, "is_geographic", False))
            x = "eastward velocity" if geographic else "velocity along grid x (east on a north-up grid)"
            y = "northward velocity" if geographic else "velocity along grid y (north on a north-up grid)"
            direction = "direction of motion, clockwise from north" if geographic else \
                "direction of motion, clockwise from grid north"
        else:
            x = "velocity along range (increasing columns, away from the radar)"
            y = "velocity along azimuth (increasing rows)"
            direction = "direction of motion, from +range toward +azimuth"
        cx, cy = self.component_names
        return {cx: x, cy: y, "v": "speed", "direction": direction, "v_error": "speed 1-sigma uncertainty",
                f"{cx}_error": f"{cx} 1-sigma uncertainty", f"{cy}_error": f"{cy} 1-sigma uncertainty"}

    def dates_text(self) -> str:
        """``2020-01-01 to 2020-01-13 (12 days)``, or ``over 12 days`` when the dates are unknown."""
        span = f"{self.days:.6g} day{'s' if self.days != 1 else ''}"
        if self.start is None or self.end is None:
            return f"over {span}"
        return f"{_short(self.start)} to {_short(self.end)} ({span})"


def _short(dt: datetime) -> str:
    return dt.date().isoformat() if dt.time() == datetime.min.time() else dt.isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------------
# Geometry: Jacobians from image pixels to metres


def _grid_step(metadata: Mapping[str, str], grid_step: float | None) -> tuple[float, str]:
    """Image pixels per product cell: given, or read from what sarflow records in its products."""
    if grid_step is not None:
        try:
            step = float(grid_step)
        except (TypeError, ValueError):
            raise InputError(f"grid_step={grid_step!r} is not a number") from None
        if not math.isfinite(step) or step <= 0:
            raise InputError(f"the grid step must be a positive number of image pixels, got {grid_step}")
        return step, "given"
    if metadata.get("grid_step"):
        return _grid_step(metadata, metadata["grid_step"])[0], "product tag grid_step"
    params = metadata.get("parameters")
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            params = None
    if isinstance(params, Mapping) and params.get("step") is not None:
        return _grid_step(metadata, params["step"])[0], "product parameters (tracking step)"
    if str(metadata.get("method", "")).startswith("sarflow.predict"):
        return 1.0, "sarflow predict (one estimate per image pixel)"
    raise InputError("cannot tell how many image pixels one product cell spans (the offsets are in image "
                     "pixels, the transform in product cells): give it with --grid-step N (grid_step=N): "
                     "1 when the offsets grid is the image grid, the tracking step otherwise")


def _ellipsoid(crs) -> tuple[float, float]:
    """Semi-major axis (m) and squared eccentricity of a geographic CRS (WGS 84 if unknown)."""
    a, f = _WGS84
    try:
        from pyproj import CRS as ProjCRS

        ell = ProjCRS.from_wkt(crs.to_wkt()).ellipsoid
        if ell is not None and ell.semi_major_metre > 0:
            a = float(ell.semi_major_metre)
            inv = float(ell.inverse_flattening)
            f = 1.0 / inv if inv > 0 and math.isfinite(inv) else 0.0
    except Exception:  # pyproj comes with rasterio's usual installs; WGS 84 is a close fallback
        pass
    return a, f * (2.0 - f)


def metres_per_degree(latitude_deg: np.ndarray, *, semi_major_m: float = _WGS84[0],
                      eccentricity2: float = _WGS84[1] * (2 - _WGS84[1])) -> tuple[np.ndarray, np.ndarray]:
    """Metres per degree of longitude and of latitude at a latitude on an ellipsoid (WGS 84 default).

    From the radii of curvature in the prime vertical, N = a / sqrt(1 - e^2 sin^2 phi), and in the
    meridian, M = a (1 - e^2) / (1 - e^2 sin^2 phi)^(3/2): (pi / 180) N cos(phi), (pi / 180) M.
    At 60 degrees on WGS 84: 55,800 m and 111,412 m.
    """
    phi = np.radians(np.asarray(latitude_deg, dtype=np.float64))
    w2 = 1.0 - eccentricity2 * np.sin(phi) ** 2
    per_lon = np.pi / 180.0 * semi_major_m * np.cos(phi) / np.sqrt(w2)
    per_lat = np.pi / 180.0 * semi_major_m * (1.0 - eccentricity2) / w2**1.5
    return per_lon, per_lat


def _crs_name(crs) -> str:
    try:
        return crs.to_string()
    except Exception:  # pragma: no cover - any CRS rasterio reads has a string form
        return str(crs)


def _map_jacobian(transform: Affine, crs, shape: tuple[int, int], step: float):
    """(j11, j12, j21, j22): metres along (x/east, y/north) per image pixel along (columns, rows)."""
    a, b, d, e = (transform.a / step, transform.b / step, transform.d / step, transform.e / step)
    if not all(map(math.isfinite, (a, b, d, e))) or a * e - b * d == 0:
        raise InputError(f"the product transform {tuple(transform)[:6]} is degenerate: it cannot map pixels to "
                         "map coordinates")
    if crs.is_geographic:
        h, w = shape
        cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
        _, lat = transform @ (cols, rows)
        if not np.all(np.isfinite(lat)) or np.max(np.abs(lat)) > 90.0:
            raise InputError(f"the product is in geographic {_crs_name(crs)} but its grid reaches latitude "
                             f"{np.max(np.abs(lat)):.3g}; check its transform")
        if np.max(np.abs(lat)) > _MAX_ABS_LATITUDE:
            raise InputError(f"the product grid in geographic {_crs_name(crs)} reaches latitude "
                             f"{np.max(np.abs(lat)):.2f}, where degrees of longitude shrink to nothing; reproject "
                             "the offsets to a polar stereographic grid first")
        semi_major, e2 = _ellipsoid(crs)
        per_lon, per_lat = metres_per_degree(lat, semi_major_m=semi_major, eccentricity2=e2)
        return (per_lon * a, per_lon * b, per_lat * d, per_lat * e), \
            f"geographic {_crs_name(crs)}: metres per degree at each cell's latitude"
    try:
        unit, factor = crs.linear_units_factor
    except Exception:
        raise InputError(f"the product's CRS {_crs_name(crs)} is neither geographic nor projected with a "
                         "linear unit; reproject the offsets to a projected CRS in metres") from None
    return (factor * a, factor * b, factor * d, factor * e), f"projected {_crs_name(crs)}, unit {unit}"


def _radar_jacobian(pixel_spacing, incidence_deg) -> tuple[tuple[float, float, float, float], str]:
    if pixel_spacing is None:
        raise InputError("the product has no CRS (radar geometry): give the pixel spacing with "
                         "--pixel-spacing RANGE_M AZIMUTH_M (pixel_spacing=(range_m, azimuth_m)), and "
                         "--incidence DEG if the range spacing is in slant range")
    try:
        values = [float(v) for v in pixel_spacing]
    except (TypeError, ValueError):
        raise InputError(f"pixel spacing must be two numbers (range_m, azimuth_m), got {pixel_spacing!r}") from None
    if len(values) != 2 or not all(math.isfinite(v) and v > 0 for v in values):
        raise InputError(f"pixel spacing must be two positive numbers of metres (range, azimuth), got "
                         f"{tuple(pixel_spacing)}")
    range_m, azimuth_m = values
    note = f"range {range_m:g} m, azimuth {azimuth_m:g} m"
    if incidence_deg is not None:
        try:
            inc = float(incidence_deg)
        except (TypeError, ValueError):
            raise InputError(f"incidence={incidence_deg!r} is not a number of degrees") from None
        if not (0.0 < inc < 90.0):
            raise InputError(f"the incidence angle must lie strictly between 0 and 90 degrees, got {incidence_deg}")
        range_m = range_m / math.sin(math.radians(inc))
        note = f"slant range {values[0]:g} m / sin({inc:g} deg) = ground range {range_m:.6g} m, azimuth {azimuth_m:g} m"
    return (range_m, 0.0, 0.0, azimuth_m), note


def _offset_sigmas(quality: Mapping[str, np.ndarray]):
    if "sigma_dx" in quality and "sigma_dy" in quality:
        sx, sy, source = quality["sigma_dx"], quality["sigma_dy"], "bands sigma_dx, sigma_dy"
    elif "sigma_px" in quality:
        sx = sy = quality["sigma_px"]
        source = "band sigma_px (each component)"
    else:
        return None
    clean = [np.where(np.asarray(s, dtype=np.float64) >= 0, np.asarray(s, dtype=np.float64), np.nan) for s in (sx, sy)]
    return clean[0], clean[1], source


# ----------------------------------------------------------------------------------------------


def velocity_from_offsets(product, *, dates: Sequence | None = None, days: float | None = None,
                          pixel_spacing: Sequence[float] | None = None, incidence_deg: float | None = None,
                          grid_step: float | None = None) -> VelocityProduct:
    """Velocity, direction and uncertainty from an offsets product.

    Parameters
    ----------
    product : sarflow.io.OffsetProduct
        ``dx``, ``dy`` (h, w) in image pixels, optional ``sigma_dx`` / ``sigma_dy`` or ``sigma_px``
        bands (1-sigma, pixels), its transform and CRS. A CRS means map geometry, none radar geometry.
    dates : (reference, secondary), optional
        Acquisition dates or times (strings in ISO 8601, `date`, `datetime`), reference first.
    days : float, optional
        The time span instead of the dates. With neither, the product's ``reference_date`` /
        ``secondary_date`` tags are used.
    pixel_spacing : (range_m, azimuth_m), optional
        Radar geometry only (required there): metres per image pixel along columns and rows.
    incidence_deg : float, optional
        Radar geometry only: the range spacing is slant range; ground = slant / sin(incidence).
    grid_step : float, optional
        Map geometry only: image pixels per product cell. Read from sarflow's product tags when not
        given (the tracking step; 1 for `sarflow predict`).

    Returns
    -------
    VelocityProduct
        Components, speed, direction and uncertainties in m/day on the product's grid (module
        docstring: conventions). NaN offsets stay NaN.

    Raises
    ------
    InputError
        Missing, equal or reversed dates; radar geometry without a valid spacing; spacing options
        for a geocoded product; an unknown grid step; a degenerate transform; a geographic grid
        reaching a pole.

    Examples
    --------
    A 2 px shift along columns on a 10 m north-up grid (one estimate per pixel) over 12 days is
    20 m, 1.667 m/day, 608.75 m/yr toward the east (90 degrees):

    >>> import numpy as np
    >>> from affine import Affine
    >>> from rasterio.crs import CRS
    >>> from sarflow.io import OffsetProduct
    >>> shift = OffsetProduct(dx=np.full((4, 4), 2.0), dy=np.zeros((4, 4)), crs=CRS.from_epsg(32633),
    ...                       transform=Affine(10, 0, 500000, 0, -10, 6000000))
    >>> vel = velocity_from_offsets(shift, dates=("2020-01-01", "2020-01-13"), grid_step=1)
    >>> vel.displacement_m[0, 0], vel.v[0, 0].round(3), vel.v_per_year[0, 0], vel.direction_deg[0, 0]
    (np.float64(20.0), np.float64(1.667), np.float64(608.75), np.float64(90.0))
    """
    start, end, span, dates_source = acquisition_span(product.metadata, dates=dates, days=days)
    meta = product.metadata
    if product.crs is not None:
        if pixel_spacing is not None or incidence_deg is not None:
            raise InputError(f"the product is geocoded ({_crs_name(product.crs)}): its pixel spacing comes from its "
                             "transform; --pixel-spacing and --incidence are for radar-geometry products (no CRS)")
        step, step_source = _grid_step(meta, grid_step)
        jac, spacing_note = _map_jacobian(product.transform, product.crs, product.shape, step)
        geometry = "map"
    else:
        if grid_step is not None:
            raise InputError("--grid-step is for geocoded products; a radar-geometry product (no CRS) takes its "
                             "spacing per image pixel from --pixel-spacing")
        jac, spacing_note = _radar_jacobian(pixel_spacing, incidence_deg)
        step, step_source = None, None
        geometry = "radar"

    j11, j12, j21, j22 = jac
    dx = np.asarray(product.dx, dtype=np.float64)
    dy = np.asarray(product.dy, dtype=np.float64)
    ex = j11 * dx + j12 * dy  # metres along x / east / range
    ny = j21 * dx + j22 * dy  # metres along y / north / azimuth
    missing = ~(np.isfinite(ex) & np.isfinite(ny))
    ex[missing] = np.nan
    ny[missing] = np.nan

    vx_error = vy_error = v_error = None
    sigmas = _offset_sigmas(product.quality)
    uncertainty = "none (no sigma_dx / sigma_dy or sigma_px band)"
    if sigmas is not None:
        sx, sy, uncertainty = sigmas
        cxx = (j11 * sx) ** 2 + (j12 * sy) ** 2
        cyy = (j21 * sx) ** 2 + (j22 * sy) ** 2
        cxy = j11 * j21 * sx**2 + j12 * j22 * sy**2
        d2 = ex**2 + ny**2
        with np.errstate(invalid="ignore", divide="ignore"):
            q = np.where(d2 > 0, (ex**2 * cxx + ny**2 * cyy + 2.0 * ex * ny * cxy) / np.where(d2 > 0, d2, 1.0),
                         0.5 * (cxx + cyy))
        v_error = np.where(missing, np.nan, np.sqrt(np.maximum(q, 0.0))) / span
        vx_error = np.where(missing, np.nan, np.sqrt(cxx)) / span
        vy_error = np.where(missing, np.nan, np.sqrt(cyy)) / span

    metadata = {
        "product": "velocity",
        "geometry": geometry,
        "time_span_days": repr(float(span)),
        "dates_source": dates_source,
        "year_length_days": repr(DAYS_PER_YEAR),
        "pixel_spacing": spacing_note,
        "uncertainty": uncertainty,
        "direction_convention": ("azimuth of motion, degrees clockwise from (grid) north, [0, 360)"
                                 if geometry == "map" else
                                 "angle of motion from +range (increasing columns) toward +azimuth "
                                 "(increasing rows), degrees, (-180, 180]"),
    }
    if start is not None:
        metadata["reference_date"] = start.isoformat()
        metadata["secondary_date"] = end.isoformat()
    if step is not None:
        metadata["grid_step"] = repr(step)
        metadata["grid_step_source"] = step_source
    for key in ("method", "reference", "secondary"):
        if meta.get(key):
            metadata[f"offsets_{key}" if key == "method" else key] = str(meta[key])

    return VelocityProduct(
        vx=ex / span, vy=ny / span, days=span, geometry=geometry, vx_error=vx_error, vy_error=vy_error,
        v_error=v_error, dx=np.asarray(product.dx), dy=np.asarray(product.dy), transform=product.transform,
        crs=product.crs, start=start, end=end, metadata=metadata,
    )
