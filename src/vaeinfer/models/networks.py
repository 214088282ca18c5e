"""Plain networks (no probabilistic logic) and the architecture config that selects them.

Reproducibility contract: no layer here draws from torch's global RNG. Layers are created with
``nn.utils.skip_init`` (uninitialised memory) and initialised by :func:`init_parameters` from an
explicit ``torch.Generator``; dropout draws its masks from a generator bound with
:func:`bind_generator`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = [
    "ChannelDropout",
    "Dropout",
    "NetworkConfig",
    "ResidualMLP",
    "bind_generator",
    "build_decoder_network",
    "build_feature_network",
    "conv2d",
    "init_parameters",
    "linear",
]


def linear(in_features: int, out_features: int) -> nn.Linear:
    """An ``nn.Linear`` whose parameters are left uninitialised (no global-RNG draw).

    Initialise with :func:`init_parameters` or load a checkpoint.
    """
    return nn.utils.skip_init(nn.Linear, in_features, out_features)


def conv2d(
    in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1, padding: int = 0, bias: bool = True
) -> nn.Conv2d:
    """An ``nn.Conv2d`` whose parameters are left uninitialised (no global-RNG draw).

    Initialise with :func:`init_parameters` or load a checkpoint.
    """
    return nn.utils.skip_init(
        nn.Conv2d, in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias
    )


def init_parameters(module: nn.Module, *, generator: torch.Generator) -> nn.Module:
    """PyTorch's default initialisation, drawn from ``generator`` instead of the global RNG.

    * ``nn.Linear`` and ``nn.Conv2d``: weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
      with ``fan_in = in_features`` (Linear) or ``in_channels / groups * kh * kw`` (Conv2d). This is
      PyTorch's ``kaiming_uniform_(a=sqrt(5))`` bound, sqrt(6 / ((1 + 5) fan_in)) = 1/sqrt(fan_in).
    * BatchNorm: weight 1, bias 0, running mean 0, running variance 1, batch counter 0.

    Modules are visited in ``module.modules()`` order, weight before bias. The uniforms are drawn
    in float64 on the CPU (pass a CPU generator), so the initial parameters do not depend on the
    device the model later runs on; initialise before moving the model.
    """
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Linear | nn.Conv2d):
                if isinstance(m, nn.Linear):
                    fan_in = m.in_features
                else:
                    fan_in = m.in_channels // m.groups * math.prod(m.kernel_size)
                bound = 1.0 / math.sqrt(fan_in)
                for p in (m.weight, m.bias):
                    if p is not None:
                        u = torch.rand(p.shape, generator=generator, dtype=torch.float64)
                        p.copy_(((2 * u - 1) * bound).to(p.dtype))
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_parameters()  # ones / zeros and reset running statistics: no random draw
    return module


class Dropout(nn.Module):
    """Dropout that draws its mask from an explicitly bound ``torch.Generator``.

    ``torch.nn.Dropout`` uses the global RNG; this one refuses to run in training mode until a
    generator is bound with :func:`bind_generator`, so training stays reproducible.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, h: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return h
        if self.generator is None:
            raise RuntimeError("Dropout in training mode needs a generator: use bind_generator()")
        keep = torch.rand(h.shape, generator=self.generator, dtype=h.dtype, device=h.device)
        return h * (keep >= self.p) / (1.0 - self.p)


