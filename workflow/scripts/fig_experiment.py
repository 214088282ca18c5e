"""Rule fig_experiment: the paper's figure of a real-data experiment, from its grid."""

from vaeinfer.figures.experiments import plot_experiment

from vaeinfer.results.io import open_dataset
from vaeinfer.workflow import script


def main(smk):
    plot_experiment(smk.wildcards.experiment, open_dataset(smk.input.grid), png=smk.output.png, pdf=smk.output.pdf)


script(snakemake, main)  # noqa: F821
