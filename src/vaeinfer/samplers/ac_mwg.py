r"""Adaptive collapsed Metropolis-within-Gibbs (AC-MWG; Simkus & Gutmann 2023).

Target: the *collapsed* :math:`p(z \mid x_o) \propto p(x_o \mid z)\, p(z)`; imputations follow as
:math:`x_m \sim p(x_m \mid z)` after every z-update and are not part of the MH state, which fixes
the sticky z--x_m coupling of MWG (pitfall I).

Proposal: an independence proposal that adapts to the chain's past,

.. math:: \tilde q(z) = (1-\varepsilon)\, q(z \mid x_o, \tilde x_m) + \varepsilon\, p(z),

where :math:`\tilde x` is drawn uniformly from the chain's *restricted history*: the imputations
generated before the current latent state was accepted. Conditioning on past imputations lets the
proposal jump between separated modes of p(z | x_o) (pitfall II); the prior component ε guards
against an encoder that fits poorly off the data manifold (pitfall III). The restriction keeps the
proposal independent of the current state, so the independence-MH ratio

.. math:: \alpha = \frac{p(x_o \mid z')\, p(z')\, \tilde q(z)}{p(x_o \mid z)\, p(z)\, \tilde q(z')}

is valid.

History memory: an append-only device tensor of shape (C, B, K, D), grown by doubling, so C < 2(T + 1) for T
iterations: about ``8 T B K D`` bytes in float32 at worst. ``max_history`` caps C; with a cap, a chain
that is rejected for more than ``max_history`` iterations in a row conditions on the oldest
retained imputation, which is no longer from before its current state (an approximation).

Notation: x = (x_o, x_m) (B, K, D); z (B, K, L); ε = ``prior_mixture_probability``.
References: Simkus & Gutmann (2023), section 1.4 of the spec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from vaeinfer import random as vrandom
from vaeinfer.samplers import _mh
from vaeinfer.samplers.base import Problem, Start, decode_and_impute, log_likelihood, log_mixture_weight

__all__ = ["ACMWGConfig", "ACMWGInfo", "ACMWGState", "init", "step"]


@dataclass(frozen=True, kw_only=True)
class ACMWGConfig:
    """Options of AC-MWG.

    Attributes:
        prior_mixture_probability: ε, the weight of the prior p(z) in the proposal mixture
            (paper: 0.01 on the toy, 0.05 elsewhere; the ablation ε = 0 drops it).
        target: ``"collapsed"`` (AC-MWG: MH on p(z | x_o), likelihood of x_o only),
            ``"mwg"`` (the paper's "MWG target" ablation, done consistently: MH on the joint
            p(z, x_m | x_o) with the likelihood of the full current x on both sides of the ratio,
            then a Gibbs draw of x_m) or ``"mwg_authors_q3"`` (the authors' released ablation,
            seed000 §1.4 quirk Q3: the proposal term uses the full x but after each iteration the
            current term is recomputed on x_o only, so from the second iteration on the ratio
            mixes the two; not a valid MH ratio for either target, kept to reproduce their figure).
        max_history: optional cap on the stored history length per chain (memory bound).
    """

    prior_mixture_probability: float = 0.05
    target: Literal["collapsed", "mwg", "mwg_authors_q3"] = "collapsed"
    max_history: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.prior_mixture_probability <= 1.0:
            raise ValueError(f"prior_mixture_probability must be in [0, 1], got {self.prior_mixture_probability}")
        if self.target not in ("collapsed", "mwg", "mwg_authors_q3"):
            raise ValueError(f"target must be 'collapsed', 'mwg' or 'mwg_authors_q3', got {self.target!r}")
        if self.max_history is not None and self.max_history < 1:
            raise ValueError(f"max_history must be >= 1, got {self.max_history}")


class ACMWGState(NamedTuple):
    """Attributes:
    x: (B, K, D) completed data, x_m ~ p(x_m | z).
    z: (B, K, L) current latent.
    log_prior: (B, K) log p(z).
    log_lik: (B, K) log p(x_o | z) (``target="collapsed"``) or the current likelihood term of the
        MWG-target ablations.
    history: (C, B, K, D) ring buffer of past completed imputations.
    history_size: number of imputations written so far (chronological count).
    available: (B, K) chronological count of history entries the proposal may use.
    """

    x: Tensor
    z: Tensor
    log_prior: Tensor
    log_lik: Tensor
    history: Tensor
    history_size: int
    available: Tensor


class ACMWGInfo(NamedTuple):
    """Attributes: acceptance_prob (B, K) min(1, alpha); is_accepted (B, K)."""

    acceptance_prob: Tensor
    is_accepted: Tensor


def _log_proposal(enc, prior, z: Tensor, eps: float) -> Tensor:
    parts = [enc.log_prob(z) + log_mixture_weight(1.0 - eps), prior.log_prob(z) + log_mixture_weight(eps)]
    return torch.logsumexp(torch.stack(parts), dim=0)


def init(problem: Problem, start: Start, config: ACMWGConfig, *, generator: vrandom.RandomSource) -> ACMWGState:
    """Start from ``start.x`` and ``start.z``; ``start.history`` (H, B, K, D) seeds the history."""
    model, x, z = problem.model, start.x, start.z
    observed_only = config.target == "collapsed"
    log_lik = log_likelihood(problem, model.decoder(z), x, observed_only=observed_only)
    seed = start.history
    size = seed.shape[0]
    # Start small (a few entries of B x K x D each can be large for images) and double as it fills.
    capacity = max(8, size) if config.max_history is None else max(min(8, config.max_history), size)
    history = x.new_empty((capacity, *x.shape))  # entries at or past history_size are never read
    history[:size] = seed
    available = torch.full(x.shape[:2], size, dtype=torch.long, device=x.device)
    return ACMWGState(x, z, model.prior().log_prob(z), log_lik, history, size, available)


def _draw_from_history(state: ACMWGState, *, generator: vrandom.RandomSource) -> Tensor:
    """x̃ (B, K, D): one uniform draw per chain among its available history entries."""
    capacity = state.history.shape[0]
    oldest = max(0, state.history_size - capacity)
    span = (state.available - oldest).clamp(min=1)
    u = vrandom.uniform(tuple(span.shape), generator=generator, like=state.x)
    chrono = oldest + torch.floor(u * span).long().clamp(max=span - 1)
    index = (chrono % capacity)[None, :, :, None].expand(1, *state.x.shape)
    return state.history.gather(0, index)[0]


def _enqueue(state: ACMWGState, x: Tensor, max_history: int | None) -> tuple[Tensor, int]:
    history, n = state.history, state.history_size
    capacity = history.shape[0]
    if n >= capacity and (max_history is None or capacity < max_history):
        grow = capacity if max_history is None else min(capacity, max_history - capacity)
        grown = history.new_empty((capacity + grow, *history.shape[1:]))
        grown[:capacity] = history
        history = grown
        capacity = history.shape[0]
    # NOTE: written in place. The buffer is append-only and shared by successive states: entry n is
    # invisible to the input state (it reads chronological indices < history_size), so the input
    # state stays valid without an O(C) copy per iteration. With max_history the ring overwrites
    # old entries, so only the newest state of a capped chain is valid.
    history[n % capacity] = x
    return history, n + 1


def step(
    problem: Problem, state: ACMWGState, config: ACMWGConfig, *, generator: vrandom.RandomSource
) -> tuple[ACMWGState, ACMWGInfo]:
    """One independence-MH step on p(z | x_o), then x_m ~ p(x_m | z) and a history update."""
    model, eps = problem.model, config.prior_mixture_probability
    prior = model.prior()
    enc = model.encoder(_draw_from_history(state, generator=generator))
    z_prop = vrandom.draw(enc, generator=generator)
    if eps > 0:
        z_prior = vrandom.draw(prior, generator=generator, sample_shape=z_prop.shape[:2])
        use_prior = vrandom.uniform(tuple(z_prop.shape[:2]), generator=generator, like=state.x) < eps
        z_prop = _mh.select(use_prior, z_prior, z_prop)
    log_prior_prop = prior.log_prob(z_prop)
    log_lik_prop = log_likelihood(
        problem, model.decoder(z_prop), state.x, observed_only=config.target == "collapsed"
    )
    log_alpha = (
        log_lik_prop + log_prior_prop - state.log_lik - state.log_prior
        + _log_proposal(enc, prior, state.z, eps) - _log_proposal(enc, prior, z_prop, eps)
    )  # fmt: skip
    accepted = _mh.accept(log_alpha, generator=generator)
    z = _mh.select(accepted, z_prop, state.z)
    # Everything enqueued so far predates the newly accepted state and becomes usable.
    available = torch.where(accepted, torch.full_like(state.available, state.history_size), state.available)
    x, dec = decode_and_impute(problem, z, generator=generator)
    if config.target == "collapsed":  # p(x_o | z) does not change with the new x_m
        log_lik = torch.where(accepted, log_lik_prop, state.log_lik)
    else:
        log_lik = log_likelihood(problem, dec, x, observed_only=config.target == "mwg_authors_q3")
    history, size = _enqueue(state, x, config.max_history)
    new_state = ACMWGState(
        x=x,
        z=z,
        log_prior=torch.where(accepted, log_prior_prop, state.log_prior),
        log_lik=log_lik,
        history=history,
        history_size=size,
        available=available,
    )
    prob = log_alpha.clamp(max=0).nan_to_num(nan=-math.inf).exp()
    return new_state, ACMWGInfo(acceptance_prob=prob, is_accepted=accepted)
