r"""The marginal-VAE baseline: unconditional imputations (seed000 §3.5).

Each iteration draws :math:`z \sim p(z)` and :math:`x \sim p(x \mid z)` independently of the
observed values, then keeps :math:`x_o`. It samples p(x_m), not p(x_m | x_o): the floor every
conditional sampler should beat.

Notation: x (B, K, D); z (B, K, L).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor

from vaeinfer import random as vrandom
from vaeinfer.samplers.base import Problem, Start, decode_and_impute

__all__ = ["MarginalConfig", "MarginalInfo", "MarginalState", "init", "step"]


@dataclass(frozen=True, kw_only=True)
class MarginalConfig:
    """The marginal baseline has no options."""


class MarginalState(NamedTuple):
    """Attributes: x (B, K, D) completed data; z (B, K, L) the prior draw that generated it."""

    x: Tensor
    z: Tensor


class MarginalInfo(NamedTuple):
    """No diagnostics."""


def init(problem: Problem, start: Start, config: MarginalConfig, *, generator: vrandom.RandomSource) -> MarginalState:
    """Start from ``start`` (it does not influence later draws)."""
    return MarginalState(x=start.x, z=start.z)


def step(
    problem: Problem, state: MarginalState, config: MarginalConfig, *, generator: vrandom.RandomSource
) -> tuple[MarginalState, MarginalInfo]:
    """A fresh unconditional draw per chain."""
    batch, chains = state.x.shape[:2]
    z = vrandom.draw(problem.model.prior(), generator=generator, sample_shape=(batch, chains))
    x, _ = decode_and_impute(problem, z, generator=generator)
    return MarginalState(x=x, z=z), MarginalInfo()
