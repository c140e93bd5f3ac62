"""Network registry: build a network by name, rebuild one from its saved config.

A checkpoint stores ``net.to_config()`` (``{"name": ..., **constructor kwargs}``) beside the
``state_dict``; `model_from_config` rebuilds the same architecture to load it into.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sarflow.errors import InputError
from sarflow.nn.base import FlowNet
from sarflow.nn.ccressiamnet import CCResSiamNet
from sarflow.nn.corrnet import CorrNet
from sarflow.nn.fastnet import CCResSiamNetFast
from sarflow.nn.siamese_unet import SiameseUNet
from sarflow.nn.unet import UNet

__all__ = ["MODELS", "build_model", "model_from_config"]

MODELS: dict[str, type[FlowNet]] = {
    "ccressiamnet": CCResSiamNet,
    "unet": UNet,
    "siamese-unet": SiameseUNet,
    "corrnet": CorrNet,
    "ccressiamnet-fast": CCResSiamNetFast,
}


def build_model(name: str, **kwargs: Any) -> FlowNet:
    """A new network of kind ``name`` (a key of `MODELS`) with constructor ``kwargs``."""
    if name not in MODELS:
        raise InputError(f"unknown network {name!r}; choose one of {sorted(MODELS)}")
    try:
        return MODELS[name](**kwargs)
    except TypeError as exc:  # unknown or positional keyword
        raise InputError(f"bad arguments for network {name!r}: {exc}") from exc


def model_from_config(config: Mapping[str, Any]) -> FlowNet:
    """Rebuild a network from ``{"name": ..., **kwargs}`` (what ``FlowNet.to_config()`` returns)."""
    if not isinstance(config, Mapping) or "name" not in config:
        raise InputError(f"a network config must be a mapping with a 'name' key, got {config!r}")
    kwargs = dict(config)
    return build_model(str(kwargs.pop("name")), **kwargs)
