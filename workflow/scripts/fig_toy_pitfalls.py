"""Rule fig_toy_pitfalls: the paper's pitfall figure from the result grid."""

from vaeinfer.figures.toy import plot_pitfalls
from vaeinfer.results.io import open_dataset
from vaeinfer.workflow import script


def main(smk):
    grid = open_dataset(smk.input.grid)
    plot_pitfalls(grid.sel(sampler=list(smk.params.rows)), png=smk.output.png, pdf=smk.output.pdf)


script(snakemake, main)  # noqa: F821
