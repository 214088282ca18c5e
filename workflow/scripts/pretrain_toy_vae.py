"""Rule pretrain_toy_vae: component-supervised training (resumable) -> checkpoint + training curve."""

import json
from pathlib import Path

import pandas as pd

from vaeinfer.config import from_dict, to_dict
from vaeinfer.devices import resolve_device
from vaeinfer.experiments import pretrain
from vaeinfer.experiments import toy_pitfalls as toy
from vaeinfer.models.checkpoints import save_checkpoint
from vaeinfer.results.io import atomic_path, open_dataset
from vaeinfer.results.provenance import provenance
from vaeinfer.workflow import script


def main(smk):
    config = from_dict(toy.ModelConfig, json.loads(smk.params.model), where=f"models.{smk.wildcards.dataset}")
    device = resolve_device(smk.params.device)
    data = open_dataset(smk.input.data)
    resume = pretrain.resume_file(Path(smk.output.checkpoint).parent, "toy_vae", config, data)
    model, result = toy.train_vae(data, config, device=device, progress=smk.params.progress, resume_path=resume)
    save_checkpoint(smk.output.checkpoint, model, "toy_vae", training_config=to_dict(config),
                    best_epoch=result.best_epoch,
                    provenance=provenance(to_dict(config), seed=config.seed, device=device,
                                          with_commit=False))
    with atomic_path(smk.output.history) as tmp:
        pd.DataFrame(result.history).to_csv(tmp, index=False)
    resume.unlink(missing_ok=True)  # finished: the checkpoint supersedes the resume file


script(snakemake, main)  # noqa: F821
