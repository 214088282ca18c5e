"""The sampling problem, shared mechanics and the one driver loop, :func:`run`.

A sampler is a module exporting a frozen ``Config`` dataclass, a ``State`` and an ``Info``
NamedTuple, and two pure functions::

    init(problem, x, config, *, generator, z=None) -> State
    step(problem, state, config, *, generator) -> (State, Info)

``x`` (B, K, D) is a completed starting point (observed entries equal ``problem.x_obs``) and ``z``
an optional matching latent. Steps never mutate their inputs, never log and never loop over
iterations: :func:`run` owns the loop, storage, warm-up hand-over and the progress bar.
Every state has the fields ``x`` (B, K, D) and ``z`` (B, K, L).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor
from tqdm.auto import tqdm

from vaeinfer import random as vrandom
from vaeinfer.models.likelihood import per_feature_log_prob
from vaeinfer.types import VAE

__all__ = [
    "Problem",
    "SamplerSpec",
    "Trace",
    "Warmup",
    "complete",
    "decode_and_impute",
    "initial_imputation",
    "log_likelihood",
    "make_problem",
    "run",
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
    x_obs = torch.where(observed_mask, x, torch.zeros_like(x))
    return Problem(model, x_obs.unsqueeze(1), observed_mask.unsqueeze(1))


def complete(problem: Problem, x_new: Tensor) -> Tensor:
    """Observed entries from the data, missing entries from ``x_new`` (B, K, D)."""
    return torch.where(problem.observed_mask, problem.x_obs, x_new)


def log_likelihood(problem: Problem, decoder_dist: Any, x: Tensor, *, observed_only: bool) -> Tensor:
    """``log p(x_o | z)`` (``observed_only``) or ``log p(x_o, x_m | z)``, summed over features."""
    lp = per_feature_log_prob(decoder_dist, x)
    if observed_only:
        lp = torch.where(problem.observed_mask, lp, torch.zeros_like(lp))
    return lp.sum(-1)


def decode_and_impute(problem: Problem, z: Tensor, *, generator: torch.Generator) -> tuple[Tensor, Any]:
    """Draw x ~ p(x | z), keep the observed entries; returns the completed x and p(x | z)."""
    dec = problem.model.decoder(z)
    return complete(problem, vrandom.draw(dec, generator=generator)), dec


def initial_imputation(
    problem: Problem, num_chains: int, *, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """The paper's ``vae_samples`` start: z ~ p(z), x ~ p(x | z), observed entries kept."""
    batch = problem.x_obs.shape[0]
    z = vrandom.draw(problem.model.prior(), generator=generator, sample_shape=(batch, num_chains))
    x, _ = decode_and_impute(problem, z, generator=generator)
    return x, z


@dataclass(frozen=True)
class SamplerSpec:
    """A registry entry: the sampler's config class and pure functions.

    Attributes:
        config_cls: frozen dataclass of options.
        init: ``init(problem, x, config, *, generator, z=None) -> State``.
        step: ``step(problem, state, config, *, generator) -> (State, Info)``.
        finalize: optional ``finalize(problem, trace, config, *, generator) -> dict`` of extra
            outputs computed from the whole run (LAIR's final resampling).
        exact: whether the sampler targets p(x_m | x_o) exactly (asymptotically).
    """

    name: str
    config_cls: type
    init: Callable[..., Any]
    step: Callable[..., tuple[Any, Any]]
    finalize: Callable[..., dict[str, Tensor]] | None = None
    exact: bool = True


@dataclass(frozen=True)
class Warmup:
    """Iterations of another sampler run before the main one; its last x (and z) start it."""

    spec: SamplerSpec
    config: Any
    num_iterations: int


class Trace(NamedTuple):
    """Everything :func:`run` stores, on the CPU.

    Attributes:
        x: (S, B, K, D) completed data; entry 0 is the initial imputation, then one entry per
            stored iteration (warm-up iterations first).
        z: (S, B, K, L) latents matching ``x``.
        info: main-phase per-iteration diagnostics, each stacked on a leading iteration axis.
        num_warmup: how many of the stored entries after entry 0 come from the warm-up.
        extra: outputs of the sampler's ``finalize`` (for LAIR, final-resampled draws).
    """

    x: Tensor
    z: Tensor
    info: dict[str, Tensor]
    num_warmup: int
    extra: dict[str, Tensor]


def run(
    problem: Problem,
    spec: SamplerSpec,
    config: Any,
    *,
    num_chains: int,
    num_iterations: int,
    generator: torch.Generator,
    warmup: Warmup | None = None,
    keep_info: tuple[str, ...] | None = None,
    progress: bool = False,
) -> Trace:
    """Run ``spec`` for ``num_iterations`` (after an optional warm-up) and store every iteration.

    Args:
        problem: the conditional-sampling task.
        spec: the sampler (see :data:`vaeinfer.samplers.SAMPLERS`).
        config: an instance of ``spec.config_cls``.
        num_chains: K, chains (MCMC) or particles (LAIR) per data point.
        num_iterations: main-phase iterations T.
        generator: the only source of randomness.
        warmup: optional warm-up phase whose final state starts the main sampler.
        keep_info: names of info fields to store (default: all).
        progress: show a progress bar.
    """
    if num_chains < 1 or num_iterations < 0:
        raise ValueError("num_chains must be >= 1 and num_iterations >= 0")
    model = problem.model
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    total = num_iterations + (warmup.num_iterations if warmup else 0)
    bar = tqdm(total=total, desc=spec.name, disable=not progress, mininterval=1.0)
    try:
        with torch.no_grad():
            x, z = initial_imputation(problem, num_chains, generator=generator)
            xs, zs = [x], [z]
            if warmup is not None and warmup.num_iterations > 0:
                state = warmup.spec.init(problem, x, warmup.config, generator=generator, z=z)
                for _ in range(warmup.num_iterations):
                    state, _ = warmup.spec.step(problem, state, warmup.config, generator=generator)
                    xs.append(state.x)
                    zs.append(state.z)
                    bar.update()
                x, z = state.x, state.z
            state = spec.init(problem, x, config, generator=generator, z=z)
            infos: dict[str, list[Tensor]] = {}
            for _ in range(num_iterations):
                state, info = spec.step(problem, state, config, generator=generator)
                xs.append(state.x)
                zs.append(state.z)
                for name, value in info._asdict().items():
                    if keep_info is None or name in keep_info:
                        infos.setdefault(name, []).append(value)
                bar.update()
            trace = Trace(
                x=torch.stack(xs).cpu(),
                z=torch.stack(zs).cpu(),
                info={k: torch.stack(v).cpu() for k, v in infos.items()},
                num_warmup=warmup.num_iterations if warmup else 0,
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
