r"""Latent-adaptive importance resampling (LAIR; Simkus & Gutmann 2023).

Target: :math:`p(z \mid x_o) \propto p(x_o \mid z)\, p(z)`; imputations follow from
:math:`x_m \sim p(x_m \mid z)`. The state is K particles (completed data) per data point.
One iteration:

1. builds the proposal mixture of K encoder components :math:`q_k(z) = q(z \mid x_o, x_m^{(k)})`,
   one per particle, and R prior components, all with equal weight, so the prior weight is
   :math:`\varepsilon = R / (K + R)`;
2. draws one z from *each* component (stratified), :math:`N = K + R` proposals;
3. weights them with deterministic-mixture weights

   .. math:: \log w_j = \log p(x_o \mid z_j) + \log p(z_j)
                        - \log \tfrac{1}{K+R} \Big[\textstyle\sum_k q_k(z_j) + R\, p(z_j)\Big];

4. resamples K latents i.i.d. multinomially from softmax(log w) over all N proposals (global
   resampling) and draws a fresh :math:`x_m \sim p(x_m \mid z)` for each particle.

Each iteration's weights are valid importance weights for the same unnormalised target, so the
final resampling (``num_final_samples``) pools the proposals and weights of *all* iterations and
draws i.i.d. from them: asymptotically exact draws of p(x_m | x_o).

Notation: x (B, K, D); z (B, K, L); proposals (B, N, L); log_w (B, N).
References: Simkus & Gutmann (2023), section 1.5 of the spec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from vaeinfer import random as vrandom
from vaeinfer.samplers._resampling import effective_sample_size, multinomial_indices
from vaeinfer.samplers.base import Problem, Trace, decode_and_impute, log_likelihood

__all__ = ["LAIRConfig", "LAIRInfo", "LAIRState", "final_resample", "finalize", "init", "step"]


@dataclass(frozen=True, kw_only=True)
class LAIRConfig:
    """Options of LAIR.

    Attributes:
        num_prior_components: R, prior components added to the K encoder components.
        num_final_samples: draws of the final resampling over all iterations (0: none).
        final_chunk_size: data points decoded at once in the final resampling (memory bound).
    """

    num_prior_components: int = 1
    num_final_samples: int = 0
    final_chunk_size: int = 65536

    def __post_init__(self) -> None:
        if self.num_prior_components < 0 or self.num_final_samples < 0:
            raise ValueError("num_prior_components and num_final_samples must be >= 0")


class LAIRState(NamedTuple):
    """Attributes: x (B, K, D) particle imputations; z (B, K, L) their latents."""

    x: Tensor
    z: Tensor


class LAIRInfo(NamedTuple):
    """Attributes:
    proposals: (B, N, L) this iteration's latent proposals (N = K + R).
    log_weights: (B, N) their unnormalised deterministic-mixture log-weights.
    ess: (B,) importance-sampling effective sample size of the weights.
    """

    proposals: Tensor
    log_weights: Tensor
    ess: Tensor


def init(
    problem: Problem, x: Tensor, config: LAIRConfig, *, generator: torch.Generator, z: Tensor | None = None
) -> LAIRState:
    """Start from particles ``x`` (B, K, D); ``z`` defaults to a draw from q(z | x)."""
    if z is None:
        z = vrandom.draw(problem.model.encoder(x), generator=generator)
    return LAIRState(x=x, z=z)


def _proposals_and_log_weights(
    problem: Problem, state: LAIRState, config: LAIRConfig, *, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    model = problem.model
    prior = model.prior()
    batch, num_particles = state.x.shape[:2]
    num_prior = config.num_prior_components
    enc = model.encoder(state.x)  # components q_k, batch (B, K)
    z = vrandom.draw(enc, generator=generator)  # (B, K, L)
    if num_prior:
        z_prior = vrandom.draw(prior, generator=generator, sample_shape=(batch, num_prior))
        z = torch.cat([z, z_prior], dim=1)  # (B, N, L)
    # log q_k(z_j) for every proposal j and component k: (N, B, 1, L) against batch (B, K).
    log_q = enc.log_prob(z.transpose(0, 1).unsqueeze(2)).permute(1, 0, 2)  # (B, N, K)
    log_prior = prior.log_prob(z)  # (B, N)
    components = [log_q]
    if num_prior:
        components.append(log_prior.unsqueeze(-1) + math.log(num_prior))
    log_mixture = torch.logsumexp(torch.cat(components, -1), -1) - math.log(num_particles + num_prior)
    log_lik = log_likelihood(problem, model.decoder(z), problem.x_obs, observed_only=True)
    return z, log_lik + log_prior - log_mixture


def step(
    problem: Problem, state: LAIRState, config: LAIRConfig, *, generator: torch.Generator
) -> tuple[LAIRState, LAIRInfo]:
    """Propose from the mixture, weight, resample K latents globally, impute x_m."""
    z_all, log_w = _proposals_and_log_weights(problem, state, config, generator=generator)
    idx = multinomial_indices(log_w, state.x.shape[1], generator=generator)  # (B, K)
    z = z_all.gather(1, idx.unsqueeze(-1).expand(*idx.shape, z_all.shape[-1]))
    x, _ = decode_and_impute(problem, z, generator=generator)
    return LAIRState(x=x, z=z), LAIRInfo(proposals=z_all, log_weights=log_w, ess=effective_sample_size(log_w))


def final_resample(
    problem: Problem,
    proposals: Tensor,
    log_weights: Tensor,
    num_samples: int,
    *,
    generator: torch.Generator,
    chunk_size: int = 65536,
) -> tuple[Tensor, Tensor]:
    """Resample ``num_samples`` latents per data point from the pooled weighted proposals.

    Args:
        proposals: (T, B, N, L) all iterations' proposals.
        log_weights: (T, B, N) their log-weights.

    Returns:
        x (B, M, D) completed imputations and z (B, M, L), M = ``num_samples``.
    """
    steps, batch, n, latent = proposals.shape
    device = problem.x_obs.device
    pooled_z = proposals.permute(1, 0, 2, 3).reshape(batch, steps * n, latent)
    pooled_w = log_weights.permute(1, 0, 2).reshape(batch, steps * n)
    idx = multinomial_indices(pooled_w.to(device), num_samples, generator=generator)
    z = pooled_z.to(device).gather(1, idx.unsqueeze(-1).expand(batch, num_samples, latent))
    xs = []
    per_chunk = max(1, chunk_size // max(1, batch))
    for start in range(0, num_samples, per_chunk):
        x, _ = decode_and_impute(problem, z[:, start : start + per_chunk], generator=generator)
        xs.append(x)
    return torch.cat(xs, dim=1), z


def finalize(problem: Problem, trace: Trace, config: LAIRConfig, *, generator: torch.Generator) -> dict[str, Tensor]:
    """The run's final resampling, when ``num_final_samples > 0``."""
    if config.num_final_samples == 0 or "log_weights" not in trace.info:
        return {}
    x, z = final_resample(
        problem,
        trace.info["proposals"],
        trace.info["log_weights"],
        config.num_final_samples,
        generator=generator,
        chunk_size=config.final_chunk_size,
    )
    return {"x_resampled": x.cpu(), "z_resampled": z.cpu()}
