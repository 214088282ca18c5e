"""Rule fig_toy_ablations: the paper's ablation figure (ε, target, initialisation) from the grid."""

import json

from vaeinfer.figures.toy import plot_ablations
from vaeinfer.results.io import open_dataset
from vaeinfer.workflow import script


def main(smk):
    groups = json.loads(smk.params.groups)
    plot_ablations(open_dataset(smk.input.grid), groups, png=smk.output.png, pdf=smk.output.pdf)


script(snakemake, main)  # noqa: F821