class ChannelDropout(Dropout):
    """``nn.Dropout2d`` semantics with a bound generator: zero whole channels.

    For input ``(N, C, H, W)`` one keep/drop decision is drawn per ``(n, c)`` (a ``(N, C, 1, 1)``
    mask), kept channels are scaled by ``1 / (1 - p)``.
    """

    def forward(self, h: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return h
        if self.generator is None:
            raise RuntimeError("ChannelDropout in training mode needs a generator: use bind_generator()")
        shape = (*h.shape[:2], *(1 for _ in h.shape[2:]))
        keep = torch.rand(shape, generator=self.generator, dtype=h.dtype, device=h.device)
        return h * (keep >= self.p) / (1.0 - self.p)


@contextmanager
def bind_generator(module: nn.Module, generator: torch.Generator) -> Iterator[None]:
    """Bind ``generator`` to every :class:`Dropout` (and :class:`ChannelDropout`) inside ``module``
    for the ``with`` block."""
    layers = [m for m in module.modules() if isinstance(m, Dropout)]
    for m in layers:
        m.generator = generator
    try:
        yield
    finally:
        for m in layers:
            m.generator = None


class _ResidualBlock(nn.Module):
    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(linear(width, width), nn.ReLU(), Dropout(dropout), linear(width, width))

    def forward(self, h: Tensor) -> Tensor:
        return torch.relu(h + self.body(h))


class ResidualMLP(nn.Module):
    """``Linear -> ReLU -> num_blocks x [Linear-ReLU-Dropout-Linear + skip, ReLU] -> Linear``.

    The residual fully connected network of Simkus & Gutmann (2023), used for the toy VAE's encoder
    and decoder and for the UCI VAEs. Acts on the last axis, so any leading batch shape works. Parameters start
    uninitialised: call :func:`init_parameters` with a generator, or load a checkpoint.
    """

    def __init__(
        self, in_features: int, out_features: int, *, width: int, num_blocks: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.inp = linear(in_features, width)
        self.blocks = nn.Sequential(*(_ResidualBlock(width, dropout) for _ in range(num_blocks)))
        self.out = linear(width, out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.blocks(torch.relu(self.inp(x))))


NetworkType = Literal["residual_mlp", "resnet"]


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """Architecture of one network (a VAE's encoder or decoder, or a classifier).

    Attributes:
        type: ``"residual_mlp"`` (:class:`ResidualMLP` on the flattened features) or ``"resnet"``
            (:class:`~vaeinfer.models.resnet.ResNetEncoder` for networks that read data,
            :class:`~vaeinfer.models.resnet.ResNetDecoder` for decoders).
        width: residual_mlp only: hidden width.
        num_blocks: residual_mlp only: number of residual blocks.
        dropout: dropout probability inside residual blocks (resnet: whole channels, Dropout2d).
        image_shape: resnet only: ``(H, W)`` or ``(C, H, W)`` of one data point; the flattened data
            have ``D = C * H * W`` features in row-major ``(C, H, W)`` order.
        channels: resnet only: width of each stage (e.g. ``(32, 64, 128, 256)``). Encoders halve the
            resolution at the start of every stage after the first; decoders double it at the
            start of every stage but the last.
        blocks_per_stage: resnet only: BasicBlocks per stage, one entry per stage.
        stem_channels: resnet only: channels of the encoder's first 3x3 convolution, or of the
            image the decoder's first linear layer produces; ``None``: ``channels[0]``.
        initial_size: resnet decoders only: the side of the decoder's first (square) feature map;
            ``None`` computes it from ``image_shape`` (see :class:`~vaeinfer.models.resnet.ResNetDecoder`).
    """

    type: NetworkType = "residual_mlp"
    width: int = 256
    num_blocks: int = 2
    dropout: float = 0.0
    image_shape: tuple[int, ...] = ()
    channels: tuple[int, ...] = ()
    blocks_per_stage: tuple[int, ...] = ()
    stem_channels: int | None = None
    initial_size: int | None = None

    def __post_init__(self) -> None:
        if self.type not in ("residual_mlp", "resnet"):
            raise ValueError(f"unknown network type {self.type!r}; use 'residual_mlp' or 'resnet'")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.type == "residual_mlp":
            if self.width < 1 or self.num_blocks < 0:
                raise ValueError(
                    f"residual_mlp needs width >= 1 and num_blocks >= 0, got width={self.width}, "
                    f"num_blocks={self.num_blocks}"
                )
            return
        if len(self.image_shape) not in (2, 3) or any(s < 1 for s in self.image_shape):
            raise ValueError(
                f"a resnet needs image_shape (H, W) or (C, H, W) with positive sizes, got {self.image_shape!r}; "
                "set network.image_shape, e.g. [14, 14]"
            )
        if not self.channels or any(c < 1 for c in self.channels):
            raise ValueError(f"a resnet needs positive stage widths in channels, got {self.channels!r}")
        if len(self.blocks_per_stage) != len(self.channels) or any(b < 1 for b in self.blocks_per_stage):
            raise ValueError(
                f"blocks_per_stage {self.blocks_per_stage!r} must give >= 1 block for each of the "
                f"{len(self.channels)} stages in channels {self.channels!r}"
            )
        if self.stem_channels is not None and self.stem_channels < 1:
            raise ValueError(f"stem_channels must be >= 1 or null, got {self.stem_channels}")
        if self.initial_size is not None and self.initial_size < 1:
            raise ValueError(f"initial_size must be >= 1 or null, got {self.initial_size}")

    @property
    def image_chw(self) -> tuple[int, int, int]:
        """``image_shape`` as ``(C, H, W)`` (``C = 1`` for a 2-entry shape)."""
        if len(self.image_shape) == 2:
            return (1, *self.image_shape)
        c, h, w = self.image_shape
        return c, h, w

    def check_data_dim(self, data_dim: int, role: str) -> None:
        """Raise ``ValueError`` if a resnet's image does not have ``data_dim`` pixels."""
        if self.type == "resnet" and math.prod(self.image_shape) != data_dim:
            raise ValueError(
                f"{role}: image_shape {self.image_shape!r} has {math.prod(self.image_shape)} values but "
                f"data_dim is {data_dim}; make the image shape multiply to data_dim"
            )


def build_feature_network(config: NetworkConfig, in_features: int, out_features: int) -> nn.Module:
    """A network reading data ``(..., in_features)`` and returning ``(..., out_features)``.

    ``residual_mlp``: :class:`ResidualMLP`; ``resnet``: a ResNet encoder on the image of shape
    ``config.image_shape`` (which must have ``in_features`` values).
    """
    if config.type == "residual_mlp":
        return ResidualMLP(in_features, out_features, width=config.width, num_blocks=config.num_blocks,
                           dropout=config.dropout)
    from vaeinfer.models.resnet import ResNetEncoder  # resnet imports this module

    config.check_data_dim(in_features, "network")
    return ResNetEncoder(config, out_features)


def build_decoder_network(
    config: NetworkConfig, latent_dim: int, data_dim: int, params_per_feature: int
) -> nn.Module:
    """A network mapping latents ``(..., latent_dim)`` to ``(..., params_per_feature * data_dim)``.

    The output is laid out parameter-major: entries ``[k * D, (k + 1) * D)`` hold parameter ``k``
    of every feature (so ``out.chunk(params_per_feature, -1)`` splits the parameters). For a
    resnet that is ``params_per_feature * C`` output channels per pixel, flattened row-major.
    """
    if config.type == "residual_mlp":
        return ResidualMLP(latent_dim, params_per_feature * data_dim, width=config.width,
                           num_blocks=config.num_blocks, dropout=config.dropout)
    from vaeinfer.models.resnet import ResNetDecoder  # resnet imports this module

    config.check_data_dim(data_dim, "decoder")
    return ResNetDecoder(config, latent_dim, params_per_feature)
