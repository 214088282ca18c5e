"""Rule table_experiment: the metric table (markdown + CSV) of a real-data experiment."""

from vaeinfer.figures.tables import write_experiment_table
from vaeinfer.results.io import open_dataset
from vaeinfer.workflow import script


def main(smk):
    write_experiment_table(smk.wildcards.experiment, open_dataset(smk.input.grid),
                           markdown=smk.output.markdown, csv=smk.output.csv)


script(snakemake, main)  # noqa: F821
