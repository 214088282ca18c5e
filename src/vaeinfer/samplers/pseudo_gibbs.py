r"""Pseudo-Gibbs sampling (Rezende et al. 2014).

Alternates :math:`z \sim q(z \mid x_o, x_m)` and :math:`x_m \sim p(x_m \mid z)`. It has no
accept/reject correction, so it samples p(x_m | x_o) only when the encoder is the exact
posterior: an *approximate* sampler.

Notation: x = (x_o, x_m) completed data (B, K, D); z latents (B, K, L).

Clipping (``clip``): draws of x_m are clipped to ``[2 min, 2 max]`` per feature, where the range is

* ``"batch_data"``: over the batch of observed values (missing entries count as 0), as the
  authors' code does;
* ``"dataset"``: the range given in ``clip_min`` / ``clip_max`` (e.g. the test split's).

Non-finite draws keep the previous value.

References: Rezende, Mohamed & Wierstra (2014); Simkus & Gutmann (2023), section 1.1 of the spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from vaeinfer import random as vrandom
from vaeinfer.samplers.base import Problem, Start, complete

__all__ = ["PseudoGibbsConfig", "PseudoGibbsInfo", "PseudoGibbsState", "init", "step"]


@dataclass(frozen=True, kw_only=True)
class PseudoGibbsConfig:
    """Options of pseudo-Gibbs.

    Attributes:
        clip: ``"none"``, ``"batch_data"`` or ``"dataset"`` (see the module docstring).
        clip_min: per-feature minimum for ``"dataset"`` clipping.
        clip_max: per-feature maximum for ``"dataset"`` clipping.
    """

    clip: Literal["none", "batch_data", "dataset"] = "none"
    clip_min: tuple[float, ...] | None = None
    clip_max: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.clip == "dataset" and (self.clip_min is None or self.clip_max is None):
            raise ValueError("clip='dataset' needs clip_min and clip_max (per-feature ranges)")


class PseudoGibbsState(NamedTuple):
    """Attributes: x (B, K, D) completed data; z (B, K, L) the latent that generated x."""

    x: Tensor
    z: Tensor


class PseudoGibbsInfo(NamedTuple):
    """Attributes: num_nonfinite (B, K) draws replaced by the previous value this iteration."""

    num_nonfinite: Tensor


def _clip_bounds(problem: Problem, config: PseudoGibbsConfig) -> tuple[Tensor, Tensor] | None:
    x = problem.x_obs
    if config.clip == "none":
        return None
    if config.clip == "batch_data":
        flat = x.reshape(-1, x.shape[-1])  # missing entries are 0 in x_obs
        return 2 * flat.amin(0), 2 * flat.amax(0)
    lo = torch.as_tensor(config.clip_min, dtype=x.dtype, device=x.device)
    hi = torch.as_tensor(config.clip_max, dtype=x.dtype, device=x.device)
    return 2 * lo, 2 * hi


def init(
    problem: Problem, start: Start, config: PseudoGibbsConfig, *, generator: vrandom.RandomSource
) -> PseudoGibbsState:
    """Start from ``start.x`` and ``start.z``."""
    return PseudoGibbsState(x=start.x, z=start.z)


def step(
    problem: Problem, state: PseudoGibbsState, config: PseudoGibbsConfig, *, generator: vrandom.RandomSource
) -> tuple[PseudoGibbsState, PseudoGibbsInfo]:
    """One pseudo-Gibbs sweep: z ~ q(z | x), then x_m ~ p(x_m | z)."""
    model = problem.model
    z = vrandom.draw(model.encoder(state.x), generator=generator)
    x_new = vrandom.draw(model.decoder(z), generator=generator)
    bounds = _clip_bounds(problem, config)
    if bounds is not None:
        x_new = torch.clamp(x_new, bounds[0], bounds[1])
    finite = torch.isfinite(x_new)
    x_new = torch.where(finite, x_new, state.x)
    x = complete(problem, x_new)
    info = PseudoGibbsInfo(num_nonfinite=(~finite & ~problem.observed_mask).sum(-1))
    return PseudoGibbsState(x=x, z=z), info
