"""Resampling indices from unnormalised log-weights."""

from __future__ import annotations

import torch
from torch import Tensor

from vaeinfer import random as vrandom

__all__ = ["effective_sample_size", "multinomial_indices"]


def multinomial_indices(log_weights: Tensor, num_samples: int, *, generator: torch.Generator) -> Tensor:
    """``num_samples`` i.i.d. indices per row of ``log_weights`` (..., N) from softmax(log_weights).

    Rows whose weights are all zero or non-finite raise, naming the problem, instead of
    returning garbage.
    """
    finite = torch.where(torch.isnan(log_weights), torch.full_like(log_weights, -torch.inf), log_weights)
    if bool((finite.amax(-1) == -torch.inf).any()):
        raise FloatingPointError(
            "every importance weight of some data point is zero or NaN: the proposal puts no mass "
            "where p(x_o | z) p(z) > 0 (check the decoder scale and the observed values)"
        )
    probs = torch.softmax(finite.double(), dim=-1)
    return vrandom.multinomial(probs, num_samples, generator=generator)


def effective_sample_size(log_weights: Tensor) -> Tensor:
    """Importance-sampling ESS ``1 / sum(w_bar^2)`` over the last axis."""
    w = torch.softmax(log_weights.double(), dim=-1)
    return (1.0 / (w**2).sum(-1)).to(log_weights.dtype)
