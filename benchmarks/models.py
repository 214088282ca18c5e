"""Models for the sampler benchmark (``benchmarks/samplers.py``): the toy VAE and an image-sized VAE.

The image VAE is the shape of a binarised-MNIST model: 784 pixels, a 32-D standard-normal prior,
a Gaussian encoder (``Independent(Normal)``) and a factorised Bernoulli decoder (batch shape
``(..., 784)``, as :func:`vaeinfer.models.likelihood.per_feature_log_prob` requires). Both networks
are plain MLPs with about 1.09 million parameters in total. The weights are random: the benchmark
measures time and memory, which do not depend on what the model has learned.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal

from vaeinfer.models.networks import init_parameters, linear
from vaeinfer.models.toy import ToyVAE, ToyVAEConfig

__all__ = ["ImageVAE", "ImageVAEConfig", "MODELS", "build_model", "make_data"]


@dataclass(frozen=True, kw_only=True)
class ImageVAEConfig:
    """Architecture of :class:`ImageVAE` (defaults: 784 -> 512 -> 256 -> 2x32 and 32 -> 256 -> 512 -> 784).

    Attributes:
        data_dim: pixels D.
        latent_dim: L.
        hidden: hidden widths of the encoder (the decoder uses them reversed).
        min_scale: floor added to the encoder's softplus scale.
    """

    data_dim: int = 784
    latent_dim: int = 32
    hidden: tuple[int, ...] = (512, 256)
    min_scale: float = 1e-4


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ImageVAE(nn.Module):
    """Standard-normal prior, Gaussian encoder, factorised Bernoulli decoder (logits); a
    :class:`vaeinfer.types.VAE`. Parameters start uninitialised: use ``init_parameters``."""

    def __init__(self, config: ImageVAEConfig | None = None) -> None:
        super().__init__()
        config = config or ImageVAEConfig()
        self.config = config
        self.latent_dim = config.latent_dim
        self.encoder_net = _mlp([config.data_dim, *config.hidden, 2 * config.latent_dim])
        self.decoder_net = _mlp([config.latent_dim, *reversed(config.hidden), config.data_dim])

    def prior(self) -> Distribution:
        p = next(self.parameters())
        loc = torch.zeros(self.latent_dim, dtype=p.dtype, device=p.device)
        return Independent(Normal(loc, torch.ones_like(loc), validate_args=False), 1)

    def encoder(self, x: Tensor) -> Distribution:
        loc, raw = self.encoder_net(x).chunk(2, dim=-1)
        return Independent(Normal(loc, F.softplus(raw) + self.config.min_scale, validate_args=False), 1)

    def decoder(self, z: Tensor) -> Distribution:
        return Bernoulli(logits=self.decoder_net(z), validate_args=False)


#: model name -> one-line description (for --help and the README)
MODELS: dict[str, str] = {
    "toy": "ToyVAE(ToyVAEConfig()): D=2, L=1, uniform prior, Beta encoder, Gaussian decoder; x_1 missing",
    "image": "ImageVAE: D=784, L=32, Gaussian prior and encoder, Bernoulli decoder; bottom half missing",
}


def build_model(name: str, *, seed: int, device: torch.device) -> nn.Module:
    """The randomly initialised model ``name`` in eval mode on ``device``."""
    generator = torch.Generator().manual_seed(seed)
    if name == "toy":
        model: nn.Module = ToyVAE(ToyVAEConfig())
    elif name == "image":
        model = ImageVAE()
    else:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    init_parameters(model, generator=generator)
    return model.to(device).eval()


def make_data(name: str, num_points: int, *, seed: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """``(x, observed_mask)`` of shape (B, D) for model ``name``.

    toy: x ~ N(0, 1) in 2-D with feature 1 missing. image: random binary pixels (p = 0.3) with the
    bottom half (rows 14-27 of the 28x28 image) missing.
    """
    generator = torch.Generator().manual_seed(seed + 1)
    if name == "toy":
        x = torch.randn((num_points, 2), generator=generator)
        mask = torch.zeros((num_points, 2), dtype=torch.bool)
        mask[:, 0] = True
    elif name == "image":
        x = (torch.rand((num_points, 784), generator=generator) < 0.3).float()
        mask = torch.zeros((num_points, 784), dtype=torch.bool)
        mask[:, :392] = True
    else:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return x.to(device), mask.to(device)
