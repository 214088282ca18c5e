"""The UCI experiment of Simkus & Gutmann (2023): seed000 §2.4, §3.4 and §4.3.

Tabular data with exactly 50% of the test matrix missing completely at random. Each sampler
imputes the whole test set; each imputation slot (the last iterate of chain s, or LAIR's final
draw s) completes it once and is compared with the true test set by the Sinkhorn divergence (the
paper's main metric), the energy distance and a Gaussian MMD, all from geomloss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from vaeinfer import random as vrandom
from vaeinfer.experiments.common import completed_sets, data_attrs, masked_test_points, stack_runs
from vaeinfer.metrics.samples import (
    energy_distance,
    gaussian_mmd,
    pick_mmd_blur,
    pick_sinkhorn_blur,
    sinkhorn_divergence,
)
from vaeinfer.missingness import mcar_exact_fraction

__all__ = ["MetricsConfig", "assemble_grid", "make_points", "run_metrics"]


@dataclass(frozen=True, kw_only=True)
class MetricsConfig:
    """Attributes:
    blur_rows: rows of the true test set used to pick the blurs (paper: 2,000).
    blur_seed: seed of that subset (one fixed subset per dataset, so every run is scored with the
        same blur; the paper draws a new subset per evaluation run).
    sinkhorn_scaling: geomloss ``scaling`` (paper: 0.9).
    """

    blur_rows: int = 2000
    blur_seed: int = 20220118
    sinkhorn_scaling: float = 0.9


def make_points(
    dataset: xr.Dataset, *, missing_fraction: float, mask_seed: int, max_points: int | None
) -> xr.Dataset:
    """The test set with exactly ``missing_fraction`` of its entries missing (MCAR over the whole
    matrix, one permutation from a generator seeded by ``mask_seed``), rows with nothing observed
    removed, then the first ``max_points`` rows."""
    shape = (dataset.sizes["test_index"], dataset.sizes["feature"])
    mask = mcar_exact_fraction(shape, missing_fraction, generator=vrandom.make_generator(mask_seed))
    points = masked_test_points(dataset, mask, max_points=max_points)
    points.attrs["missingness"] = f"mcar{round(100 * missing_fraction)}"
    return points


def blurs(points: xr.Dataset, config: MetricsConfig) -> dict[str, float]:
    """The Sinkhorn blur (OT-imputer ``pick_epsilon``) and the MMD blur of a test set."""
    truth = torch.as_tensor(points["x_true"].values, dtype=torch.float64)
    return {
        "sinkhorn_blur": float(pick_sinkhorn_blur(truth, num_rows=config.blur_rows,
                                                  generator=vrandom.make_generator(config.blur_seed))),
        "mmd_blur": float(pick_mmd_blur(truth, num_rows=config.blur_rows,
                                        generator=vrandom.make_generator(config.blur_seed))),
    }


def run_metrics(samples: xr.Dataset, points: xr.Dataset, run_name: str, *, config: MetricsConfig) -> xr.Dataset:
    """Sinkhorn divergence, energy distance and Gaussian MMD per imputation slot, every grid row."""
    truth = torch.as_tensor(points["x_true"].values, dtype=torch.float64)
    blur = blurs(points, config)
    rows = []
    for row, sets in completed_sets(samples, points, run_name).items():
        values: dict[str, list[float]] = {"sinkhorn": [], "energy": [], "gaussian_mmd": []}
        for s in sets:
            imputed = torch.as_tensor(s, dtype=torch.float64)
            values["sinkhorn"].append(sinkhorn_divergence(imputed, truth, blur=blur["sinkhorn_blur"],
                                                          scaling=config.sinkhorn_scaling))
            values["energy"].append(energy_distance(imputed, truth))
            values["gaussian_mmd"].append(gaussian_mmd(imputed, truth, blur=blur["mmd_blur"]))
        ds = xr.Dataset({k: (("imputation",), np.array(v)) for k, v in values.items()},
                        coords={"imputation": np.arange(len(sets))}).expand_dims(sampler=[row])
        rows.append(ds)
    out = xr.concat(rows, dim="sampler")
    for name, value in blur.items():
        out[name] = value
    out["sinkhorn"].attrs.update(long_name="Sinkhorn divergence, imputed vs true test set (geomloss, p=2)")
    out["energy"].attrs.update(long_name="energy distance, imputed vs true test set (geomloss 'energy')")
    out["gaussian_mmd"].attrs.update(long_name="Gaussian-kernel MMD, imputed vs true test set (geomloss)")
    out["sinkhorn_blur"].attrs.update(
        long_name="geomloss blur of the Sinkhorn divergence: 0.05 x median of halved squared distances (as passed)"
    )
    out["mmd_blur"].attrs.update(long_name="Gaussian MMD blur: median pairwise squared distance")
    return out


def assemble_grid(
    metrics: dict[tuple[str, int], list[xr.Dataset]], datasets: dict[str, xr.Dataset], sampler_order: list[str]
) -> xr.Dataset:
    """The grid on (sampler, dataset, seed, imputation); ``metrics[(dataset, seed)]`` lists runs."""
    names = [n for n in datasets if any(key[0] == n for key in metrics)]
    seeds = sorted({key[1] for key in metrics})
    per_dataset = []
    for name in names:
        per_seed = []
        for seed in seeds:
            per_seed.append(stack_runs(metrics[(name, seed)], sampler_order).expand_dims(seed=[seed]))
        block = xr.concat(per_seed, dim="seed")
        block["sinkhorn_blur"] = block["sinkhorn_blur"].isel(seed=0, sampler=0, drop=True)
        block["mmd_blur"] = block["mmd_blur"].isel(seed=0, sampler=0, drop=True)
        per_dataset.append(block.expand_dims(dataset=[name]))
    grid = xr.concat(per_dataset, dim="dataset", join="outer").transpose("sampler", "dataset", ...)
    attrs = {name: data_attrs(ds) for name, ds in datasets.items()}
    grid = grid.assign_coords(
        dataset_kind=("dataset", [attrs[n]["dataset_kind"] for n in grid["dataset"].values]),
        stands_in_for=("dataset", [attrs[n]["dataset_stands_in_for"] for n in grid["dataset"].values]),
    )
    return grid
