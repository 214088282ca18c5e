"""Rule toy_run_metrics: KDE of one run's imputations vs the exact conditional."""

import json

from vaeinfer.config import from_dict
from vaeinfer.experiments import toy_pitfalls as toy
from vaeinfer.results.io import open_dataset, write_netcdf
from vaeinfer.workflow import script


def main(smk):
    cfg = from_dict(toy.MetricsConfig, json.loads(smk.params.metrics), where="experiments.toy_pitfalls.metrics")
    ds = toy.run_metrics(open_dataset(smk.input.samples), open_dataset(smk.input.reference),
                         smk.wildcards.run, cfg)
    write_netcdf(ds, smk.output.metrics)


script(snakemake, main)  # noqa: F821
