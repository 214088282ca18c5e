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
    "pseudo_gibbs": "Pseudo-Gibbs",
    "mwg": "MWG",
    "ac_mwg": "AC-MWG",
    "lair": "LAIR",
    "lair_iterates": "LAIR (iterates)",
}


def display_name(name: str) -> str:
    """The paper's name for a run (falls back to the run name)."""
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
