"""Rule pretrain_classifier: the MNIST-GMM FID classifier (resumable) -> checkpoint + curve."""

import json
from pathlib import Path

import pandas as pd

from vaeinfer.config import from_dict, to_dict
from vaeinfer.devices import resolve_device
from vaeinfer.experiments import pretrain
from vaeinfer.models.checkpoints import save_checkpoint
from vaeinfer.models.classifier import accuracy
from vaeinfer.results.io import atomic_path, open_dataset
from vaeinfer.results.provenance import provenance
from vaeinfer.workflow import script


def main(smk):
    config = from_dict(pretrain.ClassifierModelConfig, json.loads(smk.params.model),
                       where="experiments.mnist_gmm.classifier")
    device = resolve_device(smk.params.device)
    data = open_dataset(smk.input.data)
    resume = pretrain.resume_file(Path(smk.output.checkpoint).parent, "classifier", config, data)
    model, result = pretrain.train_classifier(data, config, device=device, resume_path=resume,
                                              progress=smk.params.progress)
    test = pretrain.labelled_split(data, "test", device)
    save_checkpoint(smk.output.checkpoint, model, "classifier", training_config=to_dict(config),
                    best_epoch=result.best_epoch, test_accuracy=accuracy(model, *test),
                    provenance=provenance(to_dict(config), seed=config.seed, device=device,
                                          with_commit=False))
    with atomic_path(smk.output.history) as tmp:
        pd.DataFrame(result.history).to_csv(tmp, index=False)
    resume.unlink(missing_ok=True)


script(snakemake, main)  # noqa: F821
