"""Rule score_test_points: the metrics of one real-data run -> metrics.nc."""

import json

from vaeinfer.config import from_dict
from vaeinfer.experiments import mnist_gmm, omniglot, uci
from vaeinfer.models.checkpoints import load_checkpoint
from vaeinfer.results.io import open_dataset, write_netcdf
from vaeinfer.workflow import script


def main(smk):
    experiment, run = smk.wildcards.experiment, smk.wildcards.run
    where = f"experiments.{experiment}.metrics"
    samples, points = open_dataset(smk.input.samples), open_dataset(smk.input.points)
    vae, _ = load_checkpoint(smk.input.checkpoint)
    if experiment == "mnist_gmm":
        cfg = from_dict(mnist_gmm.MetricsConfig, json.loads(smk.params.metrics), where=where)
        classifier, _ = load_checkpoint(smk.input.classifier)
        ds = mnist_gmm.run_metrics(samples, points, open_dataset(smk.input.data), run,
                                   classifier=classifier, vae=vae, config=cfg)
    elif experiment == "omniglot":
        cfg = from_dict(omniglot.MetricsConfig, json.loads(smk.params.metrics), where=where)
        ds = omniglot.run_metrics(samples, points, run, vae=vae, config=cfg)
    else:
        cfg = from_dict(uci.MetricsConfig, json.loads(smk.params.metrics), where=where)
        ds = uci.run_metrics(samples, points, run, config=cfg)
    write_netcdf(ds, smk.output.metrics)


script(snakemake, main)  # noqa: F821
