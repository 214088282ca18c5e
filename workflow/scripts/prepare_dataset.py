"""Rule prepare_dataset: a stand-in (bundled data) or a real dataset (raw files) -> dataset.nc."""

import json

from vaeinfer.data import prepare_dataset
from vaeinfer.results.io import write_netcdf
from vaeinfer.workflow import script


def main(smk):
    ds = prepare_dataset(smk.wildcards.dataset, json.loads(smk.params.dataset), raw_dir="data")
    write_netcdf(ds, smk.output.data)


script(snakemake, main)  # noqa: F821
