r"""A general VAE (Gaussian or Bernoulli likelihood) and its training objective, the ELBO.

Model (spec sections 2.2-2.4), for data :math:`x \in \mathbb{R}^D` (images flattened) and
latents :math:`z \in \mathbb{R}^L`:

* prior :math:`p(z) = N(0, I_L)`;
* encoder ("normal_with_eps"): the encoder network outputs :math:`2L` values
  :math:`(\mu, \rho)`, and :math:`q(z \mid x) = N(\mu, \operatorname{diag}(\sigma^2))` with
  :math:`\sigma = \operatorname{softplus}(\rho) + \epsilon_{\min}`;
* decoder: ``"gaussian"``: the network outputs :math:`2D` values :math:`(m, r)` and
  :math:`p(x_d \mid z) = N(m_d, (\operatorname{softplus}(r_d) + \epsilon_{\min})^2)`;
  ``"bernoulli"``: :math:`D` logits :math:`\ell` and :math:`p(x_d = 1 \mid z) = \operatorname{sigmoid}(\ell_d)`.

The encoder and decoder networks are selected by :class:`~vaeinfer.models.networks.NetworkConfig`
(residual MLPs or ResNets) and may differ. :meth:`VAE.encoder_features` exposes the encoder's raw
output :math:`(\mu, \rho)`, the feature space of the paper's FID scores.

The objective (:func:`elbo_samples`, :func:`elbo_loss`) is the evidence lower bound

.. math:: \mathcal{L}(x) = E_{q(z \mid x)}\big[\log p(x \mid z) - \beta\,(\log q(z \mid x) - \log p(z))\big]
          \le \log p(x) \quad (\beta = 1),

estimated with S reparameterised samples :math:`z_s = \mu + \sigma \odot \varepsilon_s`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal

from vaeinfer import random as vrandom
from vaeinfer.models.likelihood import per_feature_log_prob
from vaeinfer.models.networks import NetworkConfig, build_decoder_network, build_feature_network

__all__ = ["VAE", "VAEConfig", "elbo_loss", "elbo_samples", "linear_beta"]

Likelihood = Literal["gaussian", "bernoulli"]
_PARAMS_PER_FEATURE = {"gaussian": 2, "bernoulli": 1}


@dataclass(frozen=True, kw_only=True)
class VAEConfig:
    """Architecture of a :class:`VAE`.

    Attributes:
        data_dim: number of (flattened) features D.
        latent_dim: number of latent dimensions L.
        likelihood: ``"gaussian"`` (location and softplus scale per feature) or ``"bernoulli"``
            (logits; binary data).
        encoder: network from x (D values) to the encoder's 2L outputs.
        decoder: network from z (L values) to the likelihood parameters (2D or D values).
        min_scale: floor added to every softplus scale (encoder and Gaussian decoder).
    """

    data_dim: int
    latent_dim: int
    likelihood: Likelihood = "gaussian"
    encoder: NetworkConfig = field(default_factory=NetworkConfig)
    decoder: NetworkConfig = field(default_factory=NetworkConfig)
    min_scale: float = 1e-5

    def __post_init__(self) -> None:
        if self.data_dim < 1 or self.latent_dim < 1:
            raise ValueError(
                f"data_dim and latent_dim must be >= 1, got data_dim={self.data_dim}, latent_dim={self.latent_dim}"
            )
        if self.likelihood not in _PARAMS_PER_FEATURE:
            raise ValueError(f"unknown likelihood {self.likelihood!r}; use 'gaussian' or 'bernoulli'")
        if not self.min_scale >= 0:
            raise ValueError(f"min_scale must be >= 0, got {self.min_scale}")
        self.encoder.check_data_dim(self.data_dim, "encoder")
        self.decoder.check_data_dim(self.data_dim, "decoder")


class VAE(nn.Module):
    """Standard-normal prior, diagonal-Gaussian encoder, Gaussian or Bernoulli decoder.

    Implements :class:`vaeinfer.types.VAE`; inputs may have any leading batch shape. Parameters
    start uninitialised: call :func:`~vaeinfer.models.networks.init_parameters` with a generator,
    or load a checkpoint.
    """

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        self.latent_dim = config.latent_dim
        self.data_dim = config.data_dim
        self.encoder_net = build_feature_network(config.encoder, config.data_dim, 2 * config.latent_dim)
        self.decoder_net = build_decoder_network(
            config.decoder, config.latent_dim, config.data_dim, _PARAMS_PER_FEATURE[config.likelihood]
        )

    def prior(self) -> Distribution:
        """p(z) = N(0, I_L), event shape (L,)."""
        p = next(self.parameters())
        zeros = torch.zeros(self.latent_dim, dtype=p.dtype, device=p.device)
        return Independent(Normal(zeros, torch.ones_like(zeros), validate_args=False), 1)

    def encoder_features(self, x: Tensor) -> Tensor:
        """The encoder network's raw output ``(..., 2L)``: L means, then L pre-softplus scales."""
        return self.encoder_net(x)

    def encoder_params(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and scale ``(..., L)`` of q(z | x); scale = softplus(raw) + min_scale."""
        loc, raw = self.encoder_features(x).chunk(2, dim=-1)
        return loc, F.softplus(raw) + self.config.min_scale

    def encoder(self, x: Tensor) -> Distribution:
        """q(z | x) = N(mu(x), diag(sigma(x)^2)), batch shape ``x.shape[:-1]``, event (L,)."""
        loc, scale = self.encoder_params(x)
        return Independent(Normal(loc, scale, validate_args=False), 1)

    def decoder(self, z: Tensor) -> Distribution:
        """p(x | z), factorised: batch shape ``(*z.shape[:-1], D)``, empty event shape."""
        out = self.decoder_net(z)
        if self.config.likelihood == "bernoulli":
            return Bernoulli(logits=out, validate_args=False)
        loc, raw = out.chunk(2, dim=-1)
        return Normal(loc, F.softplus(raw) + self.config.min_scale, validate_args=False)


def linear_beta(step: int, start: int, end: int) -> float:
    """KL weight schedule: 0 before ``start``, rising linearly to 1 at ``end``, 1 afterwards.

    ``beta(step) = clip((step - start) / (end - start), 0, 1)``; with ``end <= start`` it is a
    step from 0 to 1 at ``start``. (BSDS300: ``start = 30_000``, ``end = 200_001``.)
    """
    if step < start:
        return 0.0
    if end <= start or step >= end:
        return 1.0
    return (step - start) / (end - start)


def _normal_params(q: Distribution) -> tuple[Tensor, Tensor]:
    """loc and scale of a diagonal Gaussian ``Normal`` or ``Independent(Normal, 1)``."""
    base = q.base_dist if isinstance(q, Independent) else q
    if not isinstance(base, Normal):
        raise TypeError(
            f"the ELBO's reparameterised estimator needs a Normal encoder, got {type(base).__name__}"
        )
    return base.loc, base.scale


def elbo_samples(
    model: nn.Module,
    x: Tensor,
    *,
    num_latent_samples: int,
    generator: torch.Generator,
    beta: float = 1.0,
    stl: bool = True,
    train_noise_std: float = 0.0,
) -> Tensor:
    r"""Per-sample ELBO terms, shape ``(S, *x.shape[:-1])``:

    .. math:: \ell_s = \log p(x \mid z_s) - \beta\,\big(\log q(z_s \mid x) - \log p(z_s)\big),
              \quad z_s = \mu(x) + \sigma(x) \odot \varepsilon_s,\ \varepsilon_s \sim N(0, I),

    with :math:`\log p(x \mid z)` summed over the D features. Their mean is an unbiased estimate of
    the ELBO, and their spread gives its Monte Carlo standard error.

    Gradients. With ``stl=True`` ("sticking the landing", Roeder et al. 2017), :math:`\log q` is
    evaluated with :math:`\mu, \sigma` *detached*, so the encoder's gradient flows only through
    :math:`z_s`: the score-function term :math:`\nabla_\phi \log q_\phi(z)`, which has expectation
    zero, is dropped. The estimator stays unbiased and its variance vanishes when q is the exact
    posterior (then :math:`\log p(x, z) - \log q(z \mid x) = \log p(x)` for every z). The values are
    the same either way.

    Args:
        model: a :class:`vaeinfer.types.VAE` whose encoder is a diagonal ``Normal`` (or
            ``Independent(Normal)``).
        x: data ``(..., D)``.
        num_latent_samples: S.
        generator: source of the noise (eps, and the training noise).
        beta: weight of :math:`\log q - \log p(z)` (1: the ELBO; < 1 during KL annealing).
        stl: use the sticking-the-landing gradient.
        train_noise_std: when > 0 and ``model.training``, the model sees
            :math:`x + \sigma_{\text{noise}} \eta`, :math:`\eta \sim N(0, I)` (a data
            augmentation: POWER uses 0.001); in eval mode x is used as is.
    """
    if num_latent_samples < 1:
        raise ValueError(f"num_latent_samples must be >= 1, got {num_latent_samples}")
    if train_noise_std < 0:
        raise ValueError(f"train_noise_std must be >= 0, got {train_noise_std}")
    if train_noise_std > 0 and model.training:
        x = vrandom.normal(x, torch.full_like(x, train_noise_std), generator=generator)
    loc, scale = _normal_params(model.encoder(x))
    shape = (num_latent_samples, *loc.shape)
    z = vrandom.normal(loc.expand(shape), scale.expand(shape), generator=generator)  # (S, ..., L)
    if stl:
        loc, scale = loc.detach(), scale.detach()
    log_q = Normal(loc, scale, validate_args=False).log_prob(z).sum(-1)
    log_prior = model.prior().log_prob(z)
    log_lik = per_feature_log_prob(model.decoder(z), x).sum(-1)
    return log_lik - beta * (log_q - log_prior)


def elbo_loss(
    model: nn.Module,
    x: Tensor,
    *,
    num_latent_samples: int,
    generator: torch.Generator,
    beta: float = 1.0,
    stl: bool = True,
    train_noise_std: float = 0.0,
) -> Tensor:
    """Negative ELBO averaged over the S latent samples and the data points of ``x``.

    See :func:`elbo_samples` for the estimator and the arguments. To use with
    :func:`vaeinfer.training.fit`::

        def loss(model, batch, generator, *, step):
            return elbo_loss(model, batch[0], num_latent_samples=8, generator=generator,
                             beta=linear_beta(step, 30_000, 200_001))
    """
    return -elbo_samples(
        model, x, num_latent_samples=num_latent_samples, generator=generator, beta=beta, stl=stl,
        train_noise_std=train_noise_std,
    ).mean()

