"""What every experiment of the primary paper shares: a configured sampler run, its validation,
its grid rows, and running it on a set of incomplete test points with per-point random streams.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import xarray as xr

from vaeinfer import random as vrandom
from vaeinfer import samplers
from vaeinfer.api import build_initialisation, build_warmup, sample
from vaeinfer.config import ConfigError, from_dict
from vaeinfer.samplers.base import check_options

__all__ = ["RunConfig", "parse_run", "points_tensors", "row_names", "run_on_points"]


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """One row of an experiment: a registered sampler with its budget and options.

    Attributes:
        sampler: name in :data:`vaeinfer.samplers.SAMPLERS`.
        num_chains: K.
        num_iterations: main-phase iterations T.
        warmup: optional ``{"sampler", "num_iterations", **options}`` (see
            :func:`vaeinfer.api.build_warmup`).
        initialisation: optional ``{"method": "sgd_map", ...}`` (see
            :class:`vaeinfer.samplers.Initialisation`).
        options: the sampler's own options.
    """

    sampler: str
    num_chains: int = 1
    num_iterations: int = 1000
    warmup: dict[str, Any] | None = None
    initialisation: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)


def parse_run(name: str, raw: dict[str, Any], experiment: str = "toy_pitfalls") -> RunConfig:
    """Validate one configured run (clear errors for unknown samplers and options)."""
    where = f"experiments.{experiment}.samplers.{name}"
    run = from_dict(RunConfig, raw, where=where)
    spec = samplers.get(run.sampler)
    config = from_dict(spec.config_cls, run.options, where=f"{where}.options")
    warmup = build_warmup(run.warmup)
    build_initialisation(run.initialisation)
    try:
        check_options(spec, config, run.num_chains, warmup)
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from None
    return run


def row_names(name: str, run: RunConfig) -> list[str]:
    """The grid rows of one run: ``name``, plus ``<name>_iterates`` for final-resampled LAIR."""
    if run.sampler == "lair" and run.options.get("num_final_samples", 0) > 0:
        return [name, f"{name}_iterates"]
    return [name]


def points_tensors(points: xr.Dataset, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` (B, D) float32 (NaN where missing) and the bool observed mask of a points file."""
    x = torch.as_tensor(points["x"].values, dtype=torch.float32, device=device)
    mask = torch.as_tensor(points["observed_mask"].values.astype(bool), device=device)
    return x, mask


def run_on_points(
    model: Any,
    points: xr.Dataset,
    run: RunConfig,
    *,
    seed: int,
    device: torch.device,
    store: Literal["all", "last"] = "all",
    batch_size: int | None = None,
    progress: bool = True,
    options: dict[str, Any] | None = None,
) -> xr.Dataset:
    """One sampler run on every point of ``points`` (variables ``x``, ``observed_mask``, coord ``point``).

    Point p draws from its own counter-based stream keyed by (``seed``, p), so its result does not
    depend on which other points share its batch; ``batch_size`` only bounds memory (points are
    processed in consecutive chunks and concatenated). ``options`` override ``run.options`` (e.g.
    clip ranges computed from the training data).
    """
    x, mask = points_tensors(points, device)
    ids = points["point"].values.tolist()
    size = batch_size or len(ids)
    parts = []
    for start in range(0, len(ids), size):
        chunk = slice(start, start + size)
        streams = vrandom.PointStreams.from_seed(seed, ids[chunk], device=device)
        ds = sample(
            model, x[chunk], mask[chunk], run.sampler,
            num_iterations=run.num_iterations, num_chains=run.num_chains,
            generator=streams, warmup=run.warmup, initialisation=run.initialisation, store=store,
            progress=progress, **{**run.options, **(options or {})},
        )
        parts.append(ds.assign_coords(point=np.asarray(ids[chunk])))
    if len(parts) == 1:
        return parts[0]
    point_vars = [name for name in parts[0].data_vars if "point" in parts[0][name].dims]
    merged = xr.concat([p[point_vars] for p in parts], dim="point")
    rest = parts[0].drop_vars(point_vars)
    return xr.merge([merged, rest], combine_attrs="override")
