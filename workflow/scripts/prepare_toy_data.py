"""Rule prepare_toy_data: the grid mixture's splits and true parameters -> netCDF."""

import json

from vaeinfer.config import from_dict
from vaeinfer.experiments import toy_pitfalls as toy
from vaeinfer.results.io import write_netcdf
from vaeinfer.workflow import script


def main(smk):
    config = from_dict(toy.ToyDataConfig, json.loads(smk.params.dataset), where=f"datasets.{smk.wildcards.dataset}")
    write_netcdf(toy.make_dataset(config), smk.output.data)


script(snakemake, main)  # noqa: F821
