"""Shipped network weights and their model cards.

Weights live beside this file as ``NAME.pt`` (float16 state dict plus the network's configuration)
with ``NAME.md``, the model card: data recipe, training command, seed, wall time and metrics. They
are made by ``sarflow train`` and ``sarflow export-model`` (see the card for the exact commands).

Weights are data, never code: they are read with ``torch.load(..., weights_only=True)``, which
refuses any pickled object other than tensors, containers, strings and numbers. ``checksums.json``
beside the weights records the SHA-256 of each file (written by ``sarflow export-model``); a file
listed there must match it, and shipped weights must be listed.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from sarflow.errors import InputError

__all__ = ["DEFAULT_MODEL", "CHECKSUMS", "MODEL_ATTRIBUTES", "available_models", "model_path", "load_model", "load_data_file",
           "file_sha256", "recorded_checksum", "record_checksum"]

DEFAULT_MODEL = "ccressiamnet"
#: Name of the file, beside a set of weights, that records their SHA-256 checksums ``{"NAME.pt": "hex"}``.
CHECKSUMS = "checksums.json"
#: What `load_model` sets on a network beside its weights (route, sigma calibration, tile overlap);
#: they travel with it to Dask workers and enter its digest.
MODEL_ATTRIBUTES = ("prior_input", "sigma_scale", "prior_sigma_scale", "prior_sigma_power", "tile_overlap",
                    "least_squares")
_HERE = Path(__file__).resolve().parent
_FORMAT = "sarflow-weights-1"


def available_models() -> list[str]:
    """Names of the shipped weights."""
    return sorted(p.stem for p in _HERE.glob("*.pt"))


def model_path(name: str = DEFAULT_MODEL) -> Path:
    """Path of shipped weights ``name``, or of a weights file given by path.

    Raises
    ------
    InputError
        No shipped weights of that name, or a path that does not exist or is not a file.
    """
    candidate = Path(name)
    looks_like_path = candidate.suffix != "" or len(candidate.parts) > 1
    if looks_like_path:
        if not candidate.exists():
            raise InputError(f"{candidate}: no such weights file")
        if not candidate.is_file():
            raise InputError(f"{candidate}: is not a file")
        return candidate
    path = _HERE / f"{name}.pt"
    if not path.exists():
        shipped = ", ".join(available_models()) or "none"
        raise InputError(f"no model {name!r} (shipped: {shipped}); train one with `sarflow train` and export it "
                         "with `sarflow export-model`, or pass the path of a .pt file")
    return path


def file_sha256(path: str | Path) -> str:
    """Hexadecimal SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_checksums(folder: Path) -> dict[str, str]:
    path = folder / CHECKSUMS
    if not path.exists():
        return {}
    try:
        table = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot be read as a checksum list ({exc})") from exc
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise InputError(f"{path}: must map weights file names to SHA-256 strings")
    return table


def recorded_checksum(path: str | Path) -> str | None:
    """The SHA-256 recorded for ``path`` in the ``checksums.json`` beside it, or None."""
    path = Path(path)
    return _read_checksums(path.parent).get(path.name)


def record_checksum(path: str | Path) -> str:
    """Record the SHA-256 of ``path`` in the ``checksums.json`` beside it (other entries kept); return it."""
    from sarflow.io.atomic import atomic_path

    path = Path(path)
    table = _read_checksums(path.parent)
    table[path.name] = file_sha256(path)
    with atomic_path(path.parent / CHECKSUMS) as tmp:
        tmp.write_text(json.dumps(dict(sorted(table.items())), indent=2) + "\n")
    return table[path.name]


def _verify_checksum(path: Path) -> None:
    expected = recorded_checksum(path)
    shipped = path.resolve().parent == _HERE
    if expected is None:
        if shipped:
            raise InputError(f"{path}: shipped weights without a recorded checksum in {_HERE / CHECKSUMS}; "
                             "export them again with `sarflow export-model`")
        return
    actual = file_sha256(path)
    if actual != expected:
        raise InputError(f"{path}: SHA-256 {actual[:16]}... does not match the {expected[:16]}... recorded in "
                         f"{path.parent / CHECKSUMS}; the file is damaged or was replaced")


_TORCH_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation")


def load_data_file(path: str | Path, *, map_location="cpu", what: str = "sarflow weights"):
    """``torch.load(path, weights_only=True)``: tensors, containers, strings and numbers, never code.

    Raises
    ------
    InputError
        Naming the file and why: not a PyTorch file, damaged, or holding other objects (which
        the weights-only loader refuses to build, e.g. a pickled function call).
    """
    import pickle

    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines()]
        detail = " ".join(line.replace("WeightsUnpickler error:", "").strip() for line in lines
                          if line and not line.startswith(_TORCH_BOILERPLATE)) or "unknown content"
        raise InputError(f"{path}: cannot be read as {what} (refused by the weights-only loader: {detail[:200]})"
                         ) from exc
    except Exception as exc:
        first = " ".join(str(exc).split()).split(". ")[0] or type(exc).__name__
        raise InputError(f"{path}: cannot be read as {what}: damaged, truncated or not a PyTorch file "
                         f"({first[:200]})") from exc


