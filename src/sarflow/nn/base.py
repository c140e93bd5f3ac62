"""What every offset network shares: the output type, input checks, padding, config.

Every network maps a normalised amplitude pair (see `sarflow.nn.normalize.normalize_pair`) to a
dense offset field on the reference grid:

``forward(reference (B, 1, H, W), secondary (B, 1, H, W), extra (B, E, H, W) | None) -> FlowOutput``

Offsets: channel 0 = ``dx`` along columns (range), channel 1 = ``dy`` along rows (azimuth), in
pixels; a feature at row r, column c of the reference lies at (r + dy, c + dx) in the secondary.
Any ``H, W`` is accepted: inputs are padded (replicate) to a multiple of ``divisor`` and the
outputs cropped back.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sarflow.errors import InputError

__all__ = ["FlowOutput", "FlowNet", "ReceptiveField"]


class FlowOutput(NamedTuple):
    """Output of every offset network.

    Attributes
    ----------
    offsets : Tensor
        ``(B, 2, H, W)`` float32, pixels: ``dx`` (columns), ``dy`` (rows).
    log_var : Tensor or None
        ``(B, 2, H, W)`` float32, natural log of the predicted variance of each component, in
        pixels squared (heteroscedastic uncertainty); None for a network built with
        ``uncertainty=False``.
    pyramid : tuple of Tensor
        Coarser offset estimates, finest first: ``pyramid[k]`` is ``(B, 2, ceil(H / 2**(k+1)),
        ceil(W / 2**(k+1)))`` in pixels of the *full-resolution* grid, for deep supervision against
        an average-pooled target. Empty for networks that predict at one scale only.
    """

    offsets: Tensor
    log_var: Tensor | None = None
    pyramid: tuple[Tensor, ...] = ()


class ReceptiveField:
    """Theoretical receptive field of a chain of layers, traced from input to output.

    ``size`` grows by ``(kernel - 1) * jump`` per convolution, ``jump`` (input pixels per step of
    the current grid) multiplies by the stride, halves at a x2 upsampling. Pooling windows count
    as convolutions of their size; GroupNorm's per-sample statistics are not counted.
    """

    def __init__(self) -> None:
        self.size = 1
        self.jump = 1

    def conv(self, kernel: int, stride: int = 1, repeat: int = 1) -> ReceptiveField:
        for _ in range(repeat):
            self.size += (kernel - 1) * self.jump
            self.jump *= stride
        return self

    def up(self) -> ReceptiveField:
        """Bilinear x2 upsampling: two taps on the coarse grid, then a grid twice as fine."""
        self.size += self.jump
        self.jump //= 2
        return self

    def window(self, radius: int) -> ReceptiveField:
        """A correlation looking ``radius`` cells either way (a bilinear warp is counted as radius 1)."""
        self.size += 2 * radius * self.jump
        return self


class FlowNet(nn.Module):
    """Base class: input checks, padding to ``divisor``, cropping, ``config``.

    Subclasses set ``name``, call ``super().__init__(config)`` with their constructor keyword
    arguments, and implement ``_forward(reference, secondary, extra) -> FlowOutput`` on padded
    inputs (``H, W`` multiples of ``divisor``; ``extra`` already checked, non-finite values zeroed)
    and ``_receptive_field() -> int``.
    """

    name: ClassVar[str] = ""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self._config = dict(config)
        depth = int(config["depth"])
        if depth < 1:
            raise InputError(f"depth must be >= 1, got {depth}")
        if int(config["base_channels"]) < 1:
            raise InputError(f"base_channels must be >= 1, got {config['base_channels']}")
        if int(config["extra_channels"]) < 0:
            raise InputError(f"extra_channels must be >= 0, got {config['extra_channels']}")
        if "norm" in config:
            from sarflow.nn.blocks import NORMS

            if config["norm"] not in NORMS:
                raise InputError(f"norm must be one of {NORMS}, got {config['norm']!r}")
        self.depth = depth
        self.extra_channels = int(config["extra_channels"])
        self.uncertainty = bool(config["uncertainty"])

    # -- description ------------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """The constructor keyword arguments (``type(self)(**net.config)`` rebuilds the network)."""
        return dict(self._config)

    def to_config(self) -> dict[str, Any]:
        """``{"name": ..., **config}``, what `sarflow.nn.registry.model_from_config` takes."""
        return {"name": self.name, **self._config}

    @property
    def divisor(self) -> int:
        """Inputs are padded to a multiple of this (``2**depth``)."""
        return 2**self.depth

    @property
    def receptive_field(self) -> int:
        """Theoretical receptive field, in input pixels (side of the square window).

        Counts convolutions, resampling and correlation windows; not the displacement itself (a
        warped or correlated feature comes from up to the largest offset away), nor GroupNorm's
        per-sample statistics (``norm="group"``). Tiled inference should overlap tiles by about
        ``receptive_field // 2`` plus the largest expected offset.
        """
        return self._receptive_field()

    def _receptive_field(self) -> int:
        raise NotImplementedError

    def _forward(self, reference: Tensor, secondary: Tensor, extra: Tensor | None) -> FlowOutput:
        raise NotImplementedError

    # -- forward ----------------------------------------------------------------------------
    def _check(self, reference: Tensor, secondary: Tensor, extra: Tensor | None) -> None:
        for label, t in (("reference", reference), ("secondary", secondary)):
            if not isinstance(t, Tensor):
                raise InputError(f"{label} must be a torch.Tensor, got {type(t).__name__}")
            if t.ndim != 4 or t.shape[1] != 1:
                raise InputError(f"{label} must have shape (B, 1, H, W), got {tuple(t.shape)}")
            if not t.is_floating_point():
                raise InputError(f"{label} must be a floating-point tensor, got {t.dtype}")
        if reference.shape != secondary.shape:
            raise InputError(
                f"reference and secondary shapes differ: {tuple(reference.shape)} vs {tuple(secondary.shape)}"
            )
        if extra is None:
            if self.extra_channels:
                raise InputError(f"this network takes extra (B, {self.extra_channels}, H, W) channels; got none")
            return
        if not self.extra_channels:
            raise InputError("this network was built with extra_channels=0 but got an extra tensor")
        expected = (reference.shape[0], self.extra_channels, *reference.shape[2:])
        if not isinstance(extra, Tensor) or tuple(extra.shape) != expected:
            shape = tuple(extra.shape) if isinstance(extra, Tensor) else type(extra).__name__
            raise InputError(f"extra must have shape {expected}, got {shape}")

    def forward(self, reference: Tensor, secondary: Tensor, extra: Tensor | None = None) -> FlowOutput:
        """Offsets from ``reference`` to ``secondary``.

        Parameters
        ----------
        reference, secondary : Tensor
            ``(B, 1, H, W)`` normalised amplitudes (`sarflow.nn.normalize.normalize_pair`).
        extra : Tensor, optional
            ``(B, extra_channels, H, W)`` auxiliary channels on the reference grid (e.g. a
            classical tracker's offsets and quality); non-finite values are read as 0.

        Returns
        -------
        FlowOutput
            ``offsets (B, 2, H, W)`` in pixels, ``log_var (B, 2, H, W)`` or None, ``pyramid``.
        """
        self._check(reference, secondary, extra)
        height, width = reference.shape[2:]
        pad_h = -height % self.divisor
        pad_w = -width % self.divisor
        if extra is not None:
            extra = torch.nan_to_num(extra, nan=0.0, posinf=0.0, neginf=0.0).to(reference.dtype)
        if pad_h or pad_w:
            pad = (0, pad_w, 0, pad_h)
            reference = F.pad(reference, pad, mode="replicate")
            secondary = F.pad(secondary, pad, mode="replicate")
            if extra is not None:
                extra = F.pad(extra, pad, mode="replicate")
        out = self._forward(reference, secondary, extra)
        if not (pad_h or pad_w):
            return out
        log_var = out.log_var[..., :height, :width] if out.log_var is not None else None
        pyramid = tuple(
            level[..., : -(-height // 2 ** (k + 1)), : -(-width // 2 ** (k + 1))] for k, level in enumerate(out.pyramid)
        )
        return FlowOutput(out.offsets[..., :height, :width], log_var, pyramid)
