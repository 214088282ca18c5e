"""What every experiment of the primary paper shares: a configured sampler run, its validation,
its grid rows, and running it on a set of incomplete test points with per-point random streams.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import xarray as xr

from vaeinfer import random as vrandom
from vaeinfer import samplers
from vaeinfer.api import build_initialisation, build_warmup, sample
from vaeinfer.config import ConfigError, from_dict
from vaeinfer.missingness import drop_rows_with_nothing_observed
from vaeinfer.samplers.base import check_options

__all__ = [
    "RunConfig",
    "clip_options",
    "fill_clip_ranges",
    "stack_runs",
    "completed_sets",
    "data_attrs",
    "image_shape",
    "masked_test_points",
    "parse_run",
    "points_tensors",
    "row_names",
    "run_on_points",
    "slot_rows",
]


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
    try:
        spec = samplers.get(run.sampler)
    except ValueError as err:
        raise ConfigError(f"{where}.sampler: {err}") from None
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


def slot_rows(samples: xr.Dataset, run_name: str, *, pool_all_draws: bool) -> dict[str, np.ndarray]:
    """The imputations each grid row of a run is scored on, as (N, B, D) arrays.

    * ``pool_all_draws=True`` (MNIST-GMM): every stored draw of every chain, pooled (N = S * K);
    * ``pool_all_draws=False`` (Omniglot, UCI): the last iterate, one slot per chain (N = K).

    A run with final resampling is scored on its final-resampled draws; a final-resampled LAIR run
    yields a second row, ``<run>_iterates``, scored on its particle iterates (see :func:`row_names`).
    """

    def iterates() -> np.ndarray:
        imp = samples["imputations"].transpose("draw", "chain", "point", "feature").values
        if not pool_all_draws:
            return imp[-1]
        return imp.reshape(-1, *imp.shape[2:])

    if "resampled_imputations" not in samples:
        return {run_name: iterates()}
    rows = {run_name: samples["resampled_imputations"].transpose("resample", "point", "feature").values}
    if samples.attrs.get("sampler") == "lair":
        rows[f"{run_name}_iterates"] = iterates()
    return rows


def image_shape(dataset: xr.Dataset) -> tuple[int, int] | None:
    """The image shape (H, W) of a prepared dataset (or of a file made from one), None for tabular data."""
    raw = dataset.attrs.get("image_shape_json", dataset.attrs.get("dataset_image_shape_json", ""))
    return tuple(json.loads(raw)) if raw else None


def data_attrs(dataset: xr.Dataset) -> dict[str, str]:
    """The attributes that say which data a result comes from (and whether it is a stand-in)."""
    keys = ("name", "kind", "stands_in_for", "likelihood", "image_shape_json", "description")
    return {f"dataset_{k}" if not k.startswith("dataset") else k: str(dataset.attrs.get(k, "")) for k in keys}


def masked_test_points(dataset: xr.Dataset, observed_mask: torch.Tensor, *, max_points: int | None) -> xr.Dataset:
    """Test points of a whole-test-set experiment (Omniglot, UCI) under ``observed_mask``.

    Rows with nothing observed are removed, as the paper does (``filter_fully_missing_test``);
    then the first ``max_points`` rows are kept. The ``point`` coordinate is the row's index in
    the test split (the key of its random stream). ``sampled`` marks the rows with something
    missing: only those are given to the samplers; complete rows enter the metrics as they are.
    """
    x_true = torch.as_tensor(dataset["x_test"].values)
    if observed_mask.shape != x_true.shape:
        raise ValueError(f"mask shape {tuple(observed_mask.shape)} differs from the test split's {tuple(x_true.shape)}")
    x_true, mask, kept = drop_rows_with_nothing_observed(x_true, observed_mask.cpu())
    if max_points is not None:
        x_true, mask, kept = x_true[:max_points], mask[:max_points], kept[:max_points]
    x = torch.where(mask, x_true, torch.nan)
    return xr.Dataset(
        {
            "x": (("point", "feature"), x.numpy().astype(np.float32)),
            "x_true": (("point", "feature"), x_true.numpy().astype(np.float32)),
            "observed_mask": (("point", "feature"), mask.numpy().astype(np.int8)),
            "sampled": (("point",), (~mask).any(dim=1).numpy().astype(np.int8)),
        },
        coords={"point": kept.numpy().astype(np.int64)},
        attrs=data_attrs(dataset),
    )


def completed_sets(samples: xr.Dataset, points: xr.Dataset, run_name: str) -> dict[str, np.ndarray]:
    """Each grid row's imputed test sets, (S, B, D): slot s is the whole test set completed with
    the s-th imputation of every sampled row (the last iterate of chain s, or final draw s);
    rows with nothing missing keep their true values."""
    truth = points["x_true"].values
    sampled = np.flatnonzero(points["sampled"].values)
    if not np.array_equal(samples["point"].values, points["point"].values[sampled]):
        raise ValueError("the run's points differ from the points file's sampled rows; rerun the sampler")
    out = {}
    for row, slots in slot_rows(samples, run_name, pool_all_draws=False).items():
        full = np.broadcast_to(truth, (slots.shape[0], *truth.shape)).copy()
        full[:, sampled] = slots
        out[row] = full
    return out


def fill_clip_ranges(raw: dict[str, Any], clip_min: list[float], clip_max: list[float]) -> dict[str, Any]:
    """A run config whose ``clip: dataset`` options (in the run and in its warm-up) without an
    explicit range get ``clip_min`` / ``clip_max``."""

    def fill(options: dict[str, Any]) -> dict[str, Any]:
        if options.get("clip") == "dataset" and "clip_min" not in options:
            return {**options, "clip_min": list(clip_min), "clip_max": list(clip_max)}
        return options

    out = dict(raw)
    out["options"] = fill(dict(raw.get("options") or {}))
    if raw.get("warmup"):
        out["warmup"] = fill(dict(raw["warmup"]))
    return out


def clip_options(raw: dict[str, Any], dataset: xr.Dataset) -> dict[str, Any]:
    """``clip: dataset`` ranges filled from the training split's per-feature min / max."""
    return fill_clip_ranges(raw, dataset["feature_min"].values.astype(float).tolist(),
                            dataset["feature_max"].values.astype(float).tolist())


def stack_runs(runs: list[xr.Dataset], sampler_order: list[str]) -> xr.Dataset:
    """Per-run metrics concatenated on ``sampler``, in the configured row order."""
    ds = xr.concat(runs, dim="sampler")
    return ds.sel(sampler=[s for s in sampler_order if s in ds["sampler"].values])
