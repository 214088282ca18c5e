"""The sampling problem, shared mechanics and the one driver loop, :func:`run`.

A sampler is a module exporting a frozen ``Config`` dataclass, a ``State`` and an ``Info``
NamedTuple, and two pure functions::

    init(problem, start, config, *, generator) -> State
    step(problem, state, config, *, generator) -> (State, Info)

``start`` is a :class:`Start`: completed data ``x`` (B, K, D) (observed entries equal
``problem.x_obs``), a matching latent ``z`` (B, K, L) and ``history`` (H, B, K, D), the last
warm-up iteration's imputations of each chain (AC-MWG seeds its history with them). Steps never
mutate their inputs, never log and never loop over iterations or data points: :func:`run` owns
the loop, storage, initialisation, warm-up hand-over and the progress bar. Every state has the
fields ``x`` (B, K, D) and ``z`` (B, K, L).

``generator`` is a :data:`vaeinfer.random.RandomSource`: a ``torch.Generator`` or per-point
:class:`vaeinfer.random.PointStreams`. Every draw has the data point on its leading axis, so with
point streams a point's result does not depend on which other points share its batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor
from tqdm.auto import tqdm

from vaeinfer import random as vrandom
from vaeinfer.models.likelihood import per_feature_log_prob
from vaeinfer.types import VAE

__all__ = [
    "Initialisation",
    "Problem",
    "SamplerSpec",
    "Start",
    "Trace",
    "Warmup",
    "check_options",
    "complete",
    "decode_and_impute",
    "initial_imputation",
    "log_likelihood",
    "make_problem",
    "run",
    "sgd_map_initialisation",
]


class Problem(NamedTuple):
    """A conditional-sampling task p(x_m, z | x_o), fixed across iterations.

    Attributes:
        model: the VAE (see :class:`vaeinfer.types.VAE`).
        x_obs: (B, 1, D) data with missing entries set to 0 (their values are never read).
        observed_mask: (B, 1, D) bool, True where observed.
    """

    model: VAE
    x_obs: Tensor
    observed_mask: Tensor


def make_problem(model: VAE, x: Tensor, observed_mask: Tensor) -> Problem:
    """Validate ``x`` (B, D) and ``observed_mask`` (B, D) and build a :class:`Problem`.

    Missing entries of ``x`` may hold anything, NaN included; observed entries must be finite.
    """
    if not isinstance(x, Tensor) or not isinstance(observed_mask, Tensor):
        raise TypeError("x and observed_mask must be torch tensors")
    if x.ndim != 2:
        raise ValueError(f"x must have shape (num_points, num_features), got {tuple(x.shape)}")
    if observed_mask.shape != x.shape:
        raise ValueError(
            f"observed_mask shape {tuple(observed_mask.shape)} differs from x shape {tuple(x.shape)}"
        )
    if observed_mask.dtype != torch.bool:
        raise TypeError(f"observed_mask must be a bool tensor (True = observed), got {observed_mask.dtype}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    bad = observed_mask & ~torch.isfinite(x)
    if bool(bad.any()):
        rows = torch.nonzero(bad.any(1)).flatten().tolist()[:5]
        raise ValueError(
            f"x has NaN or infinite values at observed entries (rows {rows}); mark them missing "
            "in observed_mask or fix the data"
        )
    none_missing = ~(~observed_mask).any(1)
    if bool(none_missing.any()):
        rows = torch.nonzero(none_missing).flatten().tolist()[:5]
        raise ValueError(f"rows {rows} have nothing missing: there is nothing to sample; drop them")
    none_observed = ~observed_mask.any(1)
    if bool(none_observed.any()):
        rows = torch.nonzero(none_observed).flatten().tolist()[:5]
        raise ValueError(
            f"rows {rows} have nothing observed: their conditional is the VAE's marginal, so "
            "conditional sampling is meaningless; drop them (as the paper does) or draw from the "
            "model directly"
        )
    x_obs = torch.where(observed_mask, x, torch.zeros_like(x))
    return Problem(model, x_obs.unsqueeze(1), observed_mask.unsqueeze(1))


def complete(problem: Problem, x_new: Tensor) -> Tensor:
    """Observed entries from the data, missing entries from ``x_new`` (B, K, D)."""
    return torch.where(problem.observed_mask, problem.x_obs, x_new)


def log_likelihood(problem: Problem, decoder_dist: Any, x: Tensor, *, observed_only: bool) -> Tensor:
    """``log p(x_o | z)`` (``observed_only``) or ``log p(x_o, x_m | z)``, summed over features."""
    lp = per_feature_log_prob(decoder_dist, x)
    if observed_only:
        lp = torch.where(problem.observed_mask, lp, 0.0)
    return lp.sum(-1)


def decode_and_impute(problem: Problem, z: Tensor, *, generator: vrandom.RandomSource) -> tuple[Tensor, Any]:
    """Draw x ~ p(x | z), keep the observed entries; returns the completed x and p(x | z)."""
    dec = problem.model.decoder(z)
    x = vrandom.draw(dec, generator=generator)
    if x.requires_grad:  # called outside torch.no_grad (e.g. directly by a user)
        return complete(problem, x), dec
    return torch.where(problem.observed_mask, problem.x_obs, x, out=x), dec  # fresh tensor: in place


def initial_imputation(
    problem: Problem, num_chains: int, *, generator: vrandom.RandomSource
) -> tuple[Tensor, Tensor]:
    """The paper's ``vae_samples`` start: z ~ p(z), x ~ p(x | z), observed entries kept."""
    batch = problem.x_obs.shape[0]
    z = vrandom.draw(problem.model.prior(), generator=generator, sample_shape=(batch, num_chains))
    x, _ = decode_and_impute(problem, z, generator=generator)
    return x, z


