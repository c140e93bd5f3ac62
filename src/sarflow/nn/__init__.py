"""Neural networks for dense SAR offsets (PyTorch): CC-ResSiamNet and comparison networks.

Every network takes a normalised amplitude pair (`normalize_pair`) and returns a `FlowOutput`
(``offsets (B, 2, H, W)`` in pixels, ``dx`` then ``dy``; ``log_var`` or None; ``pyramid``).

- `CCResSiamNet` -- cross-connection Siamese ResNet (Kim, Jung & Lu 2025,
  doi:10.1016/j.rse.2024.114577) with a coarse-to-fine correlation decoder
- `CCResSiamNetFast` -- the same parts on space-to-depth cells, laid out for CPU throughput
- `UNet`, `SiameseUNet`, `CorrNet` -- comparison networks of the same interface
- `MODELS`, `build_model`, `model_from_config` -- by name / from a checkpoint's config
- `masked_huber_loss`, `gaussian_nll_loss`, `multiscale_huber_loss`, `flow_metrics`
- `normalize_pair`, `normalize_pair_numpy`, `conv_flops_per_pixel`
"""

from sarflow.nn.base import FlowNet, FlowOutput
from sarflow.nn.ccressiamnet import CCResSiamNet
from sarflow.nn.corrnet import CorrNet
from sarflow.nn.fastnet import CCResSiamNetFast
from sarflow.nn.flops import conv_flops_per_pixel
from sarflow.nn.losses import flow_metrics, gaussian_nll_loss, masked_huber_loss, multiscale_huber_loss
from sarflow.nn.normalize import normalize_pair, normalize_pair_numpy
from sarflow.nn.registry import MODELS, build_model, model_from_config
from sarflow.nn.siamese_unet import SiameseUNet
from sarflow.nn.unet import UNet

__all__ = [
    "FlowNet",
    "FlowOutput",
    "CCResSiamNet",
    "CCResSiamNetFast",
    "UNet",
    "SiameseUNet",
    "CorrNet",
    "MODELS",
    "build_model",
    "model_from_config",
    "masked_huber_loss",
    "gaussian_nll_loss",
    "multiscale_huber_loss",
    "flow_metrics",
    "normalize_pair",
    "normalize_pair_numpy",
    "conv_flops_per_pixel",
]
