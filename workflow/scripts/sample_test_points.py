"""Rule sample_test_points: one sampler run of a real-data experiment -> samples.nc."""

import json

from vaeinfer.devices import resolve_device
from vaeinfer.experiments.common import clip_options, parse_run, run_on_points
from vaeinfer.models.checkpoints import load_checkpoint
from vaeinfer.results.io import open_dataset, write_netcdf
from vaeinfer.results.provenance import provenance
from vaeinfer.workflow import script


def main(smk):
    raw = json.loads(smk.params.run)
    data = open_dataset(smk.input.data)
    raw = clip_options(raw, data)
    run = parse_run(smk.wildcards.run, raw, experiment=smk.wildcards.experiment)
    device = resolve_device(smk.params.device)
    model, _ = load_checkpoint(smk.input.checkpoint, device)
    points = open_dataset(smk.input.points)
    points = points.isel(point=points["sampled"].values.astype(bool)) if "sampled" in points else points
    ds = run_on_points(model, points, run, seed=smk.params.seed, device=device, store=smk.params.store,
                       batch_size=smk.params.batch_size, progress=smk.params.progress)
    ds.attrs.update(provenance(raw, seed=smk.params.seed, device=device))
    write_netcdf(ds, smk.output.samples)


script(snakemake, main)  # noqa: F821
