r"""Latent-adaptive importance resampling (LAIR; Simkus & Gutmann 2023).

Target: :math:`p(z \mid x_o) \propto p(x_o \mid z)\, p(z)`; imputations follow from
:math:`x_m \sim p(x_m \mid z)`. The state is K particles (completed data) per data point.
One iteration:

1. builds the proposal mixture of K encoder components :math:`q_k(z) = q(z \mid x_o, x_m^{(k)})`,
   one per particle, and R prior components, all with equal weight, so the prior weight is
   :math:`\varepsilon = R / (K + R)`;
2. draws I latents from *each* component (stratified), :math:`N = I (K + R)` proposals, laid out
   as ``j = i (K + R) + c`` for component c (encoder components first);
3. weights them (``weighting``):

   * ``"dmis"`` (deterministic-mixture MIS, the paper's default)

     .. math:: \log w_j = \log p(x_o \mid z_j) + \log p(z_j)
                          - \log \tfrac{1}{K+R} \Big[\textstyle\sum_k q_k(z_j) + R\, p(z_j)\Big];

   * ``"dmis_within_groups"``: the denominator averages only the components of z_j's
     resampling group (counted once per proposal of the group);
   * ``"smis"``: the denominator is z_j's own component;

4. resamples K latents (``resampling``):

   * ``"global"``: from all N proposals;
   * ``"grouped"`` with ``group_size`` c: proposal j belongs to group ``j mod (N / c)``; each group
     draws c indices among its own proposals, output a of group g goes to slot ``a (N/c) + g``, and
     the first K slots are kept (independent sub-populations; the paper's ``glr``);
   * ``"local"``: each component resamples among its own I proposals (groups of size I);

   by i.i.d. multinomial draws or systematic resampling (``resampling_method``; within a group the
   systematic draws are randomly permuted, so truncating to K slots keeps them unbiased);
5. draws a fresh :math:`x_m \sim p(x_m \mid z)` for each particle.

Each iteration's weights are valid importance weights for the same unnormalised target, so the
final resampling (``num_final_samples``) pools the proposals and weights of *all* iterations and
draws i.i.d. from them: asymptotically exact draws of p(x_m | x_o).

Notation: x (B, K, D); z (B, K, L); proposals (B, N, L); log_w (B, N).
References: Simkus & Gutmann (2023), section 1.5 of the spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor

from vaeinfer import random as vrandom
from vaeinfer.samplers._resampling import effective_sample_size, multinomial_indices, systematic_indices
from vaeinfer.samplers.base import Problem, Start, Trace, decode_and_impute, log_likelihood

__all__ = [
    "LAIRConfig", "LAIRInfo", "LAIRState", "check", "final_resample", "finalize", "init", "num_groups",
    "resample", "step",
]


@dataclass(frozen=True, kw_only=True)
class LAIRConfig:
    """Options of LAIR (module docstring for the schemes).

    Attributes:
        num_prior_components: R, prior components added to the K encoder components
            (ε = R / (K + R); the ablations ε = 0 and 0.5 are R = 0 and R = K).
        num_samples_per_component: I, proposals drawn from each component (paper: 1).
        weighting: ``"dmis"``, ``"dmis_within_groups"`` or ``"smis"``.
        resampling: ``"global"``, ``"grouped"`` or ``"local"``.
        group_size: c, proposals per group for ``"grouped"`` (must divide N).
        resampling_method: ``"multinomial"`` or ``"systematic"``.
        num_final_samples: draws of the final resampling over all iterations (0: none).
        final_chunk_size: final draws per data point decoded at once (memory bound).
    """

    num_prior_components: int = 1
    num_samples_per_component: int = 1
    weighting: Literal["dmis", "dmis_within_groups", "smis"] = "dmis"
    resampling: Literal["global", "grouped", "local"] = "global"
    group_size: int | None = None
    resampling_method: Literal["multinomial", "systematic"] = "multinomial"
    num_final_samples: int = 0
    final_chunk_size: int = 4096

    def __post_init__(self) -> None:
        if self.num_prior_components < 0 or self.num_final_samples < 0:
            raise ValueError("num_prior_components and num_final_samples must be >= 0")
        if self.num_samples_per_component < 1 or self.final_chunk_size < 1:
            raise ValueError("num_samples_per_component and final_chunk_size must be >= 1")
        if self.weighting not in ("dmis", "dmis_within_groups", "smis"):
            raise ValueError(f"weighting must be 'dmis', 'dmis_within_groups' or 'smis', got {self.weighting!r}")
        if self.resampling not in ("global", "grouped", "local"):
            raise ValueError(f"resampling must be 'global', 'grouped' or 'local', got {self.resampling!r}")
        if self.resampling_method not in ("multinomial", "systematic"):
            raise ValueError(f"resampling_method must be 'multinomial' or 'systematic', got {self.resampling_method!r}")
        if (self.resampling == "grouped") != (self.group_size is not None):
            raise ValueError("group_size is needed with resampling='grouped' and only then")
        if self.group_size is not None and self.group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {self.group_size}")


def num_groups(config: LAIRConfig, num_particles: int) -> int:
    """G, the number of resampling groups for K = ``num_particles`` particles."""
    components = num_particles + config.num_prior_components
    total = config.num_samples_per_component * components
    if config.resampling == "global":
        return 1
    if config.resampling == "local":
        return components
    return total // config.group_size


def check(config: LAIRConfig, num_particles: int, particles_per_chain: int = 1) -> None:
    """Raise ValueError for options inconsistent with K = ``num_particles``.

    As a warm-up with ``particles_per_chain`` P > 1, each of the K / P chains must own exactly one
    resampling group, so that its P particles evolve as an independent LAIR sampler.
    """
    total = config.num_samples_per_component * (num_particles + config.num_prior_components)
    if config.resampling == "grouped" and total % config.group_size:
        raise ValueError(
            f"LAIR group_size={config.group_size} must divide the number of proposals "
            f"N = I (K + R) = {total}"
        )
    if config.resampling == "grouped" and total // config.group_size > num_particles:
        raise ValueError(
            f"LAIR with {total // config.group_size} groups of {config.group_size} cannot fill "
            f"K = {num_particles} particles with one draw per group: use larger groups"
        )
    chains = num_particles // particles_per_chain
    if particles_per_chain > 1 and (config.resampling != "grouped" or num_groups(config, num_particles) != chains):
        raise ValueError(
            f"a LAIR warm-up with {particles_per_chain} particles per chain for {chains} chains needs "
            f"resampling='grouped' with one group per chain: set num_prior_components={chains} and "
            f"group_size={particles_per_chain + 1} (the paper's warm-up), or any R and c with "
            f"(K P + R) / c = K"
        )


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


def init(problem: Problem, start: Start, config: LAIRConfig, *, generator: vrandom.RandomSource) -> LAIRState:
    """Start from the particles ``start.x`` (B, K, D) and their latents."""
    return LAIRState(x=start.x, z=start.z)


def _draw_proposals(
    problem: Problem, state: LAIRState, enc: Any, config: LAIRConfig, *, generator: vrandom.RandomSource
) -> Tensor:
    """(B, N, L) proposals, I from each component, proposal j = i (K + R) + c."""
    model = problem.model
    batch, num_particles = state.x.shape[:2]
    per, num_prior = config.num_samples_per_component, config.num_prior_components
    if per > 1:  # the encoder at I copies of each particle, so every draw keeps the point axis first
        enc = model.encoder(state.x.repeat(1, per, 1))
    z = vrandom.draw(enc, generator=generator).reshape(batch, per, num_particles, -1)
    if num_prior:
        z_prior = vrandom.draw(model.prior(), generator=generator, sample_shape=(batch, per * num_prior))
        z = torch.cat([z, z_prior.reshape(batch, per, num_prior, -1)], dim=2)
    return z.reshape(batch, per * (num_particles + num_prior), -1)


def _log_denominator(log_q: Tensor, log_prior: Tensor, config: LAIRConfig, num_particles: int) -> Tensor:
    """log of each proposal's importance density (B, N) from log q_k(z_j) (B, N, K), log p(z_j)."""
    n = log_q.shape[1]
    components = num_particles + config.num_prior_components
    comp = torch.arange(n, device=log_q.device) % components  # component of each proposal
    if config.weighting == "smis":
        own = log_q.gather(2, comp.clamp(max=num_particles - 1).expand(log_q.shape[0], n)[..., None])[..., 0]
        return torch.where(comp < num_particles, own, log_prior)
    groups = 1 if config.weighting == "dmis" else num_groups(config, num_particles)
    group = torch.arange(n, device=log_q.device) % groups
    # counts[g, c]: proposals of group g drawn from component c (all prior components pooled in c = K).
    column = comp.clamp(max=num_particles)
    counts = torch.zeros(groups, num_particles + 1, device=log_q.device, dtype=log_q.dtype)
    counts.index_put_((group, column), torch.ones_like(comp, dtype=log_q.dtype), accumulate=True)
    log_mix = (counts / counts.sum(1, keepdim=True)).log()[group]  # (N, K + 1) mixture weights of j's group
    dens = torch.cat([log_q, log_prior.unsqueeze(-1)], dim=-1)  # (B, N, K + 1)
    return torch.logsumexp(dens + log_mix, dim=-1)


