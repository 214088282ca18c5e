"""What produced a run, for the report: software versions, git commit, platform and device."""

from __future__ import annotations

import platform
from importlib import metadata

import pandas as pd

__all__ = ["PACKAGES", "software_table"]

#: the distributions the results depend on (numerics, data, metrics, figures, workflow)
PACKAGES = (
    "vaeinfer", "torch", "numpy", "scipy", "xarray", "netCDF4", "pandas", "scikit-learn", "geomloss",
    "torchmetrics", "matplotlib", "seaborn", "snakemake", "dvc",
)  # fmt: skip


def software_table(*, git_commit: str, device: str) -> pd.DataFrame:
    """One row per item: Python, the platform, every package of :data:`PACKAGES`, git commit, device."""
    rows = [("python", platform.python_version()), ("platform", platform.platform())]
    for name in PACKAGES:
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    rows += [("git commit", git_commit), ("device", device)]
    return pd.DataFrame(rows, columns=["item", "version"])
