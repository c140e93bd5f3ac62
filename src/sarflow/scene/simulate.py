"""Simulate a scenario and write it as georeferenced rasters: the job behind ``sarflow simulate``."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path

import numpy as np
from affine import Affine

from sarflow._version import __version__
from sarflow.errors import InputError
from sarflow.io.atomic import check_writable
from sarflow.io.products import write_geotiff

__all__ = ["SimulationOutputs", "simulate", "scene_transform"]

#: Default map frame of simulated scenes: UTM zone 7N (south-east Alaska), north-up.
DEFAULT_CRS = "EPSG:32607"
DEFAULT_ORIGIN = (500000.0, 6650000.0)


@dataclass(frozen=True)
class SimulationOutputs:
    """Paths written by `simulate`."""

    reference: Path
    secondary: Path
    truth: Path
    metadata: Path
    quicklook: Path | None


def scene_transform(geometry, *, origin: tuple[float, float] = DEFAULT_ORIGIN) -> Affine | None:
    """North-up map transform of a map-geometry scene; None (pixel coordinates) for radar geometry."""
    if geometry.grid != "map":
        return None
    row_m, col_m = geometry.pixel_spacing_m
    return Affine(col_m, 0.0, origin[0], 0.0, -row_m, origin[1])


def _jsonable(obj):
    if is_dataclass(obj):
        return {"type": type(obj).__name__, **{k: _jsonable(v) for k, v in asdict(obj).items()}}
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def simulate(
    scenario: str,
    output_dir: str | Path,
    *,
    size: int | tuple[int, int] = 512,
    seed: int = 0,
    params=None,
    geometry=None,
    imaging=None,
    texture: str | Path | None = None,
    texture_contrast: float = 1.0,
    crs: str | None = DEFAULT_CRS,
    origin: tuple[float, float] = DEFAULT_ORIGIN,
    quicklook: bool = True,
    overwrite: bool = False,
) -> SimulationOutputs:
    """Simulate a named scenario and write ``reference.tif``, ``secondary.tif``, ``truth.tif``.

    Parameters
    ----------
    scenario : str
        One of `sarflow.simulation.scenarios.SCENARIOS` (``shift``, ``smooth``, ``glacier``,
        ``earthquake``, ``volcano``, ``landslide``, ...).
    output_dir : path
        Created if needed. Also receives ``scenario.json`` (every parameter) and, with
        ``quicklook``, ``quicklook.png``.
    size : int or (rows, cols)
    seed : int
        Same seed, same pair.
    params : dataclass, optional
        The scenario's physical parameters (its defaults when None).
    geometry : RadarGeometry, optional
    imaging : ImagingConfig, optional
    texture : str or path, optional
        A texture family, or the path of an amplitude image to use as backscatter (its own
        speckle is smoothed away and fresh speckle simulated). Default: the scenario's.
    crs : str or None
        CRS of map-geometry scenes (ignored for radar geometry, which is written in pixel coordinates).
    origin : (x, y)
        Map coordinates of the upper-left corner.
    overwrite : bool
        Replace files of an earlier run in ``output_dir``; without it they are refused
        (`sarflow.errors.OutputExistsError`) before anything is simulated.

    Returns
    -------
    SimulationOutputs

    Raises
    ------
    OutputExistsError
        An output file exists and ``overwrite`` is False.
    InputError
        Impossible parameters, an unknown CRS, ``output_dir`` naming a file, or an unusable texture
        image. Nothing is written then; a run that fails while writing removes what it wrote.
    """
    from sarflow.simulation.geometry import RadarGeometry
    from sarflow.simulation.pair import ImagingConfig, simulate_pair
    from sarflow.simulation.scenarios import get_scenario, make_field
    from sarflow.simulation.textures import texture_from_image

    spec = get_scenario(scenario)
    out = Path(output_dir)
    names = ["reference.tif", "secondary.tif", "truth.tif", "scenario.json"] + (["quicklook.png"] if quicklook else [])
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file; the output must be a folder (created if missing)")
    if out.is_dir():
        for name in names:
            check_writable(out / name, overwrite=overwrite)
    shape = (int(size), int(size)) if np.isscalar(size) else tuple(int(v) for v in size)
    geometry = geometry if geometry is not None else RadarGeometry(**spec.geometry_defaults)
    imaging = imaging if imaging is not None else ImagingConfig()
    field = make_field(spec, params, geometry)

    texture = spec.texture if texture is None else texture
    texture_name = str(texture)
    if isinstance(texture, Path) or (isinstance(texture, str) and Path(texture).suffix):
        from sarflow.io.rasters import check_image, read_raster

        image = read_raster(texture)
        check_image(image, role="texture")
        tex = texture_from_image(image.data, shape)
    else:
        tex = texture

    transform = scene_transform(geometry, origin=origin)
    crs_out = None
    if transform is not None and crs is not None:
        import rasterio
        from rasterio.crs import CRS

        try:
            with rasterio.Env():  # GDAL's messages become the exception, not extra lines on stderr
                crs_out = CRS.from_user_input(crs)
        except Exception as exc:
            raise InputError(f"unknown CRS {crs!r} ({exc})") from exc
    pair = simulate_pair(field, shape=shape, imaging=imaging, texture=tex, texture_contrast=texture_contrast,
                         seed=seed)

    meta = {
        "scenario": scenario,
        "seed": seed,
        "shape": list(shape),
        "params": _jsonable(field if not spec.geophysical else field.model),
        "geometry": _jsonable(geometry),
        "imaging": _jsonable(imaging),
        "texture": texture_name,
        "texture_contrast": texture_contrast,
        "sarflow_version": __version__,
        "offset_convention": "a feature at reference (row, col) lies at (row + dy, col + dx) in the secondary",
    }
    created = [p for p in [*reversed(out.parents), out] if not p.exists()]
    out.mkdir(parents=True, exist_ok=True)
    # Everything is written into a staging folder beside the outputs, then renamed into place: an
    # interrupted or failed run leaves no half scene (nor half of a replaced one).
    staging = out / f".simulate-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir()
        tags = {"method": "sarflow.simulate", "scenario": scenario, "parameters": json.dumps(meta)}
        write_geotiff(staging / "reference.tif", {"amplitude": pair.reference}, transform=transform, crs=crs_out,
                      tags={**tags, "date": "reference"})
        write_geotiff(staging / "secondary.tif", {"amplitude": pair.secondary}, transform=transform, crs=crs_out,
                      tags={**tags, "date": "secondary"})
        write_geotiff(staging / "truth.tif", {"dx": pair.dx, "dy": pair.dy}, transform=transform, crs=crs_out,
                      tags={**tags, "reference": "reference.tif", "secondary": "secondary.tif"})
        (staging / "scenario.json").write_text(json.dumps(meta, indent=2) + "\n")
        if quicklook:
            from sarflow.io.quicklook import save_pair_quicklook

            save_pair_quicklook(staging / "quicklook.png", pair.reference, pair.secondary, pair.dx, pair.dy,
                                title=f"{scenario}: {spec.summary} (seed {seed})")
        for name in names:
            os.replace(staging / name, out / name)
    except BaseException:
        if created:  # the output folder is new: remove it, and any parent folders made for it
            shutil.rmtree(out, ignore_errors=True)
            for folder in reversed(created[:-1]):
                try:
                    folder.rmdir()
                except OSError:
                    break
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    ref_path, sec_path, truth_path, meta_path = (out / n for n in names[:4])
    ql = out / "quicklook.png" if quicklook else None
    return SimulationOutputs(reference=ref_path, secondary=sec_path, truth=truth_path, metadata=meta_path,
                             quicklook=ql)