@dataclass(frozen=True, kw_only=True)
class Initialisation:
    """How the chains' first imputation is made (the paper's ``imputation_fn``).

    Attributes:
        method: ``"vae_samples"`` (z ~ p(z), x ~ p(x | z); all main runs of the paper) or
            ``"sgd_map"``: per chain, ``num_particles`` prior draws of z are moved uphill on
            log p(z) + log p(x_o | z) by plain gradient ascent for ``num_steps`` steps with a
            cosine-annealed step size from ``learning_rate`` to ``final_learning_rate``; the best
            particle z* starts the chain with x_m ~ p(x_m | z*) (seed000 §1.8c: 5, 120, 1e-4, 1e-6).
    """

    method: Literal["vae_samples", "sgd_map"] = "vae_samples"
    num_particles: int = 5
    num_steps: int = 120
    learning_rate: float = 1e-4
    final_learning_rate: float = 1e-6

    def __post_init__(self) -> None:
        if self.num_particles < 1 or self.num_steps < 0:
            raise ValueError("initialisation needs num_particles >= 1 and num_steps >= 0")
        if not 0 <= self.final_learning_rate <= self.learning_rate:
            raise ValueError("initialisation needs 0 <= final_learning_rate <= learning_rate")


def sgd_map_initialisation(
    problem: Problem, num_chains: int, config: Initialisation, *, generator: vrandom.RandomSource
) -> tuple[Tensor, Tensor]:
    """Approximate MAP starts of z under p(z | x_o) by gradient ascent (see :class:`Initialisation`).

    All B x K x P particles move together in one batched ascent. A step that leaves the prior's
    support (log p(z) = -inf, e.g. a bounded prior) is not taken for that particle.
    """
    model = problem.model
    prior = model.prior()
    batch, particles = problem.x_obs.shape[0], config.num_particles
    z = vrandom.draw(prior, generator=generator, sample_shape=(batch, num_chains * particles))

    def objective(latent: Tensor) -> Tensor:
        lik = log_likelihood(problem, model.decoder(latent), problem.x_obs, observed_only=True)
        return prior.log_prob(latent) + lik

    with torch.enable_grad():
        for t in range(config.num_steps):
            lr = config.final_learning_rate + 0.5 * (config.learning_rate - config.final_learning_rate) * (
                1 + math.cos(math.pi * t / config.num_steps)
            )
            z_leaf = z.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(objective(z_leaf).sum(), z_leaf)
            moved = z + lr * torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
            inside = torch.isfinite(prior.log_prob(moved)).unsqueeze(-1)
            z = torch.where(inside, moved, z).detach()
    score = objective(z).nan_to_num(nan=-math.inf).reshape(batch, num_chains, particles)
    best = score.argmax(-1)  # (B, K)
    z = z.reshape(batch, num_chains, particles, -1)
    z = z.gather(2, best[..., None, None].expand(batch, num_chains, 1, z.shape[-1]))[:, :, 0]
    x, _ = decode_and_impute(problem, z, generator=generator)
    return x, z


class Start(NamedTuple):
    """Where a sampler starts (see the module docstring).

    Attributes:
        x: (B, K, D) completed data.
        z: (B, K, L) a latent matching ``x`` (the one that generated it).
        history: (H, B, K, D) the last warm-up iteration's imputations per chain, oldest first
            (``x[None]`` without a multi-particle warm-up).
    """

    x: Tensor
    z: Tensor
    history: Tensor


