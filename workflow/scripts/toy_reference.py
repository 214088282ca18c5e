"""Rule toy_reference: the VAE's exact conditional p(x_m | x_o) by quadrature."""

import json

from vaeinfer.config import from_dict
from vaeinfer.experiments import toy_pitfalls as toy
from vaeinfer.models.checkpoints import load_checkpoint
from vaeinfer.results.io import open_dataset, write_netcdf
from vaeinfer.workflow import script


def main(smk):
    cfg = from_dict(toy.MetricsConfig, json.loads(smk.params.metrics), where="experiments.toy_pitfalls.metrics")
    model, _ = load_checkpoint(smk.input.checkpoint)
    write_netcdf(toy.reference_conditional(model, open_dataset(smk.input.points), cfg), smk.output.reference)


script(snakemake, main)  # noqa: F821
