"""Rule test_points: the incomplete test points of a real-data experiment -> points.nc."""

import json

from vaeinfer.experiments import mnist_gmm, omniglot, uci
from vaeinfer.results.io import open_dataset, write_netcdf
from vaeinfer.workflow import script


def main(smk):
    cfg = json.loads(smk.params.experiment)
    data = open_dataset(smk.input.data)
    experiment, level = smk.wildcards.experiment, smk.wildcards.missingness
    if experiment == "mnist_gmm":
        points = mnist_gmm.make_points(data, mnist_gmm.parse_points(cfg["points"]))
    elif experiment == "omniglot":
        points = omniglot.make_points(data, level, mask_seed=cfg.get("mask_seed", 20220118),
                                      max_points=cfg.get("max_points"))
    else:
        points = uci.make_points(data, missing_fraction=cfg.get("missing_fraction", 0.5),
                                 mask_seed=cfg.get("mask_seed", 20220118), max_points=cfg.get("max_points", 50000))
    write_netcdf(points, smk.output.points)


script(snakemake, main)  # noqa: F821
