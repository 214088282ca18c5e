"""One-call conditional sampling of a user's VAE.

Example::

    import torch, vaeinfer
    g = torch.Generator().manual_seed(0)
    ds = vaeinfer.sample(my_vae, x, observed_mask, sampler="lair", num_chains=19,
                         num_iterations=500, generator=g, num_prior_components=1,
                         num_final_samples=1000)
    ds["resampled_imputations"]   # (resample, point, feature)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import xarray as xr

from vaeinfer import samplers
from vaeinfer.config import ConfigError, from_dict
from vaeinfer.results.io import trace_to_dataset
from vaeinfer.types import VAE

__all__ = ["build_initialisation", "build_warmup", "sample"]

_WARMUP_KEYS = ("particles_per_chain", "chain_init")


def build_warmup(warmup: Mapping[str, Any] | None) -> samplers.Warmup | None:
    """A :class:`~vaeinfer.samplers.Warmup` from a mapping.

    Keys: ``sampler`` and ``num_iterations`` (required), optional ``particles_per_chain`` and
    ``chain_init`` (see :class:`~vaeinfer.samplers.Warmup`), and the warm-up sampler's options.
    """
    if not warmup:
        return None
    options = dict(warmup)
    try:
        name = options.pop("sampler")
        num_iterations = options.pop("num_iterations")
    except KeyError as err:
        raise ConfigError(f"warmup needs the key {err.args[0]!r}") from None
    if not isinstance(num_iterations, int) or num_iterations < 0:
        raise ConfigError(f"warmup.num_iterations must be a non-negative integer, got {num_iterations!r}")
    spec = samplers.get(name)
    handover = {key: options.pop(key) for key in _WARMUP_KEYS if key in options}
    config = from_dict(spec.config_cls, options, where=f"warmup ({name}) options")
    particles = handover.get("particles_per_chain", 1)
    if isinstance(particles, bool) or not isinstance(particles, int) or particles < 1:
        raise ConfigError(f"warmup.particles_per_chain must be a positive integer, got {particles!r}")
    chain_init = handover.get("chain_init", "own_group")
    if chain_init not in ("own_group", "authors_q1"):
        raise ConfigError(f"warmup.chain_init must be 'own_group' or 'authors_q1', got {chain_init!r}")
    return samplers.Warmup(spec, config, num_iterations, particles_per_chain=particles, chain_init=chain_init)


def build_initialisation(initialisation: Mapping[str, Any] | None) -> samplers.Initialisation:
    """A :class:`~vaeinfer.samplers.Initialisation` from a mapping such as ``{"method": "sgd_map"}``."""
    return from_dict(samplers.Initialisation, initialisation or {}, where="initialisation")


def sample(
    model: VAE,
    x: torch.Tensor,
    observed_mask: torch.Tensor,
    sampler: str = "lair",
    *,
    num_iterations: int,
    num_chains: int = 1,
    generator: torch.Generator,
    warmup: Mapping[str, Any] | None = None,
    initialisation: Mapping[str, Any] | None = None,
    store: str = "all",
    progress: bool = False,
    **options: Any,
) -> xr.Dataset:
    """Draw imputations of the missing entries of ``x`` from the VAE's conditional p(x_m | x_o).

    Args:
        model: any object implementing :class:`vaeinfer.types.VAE` (prior, encoder, decoder
            returning torch distributions).
        x: (B, D) data; missing entries may hold NaN.
        observed_mask: (B, D) bool, True where observed.
        sampler: a name in :data:`vaeinfer.samplers.SAMPLERS`.
        num_iterations: iterations T after the warm-up.
        num_chains: chains (MCMC) or particles (LAIR) K per data point.
        generator: the source of all randomness (on the model's device).
        warmup: optional ``{"sampler": name, "num_iterations": n, **options}`` run first, e.g.
            the paper's LAIR warm-up of MWG' and AC-MWG' for K chains: ``{"sampler": "lair",
            "num_iterations": 100, "particles_per_chain": 4, "num_prior_components": K,
            "resampling": "grouped", "group_size": 5, "weighting": "dmis_within_groups"}``.
        initialisation: how chains start: ``{"method": "vae_samples"}`` (default) or
            ``{"method": "sgd_map", "num_particles": 5, "num_steps": 120, ...}``.
        store: ``"all"`` (every iterate, entry 0 the initial imputation) or ``"last"`` (only the
            final iterate: the ``draw`` axis has length 1).
        progress: show a progress bar.
        **options: the sampler's options (fields of its config class), e.g.
            ``prior_mixture_probability=0.01`` for AC-MWG.

    Returns:
        An xarray Dataset with ``imputations`` (draw, point, chain, feature), ``latents``, the
        sampler's diagnostics on the ``iteration`` axis, and for LAIR with final resampling
        ``resampled_imputations`` (resample, point, feature). See :func:`trace_to_dataset`.

    Raises:
        ValueError: unknown sampler or option, bad shapes, NaN at observed entries, rows with
            nothing missing.
    """
    spec = samplers.get(sampler)
    config = from_dict(spec.config_cls, options, where=f"{sampler} options")
    problem = samplers.make_problem(model, x, observed_mask)
    trace = samplers.run(
        problem,
        spec,
        config,
        num_chains=num_chains,
        num_iterations=num_iterations,
        generator=generator,
        warmup=build_warmup(warmup),
        initialisation=build_initialisation(initialisation),
        store=store,
        progress=progress,
    )
    return trace_to_dataset(trace, observed_mask=observed_mask, sampler=sampler, config=config)
