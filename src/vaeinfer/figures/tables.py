"""Metric tables from result grids (markdown for the report, CSV for machines)."""

from __future__ import annotations

import os

import pandas as pd
import xarray as xr

from vaeinfer.figures.style import display_name
from vaeinfer.results.io import atomic_path

__all__ = ["experiment_table", "pitfall_table", "write_experiment_table", "write_pitfall_table"]


def pitfall_table(grid: xr.Dataset) -> pd.DataFrame:
    """One row per sampler, KL(p||q), KL(q||p) and JSD for each pitfall point (mean over seeds)."""
    metrics = grid[["kl_pq", "kl_qp", "jsd"]]
    if "seed" in metrics.dims:
        metrics = metrics.mean("seed")
    rows = []
    for name in grid["sampler"].values:
        row = {"sampler": str(name), "name": display_name(str(name))}
        for label in ("I", "II", "III"):
            point = int(grid["point"].values[(grid["pitfall"].values == label).argmax()])
            for var in ("kl_pq", "kl_qp", "jsd"):
                row[f"{var}_{label}"] = float(metrics[var].sel(sampler=name, point=point))
        row["jsd_mean_all_points"] = float(metrics["jsd"].sel(sampler=name).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def write_pitfall_table(grid: xr.Dataset, *, markdown: str | os.PathLike[str], csv: str | os.PathLike[str]) -> None:
    """Write the table as CSV (full precision) and markdown (4 significant digits)."""
    table = pitfall_table(grid)
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    shown = table.drop(columns="sampler").rename(columns={"name": "sampler"})
    header = ("Divergences between the VAE's exact conditional p and each sampler's KDE q on the "
              "three pitfall points (nats; JSD <= log 2 = 0.693).\n\n")
    with atomic_path(markdown) as tmp:
        tmp.write_text(header + shown.to_markdown(index=False, floatfmt=".4g") + "\n")


def _wins(jsd: xr.DataArray, name: str, baseline: str) -> str:
    """``k/n``: on how many points the run's seed-mean JSD is below the baseline's."""
    if baseline not in jsd["sampler"].values or name == baseline:
        return ""
    mean = jsd.mean("seed")
    better = mean.sel(sampler=name) < mean.sel(sampler=baseline)
    return f"{int(better.sum())}/{better.size}"


def experiment_table(experiment: str, grid: xr.Dataset) -> tuple[pd.DataFrame, str]:
    """A real-data experiment's table (one row per sampler [and level or dataset]) and its caption."""
    rows = []
    if experiment == "mnist_gmm":
        for name in grid["sampler"].values:
            sub = grid.sel(sampler=name)
            rows.append({
                "sampler": str(name), "name": display_name(str(name)),
                "jsd_median": float(sub["jsd"].median()), "jsd_mean": float(sub["jsd"].mean()),
                "kl_pq_median": float(sub["kl_pq"].median()), "kl_qp_median": float(sub["kl_qp"].median()),
                "fid_classifier_median": float(sub["fid_classifier"].median()),
                "fid_encoder_median": float(sub["fid_encoder"].median()),
                "points_jsd_below_mwg": _wins(grid["jsd"], str(name), "mwg"),
                "points_jsd_below_pseudo_gibbs": _wins(grid["jsd"], str(name), "pseudo_gibbs"),
            })
        caption = ("Class-posterior divergence between the exact p(c | x_o) and its Rao-Blackwellised estimate "
                   "(medians over points and seeds, nats), per-point FIDs, and on how many points the seed-mean "
                   "JSD is below MWG's and pseudo-Gibbs's.")
    elif experiment == "omniglot":
        for level in grid["missingness"].values:
            for name in grid["sampler"].values:
                sub = grid.sel(missingness=level, sampler=name)
                rows.append({
                    "missingness": str(level), "sampler": str(name), "name": display_name(str(name)),
                    "fid_median": float(sub["fid"].median()), "f1_mean": float(sub["f1"].mean()),
                    "inverse_f1_mean": float(sub["inverse_f1"].mean()), "ssim_mean": float(sub["ssim"].mean()),
                })
        caption = ("FID of the imputed test set (median over seeds and imputations; VAE-encoder features), "
                   "F1 of the missing pixels and SSIM (means over seeds), per missingness level.")
    elif experiment == "uci":
        for dataset in grid["dataset"].values:
            for name in grid["sampler"].values:
                sub = grid.sel(dataset=dataset, sampler=name)
                values = sub["sinkhorn"].values[~pd.isna(sub["sinkhorn"].values)]
                rows.append({
                    "dataset": str(dataset), "sampler": str(name), "name": display_name(str(name)),
                    "sinkhorn_median": float(pd.Series(values).median()),
                    "sinkhorn_q25": float(pd.Series(values).quantile(0.25)),
                    "sinkhorn_q75": float(pd.Series(values).quantile(0.75)),
                    "energy_median": float(sub["energy"].median()),
                    "gaussian_mmd_median": float(sub["gaussian_mmd"].median()),
                    "sinkhorn_blur": float(sub["sinkhorn_blur"]),
                })
        caption = ("Sinkhorn divergence (median and quartiles over seeds and imputations), energy distance and "
                   "Gaussian MMD between the imputed and the true test set.")
    else:
        raise ValueError(f"no table for experiment {experiment!r}")
    return pd.DataFrame(rows), caption


def write_experiment_table(
    experiment: str, grid: xr.Dataset, *, markdown: str | os.PathLike[str], csv: str | os.PathLike[str]
) -> None:
    """Write a real-data experiment's table as CSV (full precision) and markdown (4 significant digits)."""
    table, caption = experiment_table(experiment, grid)
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    shown = table.drop(columns="sampler").rename(columns={"name": "sampler"})
    source = grid.attrs.get("dataset_name", "")
    if grid.attrs.get("dataset_kind") == "stand-in":
        source = f"{source}, an offline stand-in for the paper's data"
    if "dataset_kind" in grid.coords:  # UCI: one kind per dataset
        names = [f"{d} ({'stand-in' if k == 'stand-in' else 'real'})"
                 for d, k in zip(grid["dataset"].values, grid["dataset_kind"].values, strict=True)]
        source = ", ".join(names)
    header = f"{caption}{f' Data: {source}.' if source else ''}\n\n"
    with atomic_path(markdown) as tmp:
        tmp.write_text(header + shown.to_markdown(index=False, floatfmt=".4g") + "\n")