def _proposals_and_log_weights(
    problem: Problem, state: LAIRState, config: LAIRConfig, *, generator: vrandom.RandomSource
) -> tuple[Tensor, Tensor]:
    model = problem.model
    prior = model.prior()
    num_particles = state.x.shape[1]
    enc = model.encoder(state.x)  # components q_k, batch (B, K)
    z = _draw_proposals(problem, state, enc, config, generator=generator)  # (B, N, L)
    # log q_k(z_j) for every proposal j and component k: (N, B, 1, L) against batch (B, K).
    log_q = enc.log_prob(z.transpose(0, 1).unsqueeze(2)).permute(1, 0, 2)  # (B, N, K)
    log_prior = prior.log_prob(z)  # (B, N)
    log_lik = log_likelihood(problem, model.decoder(z), problem.x_obs, observed_only=True)
    return z, log_lik + log_prior - _log_denominator(log_q, log_prior, config, num_particles)


def resample(log_weights: Tensor, num_keep: int, config: LAIRConfig, num_particles: int, *,
             generator: vrandom.RandomSource) -> Tensor:
    """(B, ``num_keep``) indices into the N proposals, by ``config``'s resampling scheme."""
    if config.resampling == "global":
        return _indices(log_weights, num_keep, config.resampling_method, generator=generator)
    batch, n = log_weights.shape
    groups = num_groups(config, num_particles)
    size = n // groups
    local = log_weights.reshape(batch, size, groups).transpose(1, 2)  # (B, G, c): j = a G + g
    picked = _indices(local, size, config.resampling_method, generator=generator)  # (B, G, c)
    if config.resampling_method == "systematic":  # random order within each group
        order = vrandom.uniform(tuple(picked.shape), generator=generator, like=log_weights).argsort(-1)
        picked = picked.gather(-1, order)
    g = torch.arange(groups, device=log_weights.device)
    flat = (picked * groups + g[:, None]).transpose(1, 2).reshape(batch, n)  # slot a G + g
    return flat[:, :num_keep]


