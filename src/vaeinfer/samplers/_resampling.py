"""Resampling indices from unnormalised log-weights."""

from __future__ import annotations

import torch
from torch import Tensor

from vaeinfer import random as vrandom

__all__ = ["effective_sample_size", "multinomial_indices", "systematic_indices"]


def _probabilities(log_weights: Tensor) -> Tensor:
    """softmax in float64 with NaN read as weight 0; all-zero rows raise, naming the problem."""
    finite = torch.where(torch.isnan(log_weights), torch.full_like(log_weights, -torch.inf), log_weights)
    if bool((finite.amax(-1) == -torch.inf).any()):
        raise FloatingPointError(
            "every importance weight of some data point (or resampling group) is zero or NaN: the "
            "proposal puts no mass where p(x_o | z) p(z) > 0 (check the decoder scale and the "
            "observed values)"
        )
    return torch.softmax(finite.double(), dim=-1)


def multinomial_indices(log_weights: Tensor, num_samples: int, *, generator: vrandom.RandomSource) -> Tensor:
    """``num_samples`` i.i.d. indices per row of ``log_weights`` (..., N) from softmax(log_weights)."""
    return vrandom.multinomial(_probabilities(log_weights), num_samples, generator=generator)


def systematic_indices(log_weights: Tensor, num_samples: int, *, generator: vrandom.RandomSource) -> Tensor:
    """Systematic resampling: indices at the points ``(u + m) / M``, m < M, of the weights' CDF.

    One uniform u per row, so the counts of each index differ from their expectation by less than
    one; the indices come out sorted.
    """
    probs = _probabilities(log_weights)
    u = vrandom.uniform(tuple(probs.shape[:-1]), generator=generator, like=probs)
    points = (u.unsqueeze(-1) + torch.arange(num_samples, device=probs.device, dtype=probs.dtype)) / num_samples
    cdf = probs.cumsum(-1)
    cdf = cdf / cdf[..., -1:]
    idx = torch.searchsorted(cdf.contiguous(), points.contiguous(), right=True)
    return idx.clamp(max=probs.shape[-1] - 1)


def effective_sample_size(log_weights: Tensor) -> Tensor:
    """Importance-sampling ESS ``1 / sum(w_bar^2)`` over the last axis."""
    w = torch.softmax(log_weights.double(), dim=-1)
    return (1.0 / (w**2).sum(-1)).to(log_weights.dtype)
