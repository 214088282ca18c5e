"""Rule toy_pitfalls_grid: all runs' metrics -> results/grids/toy_pitfalls.nc."""

import json

from vaeinfer.experiments import toy_pitfalls as toy
from vaeinfer.results.io import open_dataset, write_netcdf
from vaeinfer.results.provenance import provenance
from vaeinfer.workflow import script


def main(smk):
    by_seed = {}
    for seed, path in zip(smk.params.seeds, smk.input.metrics, strict=True):
        by_seed.setdefault(seed, []).append(open_dataset(path))
    grid = toy.assemble_grid(by_seed, open_dataset(smk.input.reference), list(smk.params.order))
    grid.attrs.update(provenance(json.loads(smk.params.config), seed=smk.params.seeds[0], device=smk.params.device))
    write_netcdf(grid, smk.output.grid)


script(snakemake, main)  # noqa: F821
