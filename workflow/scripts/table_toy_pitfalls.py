"""Rule table_toy_pitfalls: the metric table (markdown + CSV) from the result grid."""

from vaeinfer.figures.tables import write_pitfall_table
from vaeinfer.results.io import open_dataset
from vaeinfer.workflow import script


def main(smk):
    write_pitfall_table(open_dataset(smk.input.grid), markdown=smk.output.markdown, csv=smk.output.csv)


script(snakemake, main)  # noqa: F821
