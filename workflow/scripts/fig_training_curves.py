"""Rule fig_training_curves: every pre-trained network's loss curves, from its history CSV."""

from pathlib import Path

import pandas as pd

from vaeinfer.figures.training import plot_training_curves
from vaeinfer.workflow import script


def main(smk):
    histories = {}
    for path in smk.input:
        path = Path(path)
        kind = "classifier" if path.name.startswith("classifier") else "VAE"
        histories[f"{path.parent.name} {kind}"] = pd.read_csv(path)
    plot_training_curves(histories, png=smk.output.png, pdf=smk.output.pdf)


script(snakemake, main)  # noqa: F821