@dataclass(frozen=True)
class SamplerSpec:
    """A registry entry: the sampler's config class and pure functions.

    Attributes:
        name: the registry name.
        config_cls: frozen dataclass of options.
        init: ``init(problem, start, config, *, generator) -> State``.
        step: ``step(problem, state, config, *, generator) -> (State, Info)``.
        finalize: optional ``finalize(problem, trace, config, *, generator) -> dict`` of extra
            outputs computed from the whole run (final resampling of LAIR and importance resampling).
        exact: whether the sampler targets p(x_m | x_o) exactly (asymptotically).
        check: optional ``check(config, num_particles, particles_per_chain)`` raising ValueError
            for option values that are invalid with ``num_particles`` chains/particles, of which
            ``particles_per_chain`` belong to each chain (a multi-particle warm-up).
    """

    name: str
    config_cls: type
    init: Callable[..., Any]
    step: Callable[..., tuple[Any, Any]]
    finalize: Callable[..., dict[str, Tensor]] | None = None
    exact: bool = True
    check: Callable[[Any, int, int], None] | None = None


@dataclass(frozen=True)
class Warmup:
    """Iterations of another sampler run before the main one, whose final state starts it.

    With ``particles_per_chain = P > 1`` the warm-up runs K * P particles: particle ``a * K + g``
    belongs to chain g, so each warm-up iteration emits P stored draws of shape (B, K, D) (the
    paper's LAIR warm-up: P = 4 particles plus one prior component per chain, i.e. K independent
    grouped LAIR samplers; configure LAIR with ``resampling="grouped"`` and K groups). The chain
    then starts from one of its own particles (``chain_init="own_group"``), and all P particles of
    the last iteration seed AC-MWG's history. ``chain_init="authors_q1"`` reproduces the authors'
    index bookkeeping (seed000 §1.8b, quirk Q1): chain g starts from flat particle ``g mod P``, so
    with K = 5, P = 4 chains 0 and 4 share a start and group 4's particles start no chain.

    Attributes:
        spec: the warm-up sampler.
        config: its options.
        num_iterations: warm-up iterations T_w.
        particles_per_chain: P.
        chain_init: ``"own_group"`` or ``"authors_q1"``.
    """

    spec: SamplerSpec
    config: Any
    num_iterations: int
    particles_per_chain: int = 1
    chain_init: Literal["own_group", "authors_q1"] = "own_group"

    def __post_init__(self) -> None:
        if self.num_iterations < 0 or self.particles_per_chain < 1:
            raise ValueError("warm-up needs num_iterations >= 0 and particles_per_chain >= 1")
        if self.chain_init not in ("own_group", "authors_q1"):
            raise ValueError(f"warm-up chain_init must be 'own_group' or 'authors_q1', got {self.chain_init!r}")


class Trace(NamedTuple):
    """Everything :func:`run` stores, on the CPU.

    Attributes:
        x: (S, B, K, D) completed data; entry 0 is the initial imputation, then one entry per
            stored iteration (P per warm-up iteration, warm-up first).
        z: (S, B, K, L) latents matching ``x``.
        info: main-phase per-iteration diagnostics, each stacked on a leading iteration axis.
        num_warmup: how many of the stored entries after entry 0 come from the warm-up.
        extra: outputs of the sampler's ``finalize`` (final-resampled draws).
    """

    x: Tensor
    z: Tensor
    info: dict[str, Tensor]
    num_warmup: int
    extra: dict[str, Tensor]


def check_options(spec: SamplerSpec, config: Any, num_chains: int, warmup: Warmup | None = None) -> None:
    """Raise ValueError for sampler or warm-up options that do not fit ``num_chains`` chains."""
    if spec.check is not None:
        spec.check(config, num_chains, 1)
    if warmup is not None and warmup.spec.check is not None:
        particles = warmup.particles_per_chain
        warmup.spec.check(warmup.config, num_chains * particles, particles)


