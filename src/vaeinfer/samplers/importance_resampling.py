r"""Standard importance resampling with the prior as proposal (seed000 §1.6; "LAIR with ε = 1").

Each iteration draws K latents :math:`z_j \sim p(z)` per data point, weights them by
:math:`w_j = p(x_o \mid z_j)` (the target p(x_o | z) p(z) over the proposal p(z)) and resamples K
of them. The weights are valid for the same unnormalised target in every iteration, so the final
resampling (``num_final_samples``) pools all T K weighted prior draws and draws i.i.d. from them:
asymptotically exact, but efficient only when the prior covers p(z | x_o) well (a
low-dimensional latent).

Notation: x (B, K, D); z (B, K, L); proposals (B, K, L); log_w (B, K).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor

from vaeinfer import random as vrandom
from vaeinfer.samplers._resampling import effective_sample_size, multinomial_indices
from vaeinfer.samplers.base import Problem, Start, decode_and_impute, log_likelihood
from vaeinfer.samplers.lair import finalize  # the same pooled final resampling as LAIR

__all__ = ["ImportanceResamplingConfig", "ImportanceResamplingInfo", "ImportanceResamplingState",
           "finalize", "init", "step"]


@dataclass(frozen=True, kw_only=True)
class ImportanceResamplingConfig:
    """Attributes:
    num_final_samples: draws of the final resampling over all iterations (0: none).
    final_chunk_size: final draws per data point decoded at once (memory bound).
    """

    num_final_samples: int = 0
    final_chunk_size: int = 4096

    def __post_init__(self) -> None:
        if self.num_final_samples < 0 or self.final_chunk_size < 1:
            raise ValueError("num_final_samples must be >= 0 and final_chunk_size >= 1")


class ImportanceResamplingState(NamedTuple):
    """Attributes: x (B, K, D) resampled imputations; z (B, K, L) their latents."""

    x: Tensor
    z: Tensor


class ImportanceResamplingInfo(NamedTuple):
    """Attributes: proposals (B, K, L) prior draws; log_weights (B, K) log p(x_o | z); ess (B,)."""

    proposals: Tensor
    log_weights: Tensor
    ess: Tensor


def init(
    problem: Problem, start: Start, config: ImportanceResamplingConfig, *, generator: vrandom.RandomSource
) -> ImportanceResamplingState:
    """Start from ``start`` (it does not influence later draws)."""
    return ImportanceResamplingState(x=start.x, z=start.z)


def step(
    problem: Problem, state: ImportanceResamplingState, config: ImportanceResamplingConfig, *,
    generator: vrandom.RandomSource,
) -> tuple[ImportanceResamplingState, ImportanceResamplingInfo]:
    """K prior proposals, weights p(x_o | z), K multinomial resamples, fresh x_m."""
    batch, chains = state.x.shape[:2]
    model = problem.model
    z_all = vrandom.draw(model.prior(), generator=generator, sample_shape=(batch, chains))
    log_w = log_likelihood(problem, model.decoder(z_all), problem.x_obs, observed_only=True)
    idx = multinomial_indices(log_w, chains, generator=generator)
    z = z_all.gather(1, idx.unsqueeze(-1).expand(*idx.shape, z_all.shape[-1]))
    x, _ = decode_and_impute(problem, z, generator=generator)
    info = ImportanceResamplingInfo(proposals=z_all, log_weights=log_w, ess=effective_sample_size(log_w))
    return ImportanceResamplingState(x=x, z=z), info

