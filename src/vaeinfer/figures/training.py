"""Training curves of every pre-trained network, read from the ``training_history.csv`` files."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import matplotlib.pyplot as plt
import pandas as pd

from vaeinfer.figures.style import save_figure, set_style

__all__ = ["plot_training_curves"]


def plot_training_curves(
    histories: Mapping[str, pd.DataFrame], *, png: str | os.PathLike[str], pdf: str | os.PathLike[str]
) -> None:
    """One panel per network: training and validation loss per epoch, the kept (best-val) epoch marked."""
    if not histories:
        raise ValueError("no training histories to plot")
    set_style()
    cols = min(3, len(histories))
    rows = math.ceil(len(histories) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.2 * rows), squeeze=False)
    for ax, (name, h) in zip(axes.flat, histories.items(), strict=False):
        missing = {"epoch", "train_loss", "val_loss"} - set(h.columns)
        if missing:
            raise ValueError(f"training history of {name} lacks the columns {sorted(missing)}")
        ax.plot(h["epoch"], h["train_loss"], label="train", lw=1.2)
        ax.plot(h["epoch"], h["val_loss"], label="validation", lw=1.2)
        best = h["val_loss"].idxmin()
        ax.axvline(h.loc[best, "epoch"], color="0.4", ls=":", lw=1, label=f"kept (epoch {int(h.loc[best, 'epoch'])})")
        low, high = h[["train_loss", "val_loss"]].min().min(), h[["train_loss", "val_loss"]].quantile(0.95).max()
        if math.isfinite(low) and math.isfinite(high) and high > low:
            ax.set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low))
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(histories):]:
        ax.set_visible(False)
    fig.suptitle("Training curves (the checkpoint keeps the best validation epoch)")
    fig.tight_layout()
    save_figure(fig, png, pdf)
