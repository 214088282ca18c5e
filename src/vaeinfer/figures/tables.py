"""Metric tables from result grids (markdown for the report, CSV for machines)."""

from __future__ import annotations

import os

import pandas as pd
import xarray as xr

from vaeinfer.figures.style import display_name
from vaeinfer.results.io import atomic_path

__all__ = ["pitfall_table", "write_pitfall_table"]


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
