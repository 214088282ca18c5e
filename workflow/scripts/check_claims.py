"""Rule check_claims: every measured claim of the papers, evaluated on this run's grids."""

from pathlib import Path

from vaeinfer.claims import check_claims, load_claims, write_claims_table
from vaeinfer.results.io import open_dataset
from vaeinfer.workflow import script


def main(smk):
    grids = {Path(path).stem: open_dataset(path) for path in smk.input.grids}
    table = check_claims(load_claims(smk.input.claims), grids)
    write_claims_table(table, markdown=smk.output.markdown, csv=smk.output.csv, note=smk.params.note)


script(snakemake, main)  # noqa: F821
