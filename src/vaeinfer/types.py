"""Axis vocabulary and the VAE protocol.

Every tensor in the samplers follows one naming of its axes:

* ``B`` data points (test points processed together),
* ``K`` chains or particles per data point,
* ``N`` proposals per data point in one iteration (LAIR: ``K + R``),
* ``D`` data features,
* ``L`` latent dimensions.

Completed data have shape ``(B, K, D)``, latents ``(B, K, L)``. The observed mask has shape
``(B, 1, D)`` and is ``True`` where a value is observed (one convention everywhere).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor
from torch.distributions import Distribution

__all__ = ["VAE"]


@runtime_checkable
class VAE(Protocol):
    """What a model must provide to be sampled by :mod:`vaeinfer.samplers`.

    The three methods return ``torch.distributions`` objects; samplers only call ``log_prob`` on
    them and draw through :func:`vaeinfer.random.draw`, so any distribution type registered there
    works (Normal, Bernoulli, Beta, Uniform, and ``Independent`` wrappers of those).

    * ``prior()``: p(z), ``event_shape == (L,)``, empty batch shape.
    * ``encoder(x)``: q(z | x) for completed data ``x`` of shape ``(..., D)``; batch shape ``(...)``,
      ``event_shape == (L,)``. The encoder sees completed data, never the mask.
    * ``decoder(z)``: p(x | z) for latents of shape ``(..., L)``. It must factorise over features:
      either batch shape ``(..., D)`` with empty event shape, or an ``Independent`` wrapper of
      such a distribution with ``event_shape == (D,)``.

    Networks must accept any number of leading batch dimensions (an MLP on the last axis does).
    """

    latent_dim: int

    def prior(self) -> Distribution: ...

    def encoder(self, x: Tensor) -> Distribution: ...

    def decoder(self, z: Tensor) -> Distribution: ...
