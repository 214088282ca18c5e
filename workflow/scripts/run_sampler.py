"""Rule run_sampler: one sampler on the test points -> samples.nc."""

import json

from vaeinfer.devices import resolve_device
from vaeinfer.experiments import toy_pitfalls as toy
from vaeinfer.models.checkpoints import load_checkpoint
from vaeinfer.results.io import open_dataset, write_netcdf
from vaeinfer.results.provenance import provenance
from vaeinfer.workflow import script


def main(smk):
    run = toy.parse_run(smk.wildcards.run, json.loads(smk.params.run))
    device = resolve_device(smk.params.device)
    model, _ = load_checkpoint(smk.input.checkpoint, device)
    ds = toy.run_sampler(model, open_dataset(smk.input.points), run, seed=smk.params.seed,
                         device=device, progress=smk.params.progress)
    ds.attrs.update(provenance(json.loads(smk.params.run), seed=smk.params.seed, device=device))
    write_netcdf(ds, smk.output.samples)


script(snakemake, main)  # noqa: F821