def load_model(name: str = DEFAULT_MODEL, *, device: str = "cpu"):
    """Build the network of shipped (or exported) weights and load them, in eval mode, float32.

    Parameters
    ----------
    name : str
        A shipped model's name (`available_models`) or the path of a ``.pt`` file written by
        ``sarflow export-model``.
    device : str
        Where the network goes (``"cpu"``, ``"cuda"``).

    Raises
    ------
    InputError
        A missing file; a checksum mismatch; a file that is not sarflow weights (or holds anything
        but tensors, containers, strings and numbers); weights whose architecture or shapes do not
        match the network their configuration describes (the message names the first such key).
    """
    import torch

    from sarflow.nn import model_from_config

    path = model_path(name)
    _verify_checksum(path)
    state = load_data_file(path, map_location=device, what="sarflow weights")
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise InputError(f"{path}: not a sarflow weights file (no format {_FORMAT!r})")
    weights = state.get("state_dict")
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise InputError(f"{path}: the weights file holds no state dict of tensors")
    try:
        model = model_from_config(state.get("model_config"))
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from exc
    except Exception as exc:  # a constructor refusing the stored arguments
        raise InputError(f"{path}: the stored network configuration cannot be built ({exc})") from exc
    _check_state_dict(path, model.state_dict(), weights)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in weights.items()})
    except RuntimeError as exc:
        first = " ".join(str(exc).split())
        raise InputError(f"{path}: weights do not match the network ({first[:300]})") from exc
    train_config = state.get("train_config") if isinstance(state.get("train_config"), dict) else {}
    # A network trained on the tracker prior's residual (`sarflow.tracking.prior`) must be run that way.
    model.prior_input = bool(train_config.get("prior", False))
    # Weight of the tracker prior's own error in the sigma of a residual network (0: left out), and the
    # calibration of the predicted sigma, both fitted on validation pairs at export (1.0: none; 0 is
    # kept only beside a prior weight, which then carries the whole uncertainty).
    prior_scale = state.get("prior_sigma_scale", 0.0)
    model.prior_sigma_scale = float(prior_scale) if _number(prior_scale) and prior_scale > 0 else 0.0
    # ... raised to this power (weights from before the power: 1, i.e. proportional).
    power = state.get("prior_sigma_power", 1.0)
    model.prior_sigma_power = float(power) if _number(power) and 0 < power <= MAX_PRIOR_SIGMA_POWER else 1.0
    scale = state.get("sigma_scale", 1.0)
    usable = _number(scale) and (scale > 0 or (scale == 0 and model.prior_sigma_scale > 0))
    model.sigma_scale = float(scale) if usable else 1.0
    # The least-squares refinement of the residual (`sarflow.tracking.lsq`), chosen at export for a
    # network on the tracker prior; settings as a plain dict (None: not used).
    model.least_squares = _least_squares_settings(path, state.get("least_squares"), model.prior_input)
    # Tile overlap measured at export (`sarflow.scene.context`); None: scene inference uses the
    # receptive field, capped at half a tile.
    overlap = state.get("tile_overlap")
    model.tile_overlap = int(overlap) if isinstance(overlap, int) and not isinstance(overlap, bool) and overlap >= 0 \
        else None
    return model.to(device).eval()


#: Largest power of the prior's sigma a weights file may carry (`sarflow.training.loop.SIGMA_POWERS`
#: searches 0.8-1.6); anything else is ignored as corrupt.
MAX_PRIOR_SIGMA_POWER = 4.0


def _least_squares_settings(path, stored, prior_input: bool) -> dict | None:
    """The stored least-squares settings, checked (`sarflow.tracking.lsq.LeastSquaresConfig`)."""
    if stored is None:
        return None
    from sarflow.tracking.lsq import LeastSquaresConfig

    if not prior_input:
        raise InputError(f"{path}: least-squares refinement is stored for a network not on the tracker prior")
    try:
        return LeastSquaresConfig.from_dict(stored).to_dict()
    except (InputError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: corrupt least-squares settings ({exc})") from exc


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_state_dict(path: Path, expected: dict, weights: dict) -> None:
    """Raise `InputError` naming the first key that is missing, unexpected or of another shape."""
    for key, tensor in expected.items():
        if key not in weights:
            raise InputError(f"{path}: weights do not match the network: {key!r} is missing")
        if tuple(weights[key].shape) != tuple(tensor.shape):
            raise InputError(f"{path}: weights do not match the network: {key!r} has shape "
                             f"{tuple(weights[key].shape)}, the network needs {tuple(tensor.shape)}")
    for key in weights:
        if key not in expected:
            raise InputError(f"{path}: weights do not match the network: unexpected key {key!r}")
