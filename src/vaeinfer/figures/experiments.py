"""Figures of the real-data experiments (MNIST-GMM, Omniglot, UCI), drawn from their grids only.

Each is a box plot with the individual values overlaid (a seeded strip plot), per sampler, as the paper's
figures: over seeds and test points (MNIST-GMM), over seeds and imputation slots (Omniglot FID,
UCI), or over seeds (Omniglot F1 / SSIM). Titles name the data, and say so when they are an offline
stand-in for the paper's dataset.
"""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr

from vaeinfer.figures.style import display_name, palette, save_figure, set_style

__all__ = ["data_title", "plot_experiment"]

_PAPER_NAMES = {"mnist_gmm": "MNIST-GMM", "omniglot": "Omniglot", "uci": "UCI"}
_LEVEL_TITLES = {"quadrants1": "1/4 quadrants missing", "quadrants2": "2/4 quadrants missing",
                 "quadrants3": "3/4 quadrants missing"}


def data_title(name: str, kind: str, stands_in_for: str) -> str:
    """``"digits_gmm (stand-in for MNIST-GMM)"`` or the real dataset's name."""
    if kind == "stand-in":
        return f"{name} (stand-in for {_PAPER_NAMES.get(stands_in_for, stands_in_for)})"
    return name


def _long(da: xr.DataArray, value: str) -> pd.DataFrame:
    df = da.to_dataframe(name=value).reset_index().dropna(subset=[value])
    df["sampler_name"] = [display_name(str(s)) for s in df["sampler"]]
    return df


def _boxstrip(ax: plt.Axes, df: pd.DataFrame, value: str, order: list[str], colours: dict, *, log: bool) -> None:
    names = [display_name(s) for s in order]
    pal = {display_name(k): v for k, v in colours.items()}
    sns.boxplot(data=df, x="sampler_name", y=value, hue="sampler_name", order=names, hue_order=names, palette=pal,
                ax=ax, showfliers=False, width=0.6, boxprops={"alpha": 0.45}, legend=False)
    # The individual values, jittered horizontally by a seeded generator (seaborn's stripplot
    # jitters with numpy's global RNG, which would make the figure differ between runs).
    jitter = np.random.default_rng(0)
    for i, name in enumerate(names):
        y = df.loc[df["sampler_name"] == name, value].to_numpy()
        ax.scatter(i + jitter.uniform(-0.25, 0.25, size=y.size), y, s=5, color=pal[name], alpha=0.8, zorder=3,
                   linewidths=0)
    if log and (df[value] > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("")
    ax.tick_params(axis="x", rotation=60)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")


def _mnist_gmm(grid: xr.Dataset) -> plt.Figure:
    order = [str(s) for s in grid["sampler"].values]
    colours = palette(order)
    panels = [("jsd", "JSD(p(c | x_o), estimate) [nats]"), ("fid_classifier", "per-point FID, classifier logits"),
              ("fid_encoder", "per-point FID, VAE encoder")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, (var, label) in zip(axes, panels, strict=True):
        _boxstrip(ax, _long(grid[var], var), var, order, colours, log=True)
        ax.set_ylabel(label)
    title = data_title(grid.attrs.get("dataset_name", ""), grid.attrs.get("dataset_kind", ""),
                       grid.attrs.get("dataset_stands_in_for", ""))
    fig.suptitle(f"{title}: class-posterior divergence and per-point FID "
                 f"({grid.sizes['point']} points x {grid.sizes['seed']} seeds; lower is better)")
    return fig


def _omniglot(grid: xr.Dataset) -> plt.Figure:
    order = [str(s) for s in grid["sampler"].values]
    colours = palette(order)
    levels = [str(v) for v in grid["missingness"].values]
    fig, axes = plt.subplots(3, len(levels), figsize=(4.6 * len(levels), 11), squeeze=False)
    for j, level in enumerate(levels):
        sub = grid.sel(missingness=level)
        for i, (var, label, log) in enumerate((("fid", "FID of the imputed test set (lower is better)", True),
                                               ("f1", "F1 of missing pixels (higher is better)", False),
                                               ("ssim", "SSIM (higher is better)", False))):
            ax = axes[i, j]
            _boxstrip(ax, _long(sub[var], var), var, order, colours, log=log)
            ax.set_ylabel(label if j == 0 else "")
            if i == 0:
                ax.set_title(_LEVEL_TITLES.get(level, level))
            if i < 2:
                ax.set_xticklabels([])
    title = data_title(grid.attrs.get("dataset_name", ""), grid.attrs.get("dataset_kind", ""),
                       grid.attrs.get("dataset_stands_in_for", ""))
    fig.suptitle(f"{title}: imputations of the test set ({grid.sizes['seed']} seeds)")
    return fig


def _uci(grid: xr.Dataset) -> plt.Figure:
    order = [str(s) for s in grid["sampler"].values]
    colours = palette(order)
    names = [str(v) for v in grid["dataset"].values]
    fig, axes = plt.subplots(2, len(names), figsize=(4.8 * len(names), 8), squeeze=False)
    for j, name in enumerate(names):
        sub = grid.sel(dataset=name)
        kind, stands_in = str(sub["dataset_kind"].values), str(sub["stands_in_for"].values)
        for i, (var, label) in enumerate((("sinkhorn", "Sinkhorn divergence (lower is better)"),
                                          ("energy", "energy distance (lower is better)"))):
            ax = axes[i, j]
            _boxstrip(ax, _long(sub[var], var), var, order, colours, log=True)
            ax.set_ylabel(label if j == 0 else "")
            if i == 0:
                ax.set_title(f"{data_title(name, kind, stands_in)}\nblur = {float(sub['sinkhorn_blur']):.3g}")
                ax.set_xticklabels([])
    fig.suptitle(f"Imputed vs true test sets, 50% MCAR ({grid.sizes['seed']} seeds x imputations)")
    return fig


_PLOTS = {"mnist_gmm": _mnist_gmm, "omniglot": _omniglot, "uci": _uci}


def plot_experiment(
    experiment: str, grid: xr.Dataset, *, png: str | os.PathLike[str], pdf: str | os.PathLike[str]
) -> None:
    """Draw ``experiment``'s figure from its grid and save it as PNG and PDF."""
    if experiment not in _PLOTS:
        raise ValueError(f"no figure for experiment {experiment!r}; known: {sorted(_PLOTS)}")
    set_style()
    fig = _PLOTS[experiment](grid)
    fig.tight_layout()
    save_figure(fig, png, pdf)
