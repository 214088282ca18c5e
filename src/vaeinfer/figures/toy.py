"""The toy pitfall figure: each sampler's density against the VAE's exact conditional."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr

from vaeinfer.figures.style import display_name, palette, save_figure, set_style

__all__ = ["plot_ablations", "plot_pitfalls"]

_TITLES = {"I": "Pitfall I", "II": "Pitfall II", "III": "Pitfall III"}


def _pitfall_points(grid: xr.Dataset) -> list[tuple[str, int]]:
    return [(label, int(grid["point"].values[np.flatnonzero(grid["pitfall"].values == label)[0]]))
            for label in ("I", "II", "III")]


def plot_pitfalls(grid: xr.Dataset, *, png: str | os.PathLike[str], pdf: str | os.PathLike[str]) -> None:
    """Rows: samplers; columns: the three pitfall points. Grey: exact p(x_m | x_o); line: KDE.

    Each panel is annotated with the JSD; a top row shows the exact p(x_m | x_o) with the posterior
    mean E[z | x_o, x_m] on a twin axis, to show how the latent space is structured.
    """
    set_style()
    if "seed" in grid.dims:
        grid = grid.isel(seed=0)
    names = [str(s) for s in grid["sampler"].values]
    colours = palette(names)
    pitfalls = _pitfall_points(grid)
    x = grid["x"].values
    step = max(1, x.size // 1000)  # plot ~1000 points per curve
    frames = []
    for name in names:
        for label, point in pitfalls:
            frames.append(pd.DataFrame({
                "x_mis": x[::step],
                "density": grid["density"].sel(sampler=name, point=point).values[::step],
                "exact": grid["reference_pdf"].sel(point=point).values[::step],
                "sampler": display_name(name),
                "pitfall": _TITLES[label],
                "jsd": float(grid["jsd"].sel(sampler=name, point=point)),
            }))
    df = pd.concat(frames, ignore_index=True)
    g = sns.FacetGrid(df, row="sampler", col="pitfall", row_order=[display_name(n) for n in names],
                      col_order=[_TITLES[k] for k, _ in pitfalls], height=1.5, aspect=2.0,
                      sharey=False, margin_titles=True, despine=False)
    for (row_name, col_name), ax in g.axes_dict.items():
        sub = df[(df.sampler == row_name) & (df.pitfall == col_name)]
        run = names[[display_name(n) for n in names].index(row_name)]
        ax.fill_between(sub.x_mis, sub.exact, color="0.8", label="exact VAE conditional")
        sns.lineplot(data=sub, x="x_mis", y="density", ax=ax, color=colours[run], lw=1.2, label="sampler KDE")
        ax.text(0.02, 0.92, f"JSD {sub.jsd.iloc[0]:.3f}", transform=ax.transAxes, fontsize=7, va="top")
        ymax = max(sub.exact.max(), 1e-9) * 1.6
        ax.set_ylim(0, max(ymax, min(sub.density.max(), 3 * ymax)))
        ax.set_xlim(x[0], x[-1])
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    g.set_axis_labels("$x_{mis}$", "density")
    g.set_titles(row_template="{row_name}", col_template="{col_name}")
    handles, labels = g.axes.flat[0].get_legend_handles_labels()
    g.figure.legend(handles, labels, loc="upper center", ncol=2, frameon=False, bbox_to_anchor=(0.5, 1.02))
    g.figure.suptitle("Toy pitfalls: samples vs the VAE's exact conditional", y=1.05)
    save_figure(g.figure, png, pdf)


def plot_ablations(
    grid: xr.Dataset,
    groups: dict[str, list[str]],
    *,
    png: str | os.PathLike[str],
    pdf: str | os.PathLike[str],
) -> None:
    """The paper's ablation figure: one row per group of runs, one column per pitfall point.

    Each panel overlays the KDEs of the group's runs on the exact p(x_m | x_o) (grey), with their
    JSDs in the legend, e.g. groups ``{"AC-MWG": ["ac_mwg", "ac_mwg_eps0", "ac_mwg_mwg_target"],
    "LAIR": ["lair", "lair_eps0", "lair_eps05", "importance_resampling"]}``.
    """
    set_style()
    if "seed" in grid.dims:
        grid = grid.isel(seed=0)
    pitfalls = _pitfall_points(grid)
    x = grid["x"].values
    step = max(1, x.size // 1000)
    frames = []
    for group, names in groups.items():
        for name in names:
            for label, point in pitfalls:
                jsd = float(grid["jsd"].sel(sampler=name, point=point))
                frames.append(pd.DataFrame({
                    "x_mis": x[::step],
                    "density": grid["density"].sel(sampler=name, point=point).values[::step],
                    "group": group,
                    "pitfall": _TITLES[label],
                    "run": f"{display_name(name)} ({jsd:.3f})",
                    "name": name,
                }))
    df = pd.concat(frames, ignore_index=True)
    all_names = list(dict.fromkeys(n for names in groups.values() for n in names))
    colours = palette(all_names)
    g = sns.FacetGrid(df, row="group", col="pitfall", row_order=list(groups),
                      col_order=[_TITLES[k] for k, _ in pitfalls], height=2.0, aspect=1.8,
                      sharey=False, margin_titles=True, despine=False)
    for (group, col_name), ax in g.axes_dict.items():
        label = next(k for k, v in _TITLES.items() if v == col_name)
        point = dict(pitfalls)[label]
        exact = grid["reference_pdf"].sel(point=point).values[::step]
        ax.fill_between(x[::step], exact, color="0.8", label="exact")
        sub = df[(df.group == group) & (df.pitfall == col_name)]
        for name in groups[group]:
            run = sub[sub.name == name]
            ax.plot(run.x_mis, run.density, color=colours[name], lw=1.1, label=run.run.iloc[0])
        ymax = max(exact.max(), 1e-9) * 1.6
        ax.set_ylim(0, max(ymax, min(sub.density.max(), 3 * ymax)))
        ax.set_xlim(x[0], x[-1])
        ax.legend(loc="upper left", fontsize=5.5, frameon=False, title="JSD in brackets", title_fontsize=5.5)
    g.set_axis_labels("$x_{mis}$", "density")
    g.set_titles(row_template="{row_name}", col_template="{col_name}")
    g.figure.suptitle("Toy pitfalls: ablations of the prior mixture, the target and the initialisation", y=1.02)
    save_figure(g.figure, png, pdf)
