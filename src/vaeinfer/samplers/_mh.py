"""Metropolis-Hastings helpers shared by MWG and AC-MWG."""

from __future__ import annotations

import torch
from torch import Tensor

from vaeinfer import random as vrandom

__all__ = ["accept", "select"]


def accept(log_alpha: Tensor, *, generator: vrandom.RandomSource) -> Tensor:
    """Accept where log U < log alpha, U ~ U(0, 1); NaN ratios are rejected."""
    u = vrandom.uniform(tuple(log_alpha.shape), generator=generator, like=log_alpha)
    return torch.log(u) < log_alpha


def select(accepted: Tensor, proposal: Tensor, current: Tensor) -> Tensor:
    """``proposal`` where accepted, else ``current``; ``accepted`` (B, K) broadcasts over the rest."""
    mask = accepted.reshape(accepted.shape + (1,) * (proposal.ndim - accepted.ndim))
    return torch.where(mask, proposal, current)
