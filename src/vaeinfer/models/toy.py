"""The component-supervised toy VAE of Simkus & Gutmann (2023), section 2.1 of the spec.

A 1-D latent with a uniform prior U(0, 1), a Beta encoder and a factorised Gaussian decoder, both
residual MLPs. It is trained without a KL term: latent interval ``[c/C, (c+1)/C)`` is *assigned* to
mixture component ``c``, which engineers a structured latent space in which components that are
neighbours in data space can be far apart in latent space (the x0 = 0 column of the grid).

Training objectives, for a data point x from component c and ``z_s ~ U(c/C, (c+1)/C)``:

* decoder: maximise ``log (1/S) sum_s p(x | z_s)``;
* encoder: maximise ``E_z log q(z | x)`` (z clamped to ``[1e-6, 1 - 1e-6]``).

The two parameter sets do not interact, so the sum of the two losses is minimised jointly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Beta, Distribution, Independent, Normal, Uniform

from vaeinfer import random as vrandom
from vaeinfer.models.networks import ResidualMLP

__all__ = ["ToyVAE", "ToyVAEConfig", "component_supervised_loss"]


@dataclass(frozen=True, kw_only=True)
class ToyVAEConfig:
    """Architecture of the toy VAE.

    Attributes:
        data_dim: number of features D (2 for the grid mixture).
        width: hidden width of both residual MLPs (paper: 512).
        num_blocks: residual blocks per network (paper: 4).
        dropout: dropout inside the residual blocks (paper: 0.1).
        min_scale: floor added to the decoder's softplus scale.
    """

    data_dim: int = 2
    width: int = 512
    num_blocks: int = 4
    dropout: float = 0.1
    min_scale: float = 1e-5

    def __post_init__(self) -> None:
        if self.data_dim < 1 or self.width < 1 or self.num_blocks < 0:
            raise ValueError("data_dim and width must be >= 1 and num_blocks >= 0")


class ToyVAE(nn.Module):
    """Uniform prior, Beta encoder, Gaussian decoder; implements :class:`vaeinfer.types.VAE`."""

    latent_dim = 1
    #: the prior's support is the closed unit interval widened by 1e-8, as in the paper
    prior_high = 1.0 + 1e-8

    def __init__(self, config: ToyVAEConfig) -> None:
        super().__init__()
        self.config = config
        kw = dict(width=config.width, num_blocks=config.num_blocks, dropout=config.dropout)
        self.encoder_net = ResidualMLP(config.data_dim, 2, **kw)
        self.decoder_net = ResidualMLP(1, 2 * config.data_dim, **kw)

    def prior(self) -> Distribution:
        p = next(self.parameters())
        low = torch.zeros(1, dtype=p.dtype, device=p.device)
        return Independent(Uniform(low, low + self.prior_high, validate_args=False), 1)

    def encoder(self, x: Tensor) -> Distribution:
        a, b = F.softplus(self.encoder_net(x)).add(1e-6).unbind(-1)
        return Independent(Beta(a.unsqueeze(-1), b.unsqueeze(-1), validate_args=False), 1)

    def decoder(self, z: Tensor) -> Distribution:
        loc, raw = self.decoder_net(z).chunk(2, dim=-1)
        return Normal(loc, F.softplus(raw) + self.config.min_scale, validate_args=False)


def component_supervised_loss(
    model: ToyVAE,
    x: Tensor,
    component: Tensor,
    *,
    num_components: int,
    num_latent_samples: int,
    generator: torch.Generator,
) -> Tensor:
    """Negative component-supervised objective, averaged over the mini-batch ``x`` (n, D)."""
    u = vrandom.uniform((num_latent_samples, x.shape[0], 1), generator=generator, like=x)
    z = (component.to(x.dtype).unsqueeze(-1) + u) / num_components  # (S, n, 1)
    log_lik = model.decoder(z).log_prob(x).sum(-1)  # (S, n)
    decoder_term = torch.logsumexp(log_lik, dim=0) - math.log(num_latent_samples)
    z_enc = z.clamp(1e-6, 1 - 1e-6)
    encoder_term = model.encoder(x).log_prob(z_enc).mean(0)  # (n,)
    return -(decoder_term + encoder_term).mean()