def _indices(log_weights: Tensor, num: int, method: str, *, generator: vrandom.RandomSource) -> Tensor:
    if method == "multinomial":
        return multinomial_indices(log_weights, num, generator=generator)
    return systematic_indices(log_weights, num, generator=generator)


def step(
    problem: Problem, state: LAIRState, config: LAIRConfig, *, generator: vrandom.RandomSource
) -> tuple[LAIRState, LAIRInfo]:
    """Propose from the mixture, weight, resample K latents, impute x_m."""
    num_particles = state.x.shape[1]
    z_all, log_w = _proposals_and_log_weights(problem, state, config, generator=generator)
    idx = resample(log_w, num_particles, config, num_particles, generator=generator)  # (B, K)
    z = z_all.gather(1, idx.unsqueeze(-1).expand(*idx.shape, z_all.shape[-1]))
    x, _ = decode_and_impute(problem, z, generator=generator)
    return LAIRState(x=x, z=z), LAIRInfo(proposals=z_all, log_weights=log_w, ess=effective_sample_size(log_w))


def final_resample(
    problem: Problem,
    proposals: Tensor,
    log_weights: Tensor,
    num_samples: int,
    *,
    generator: vrandom.RandomSource,
    chunk_size: int = 4096,
) -> tuple[Tensor, Tensor]:
    """Resample ``num_samples`` latents per data point from the pooled weighted proposals.

    Args:
        proposals: (T, B, N, L) all iterations' proposals.
        log_weights: (T, B, N) their log-weights.
        chunk_size: draws per data point decoded at once.

    Returns:
        x (B, M, D) completed imputations and z (B, M, L), M = ``num_samples``.
    """
    steps, batch, n, latent = proposals.shape
    device = problem.x_obs.device
    pooled_z = proposals.permute(1, 0, 2, 3).reshape(batch, steps * n, latent)
    pooled_w = log_weights.permute(1, 0, 2).reshape(batch, steps * n)
    idx = multinomial_indices(pooled_w.to(device), num_samples, generator=generator)
    z = pooled_z.to(device).gather(1, idx.unsqueeze(-1).expand(batch, num_samples, latent))
    xs = [decode_and_impute(problem, z[:, start : start + chunk_size], generator=generator)[0]
          for start in range(0, num_samples, chunk_size)]
    return torch.cat(xs, dim=1), z


def finalize(problem: Problem, trace: Trace, config: Any, *, generator: vrandom.RandomSource) -> dict[str, Tensor]:
    """The run's final resampling, when ``config.num_final_samples > 0``."""
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
