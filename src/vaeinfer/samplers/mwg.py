r"""Metropolis-within-Gibbs (Mattei & Frellsen 2018).

Target: the joint :math:`p(z, x_m \mid x_o) \propto p(z)\, p(x_o, x_m \mid z)`. Each iteration

1. proposes :math:`z' \sim q(z \mid x_o, x_m)` (independent of the current z given x) and accepts
   with probability

   .. math:: \alpha = \min\Big(1, \frac{p(x_o, x_m \mid z')\, p(z')\, q(z \mid x)}
                                     {p(x_o, x_m \mid z)\, p(z)\, q(z' \mid x)}\Big),

   the likelihood covering *all* features including the current imputation;
2. draws a fresh :math:`x_m \sim p(x_m \mid z)` (a Gibbs step), accepted or not.

Because z and x_m are strongly coupled, this chain can get stuck (the paper's pitfall I).

Notation: x = (x_o, x_m) (B, K, D); z (B, K, L).
References: Mattei & Frellsen (2018); Simkus & Gutmann (2023), section 1.2 of the spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from vaeinfer import random as vrandom
from vaeinfer.samplers import _mh
from vaeinfer.samplers.base import Problem, Start, decode_and_impute, log_likelihood

__all__ = ["MWGConfig", "MWGInfo", "MWGState", "init", "step"]


@dataclass(frozen=True, kw_only=True)
class MWGConfig:
    """MWG has no options of its own; warm-up is set with :class:`vaeinfer.samplers.base.Warmup`."""


class MWGState(NamedTuple):
    """Attributes:
    x: (B, K, D) completed data.
    z: (B, K, L) current latent.
    log_prior: (B, K) log p(z).
    log_lik: (B, K) log p(x_o, x_m | z) over all features.
    """

    x: Tensor
    z: Tensor
    log_prior: Tensor
    log_lik: Tensor


class MWGInfo(NamedTuple):
    """Attributes: acceptance_prob (B, K) min(1, alpha); is_accepted (B, K)."""

    acceptance_prob: Tensor
    is_accepted: Tensor


def init(problem: Problem, start: Start, config: MWGConfig, *, generator: vrandom.RandomSource) -> MWGState:
    """Start from ``start.x`` and the latent ``start.z`` that generated it."""
    model, x, z = problem.model, start.x, start.z
    log_lik = log_likelihood(problem, model.decoder(z), x, observed_only=False)
    return MWGState(x=x, z=z, log_prior=model.prior().log_prob(z), log_lik=log_lik)


def step(
    problem: Problem, state: MWGState, config: MWGConfig, *, generator: vrandom.RandomSource
) -> tuple[MWGState, MWGInfo]:
    """One MH step on z with the encoder proposal, then a Gibbs draw of x_m."""
    model = problem.model
    proposal = model.encoder(state.x)
    z_prop = vrandom.draw(proposal, generator=generator)
    log_prior_prop = model.prior().log_prob(z_prop)
    log_lik_prop = log_likelihood(problem, model.decoder(z_prop), state.x, observed_only=False)
    log_alpha = (
        log_lik_prop + log_prior_prop - state.log_lik - state.log_prior
        + proposal.log_prob(state.z) - proposal.log_prob(z_prop)
    )  # fmt: skip
    accepted = _mh.accept(log_alpha, generator=generator)
    z = _mh.select(accepted, z_prop, state.z)
    log_prior = torch.where(accepted, log_prior_prop, state.log_prior)
    x, dec = decode_and_impute(problem, z, generator=generator)
    log_lik = log_likelihood(problem, dec, x, observed_only=False)
    info = MWGInfo(acceptance_prob=log_alpha.clamp(max=0).nan_to_num(nan=-torch.inf).exp(), is_accepted=accepted)
    return MWGState(x=x, z=z, log_prior=log_prior, log_lik=log_lik), info