def _emissions(t: Tensor, particles: int) -> Tensor:
    """(B, P * K, ...) particles -> (P, B, K, ...): emission a of chain g is particle a * K + g."""
    batch, n = t.shape[:2]
    return t.reshape(batch, particles, n // particles, *t.shape[2:]).transpose(0, 1)


def _hand_over(x: Tensor, z: Tensor, warmup: Warmup, num_chains: int) -> Start:
    particles = warmup.particles_per_chain
    xs, zs = _emissions(x, particles), _emissions(z, particles)
    if warmup.chain_init == "own_group":
        return Start(x=xs[0], z=zs[0], history=xs)
    flat = torch.arange(num_chains, device=x.device) % particles
    return Start(x=x[:, flat], z=z[:, flat], history=xs)


def run(
    problem: Problem,
    spec: SamplerSpec,
    config: Any,
    *,
    num_chains: int,
    num_iterations: int,
    generator: vrandom.RandomSource,
    warmup: Warmup | None = None,
    initialisation: Initialisation | None = None,
    keep_info: tuple[str, ...] | None = None,
    store: Literal["all", "last"] = "all",
    progress: bool = False,
) -> Trace:
    """Run ``spec`` for ``num_iterations`` (after an optional warm-up) and store its iterates.

    Args:
        problem: the conditional-sampling task.
        spec: the sampler (see :data:`vaeinfer.samplers.SAMPLERS`).
        config: an instance of ``spec.config_cls``.
        num_chains: K, chains (MCMC) or particles (LAIR) per data point.
        num_iterations: main-phase iterations T.
        generator: the only source of randomness.
        warmup: optional warm-up phase whose final state starts the main sampler.
        initialisation: how the first imputation is made (default: ``vae_samples``).
        keep_info: names of info fields to store (default: all).
        store: ``"all"`` keeps the initial imputation and every iterate (warm-up included);
            ``"last"`` keeps only the final state (one entry), for experiments scored on the last
            iterate (memory O(B K D) instead of O(T B K D)). Diagnostics and the inputs of a
            final resampling are kept either way.
        progress: show a progress bar.
    """
    if num_chains < 1 or num_iterations < 0:
        raise ValueError("num_chains must be >= 1 and num_iterations >= 0")
    if store not in ("all", "last"):
        raise ValueError(f"store must be 'all' or 'last', got {store!r}")
    keep_all = store == "all"
    initialisation = initialisation or Initialisation()
    particles = warmup.particles_per_chain if warmup is not None else 1
    check_options(spec, config, num_chains, warmup)
    model = problem.model
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    total = num_iterations + (warmup.num_iterations if warmup else 0)
    bar = tqdm(total=total, desc=spec.name, disable=not progress, mininterval=1.0)
    try:
        with torch.no_grad():
            if initialisation.method == "sgd_map":
                x, z = sgd_map_initialisation(problem, num_chains * particles, initialisation, generator=generator)
            else:
                x, z = initial_imputation(problem, num_chains * particles, generator=generator)
            xs, zs = [x[:, :num_chains]], [z[:, :num_chains]]
            start = Start(x=xs[0], z=zs[0], history=xs[0][None])
            if warmup is not None and warmup.num_iterations > 0:
                state = warmup.spec.init(problem, Start(x, z, x[None]), warmup.config, generator=generator)
                for _ in range(warmup.num_iterations):
                    state, _ = warmup.spec.step(problem, state, warmup.config, generator=generator)
                    if keep_all:
                        xs.extend(_emissions(state.x, particles).unbind(0))
                        zs.extend(_emissions(state.z, particles).unbind(0))
                    bar.update()
                start = _hand_over(state.x, state.z, warmup, num_chains)
            state = spec.init(problem, start, config, generator=generator)
            infos: dict[str, list[Tensor]] = {}
            last = start
            for _ in range(num_iterations):
                state, info = spec.step(problem, state, config, generator=generator)
                if keep_all:
                    xs.append(state.x)
                    zs.append(state.z)
                else:
                    last = state
                for name, value in info._asdict().items():
                    if keep_info is None or name in keep_info:
                        infos.setdefault(name, []).append(value)
                bar.update()
            if not keep_all:
                xs, zs = [last.x], [last.z]
            trace = Trace(
                x=torch.stack(xs).cpu(),
                z=torch.stack(zs).cpu(),
                info={k: torch.stack(v).cpu() for k, v in infos.items()},
                num_warmup=len(xs) - 1 - num_iterations if keep_all else 0,
                extra={},
            )
            if spec.finalize is not None:
                trace = trace._replace(extra=spec.finalize(problem, trace, config, generator=generator))
    finally:
        bar.close()
        if was_training:
            model.train()
    return trace


def log_mixture_weight(probability: float) -> float:
    """log of a mixture weight, with log 0 = -inf (for logsumexp of mixture densities)."""
    return math.log(probability) if probability > 0 else -math.inf
