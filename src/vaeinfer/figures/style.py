"""Shared seaborn style, sampler display names and colours, and byte-stable saving."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from vaeinfer.results.io import atomic_path  # noqa: E402

__all__ = ["DISPLAY_NAMES", "display_name", "palette", "save_figure", "set_style"]

DISPLAY_NAMES = {
    "marginal": "Marginal VAE",
    "pseudo_gibbs": "Pseudo-Gibbs",
    "pseudo_gibbs_clip": "Pseudo-Gibbs (clip)",
    "mwg": "MWG",
    "mwg_lair_init": "MWG′",
    "ac_mwg": "AC-MWG",
    "ac_mwg_lair_init": "AC-MWG′",
    "ac_mwg_lair_init_eps03": "AC-MWG′ (ε = 0.3)",
    "ac_mwg_eps0": "AC-MWG (ε = 0)",
    "ac_mwg_mwg_target": "AC-MWG (MWG target)",
    "ac_mwg_mwg_target_q3": "AC-MWG (MWG target, authors' Q3)",
    "lair": "LAIR",
    "lair_eps0": "LAIR (ε = 0)",
    "lair_eps05": "LAIR (ε = 0.5)",
    "importance_resampling": "Standard IR (ε = 1)",
}


def display_name(name: str) -> str:
    """The paper's name for a run (falls back to the run name); ``<run>_iterates`` is marked."""
    if name.endswith("_iterates") and name not in DISPLAY_NAMES:
        return f"{display_name(name[: -len('_iterates')])} (iterates)"
    return DISPLAY_NAMES.get(name, name)


def palette(names: list[str]) -> dict[str, tuple[float, float, float]]:
    """A fixed colour per run name, in the given order."""
    return dict(zip(names, sns.color_palette("colorblind", len(names)), strict=True))


def set_style() -> None:
    """The project's seaborn theme."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.0)


def save_figure(fig: plt.Figure, png: str | os.PathLike[str], pdf: str | os.PathLike[str]) -> None:
    """Save PNG and PDF atomically, without creation dates, so reruns give identical bytes."""
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight", metadata={"Software": None})
    with atomic_path(pdf) as tmp:
        fig.savefig(tmp, format="pdf", bbox_inches="tight", metadata={"CreationDate": None, "Creator": None})
    plt.close(fig)
