"""Rule experiment_grid: every run's metrics of a real-data experiment -> results/grids/<experiment>.nc."""

import json

from vaeinfer.experiments import mnist_gmm, omniglot, uci
from vaeinfer.results.io import open_dataset, write_netcdf
from vaeinfer.results.provenance import provenance
from vaeinfer.workflow import script


def main(smk):
    experiment = smk.wildcards.experiment
    order = list(smk.params.order)
    by_key = {}
    for (dataset, missingness, seed), path in zip(smk.params.run_keys, smk.input.metrics, strict=True):
        by_key.setdefault((dataset, missingness, int(seed)), []).append(open_dataset(path))
    datasets = {open_dataset(p).attrs["name"]: open_dataset(p) for p in smk.input.data}
    if experiment == "mnist_gmm":
        (points_path,) = smk.input.points
        grid = mnist_gmm.assemble_grid({s: runs for (_, _, s), runs in by_key.items()}, open_dataset(points_path),
                                       next(iter(datasets.values())), order)
    elif experiment == "omniglot":
        grid = omniglot.assemble_grid({(m, s): runs for (_, m, s), runs in by_key.items()},
                                      next(iter(datasets.values())), order)
    else:
        grid = uci.assemble_grid({(d, s): runs for (d, _, s), runs in by_key.items()}, datasets, order)
    grid.attrs.update(provenance(json.loads(smk.params.config), device=smk.params.device))
    write_netcdf(grid, smk.output.grid)


script(snakemake, main)  # noqa: F821
