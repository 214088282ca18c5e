"""Pre-training of the real-data experiments' VAEs and of the MNIST-GMM classifier.

The config names only what a user chooses (latent size, networks, optimisation); the data size
D, the image shape of convolutional networks and the likelihood (Gaussian for real-valued data,
Bernoulli for binary images) come from the prepared dataset, so they cannot disagree with it.

Training is resumable: a resume file, named after the hash of everything that determines the
result, is written every ``checkpoint_every_epochs`` epochs; a rerun after an interruption
continues from it and gives the same parameters as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import xarray as xr

from vaeinfer import random as vrandom
from vaeinfer.config import to_dict
from vaeinfer.experiments.common import image_shape
from vaeinfer.models.classifier import Classifier, ClassifierConfig, cross_entropy_loss
from vaeinfer.models.networks import NetworkConfig, init_parameters
from vaeinfer.models.vae import VAE, VAEConfig, elbo_loss, linear_beta
from vaeinfer.results.provenance import config_hash
from vaeinfer.training import FitResult, TrainingConfig, fit

__all__ = [
    "ClassifierModelConfig",
    "VAEModelConfig",
    "labelled_split",
    "resume_file",
    "train_classifier",
    "train_vae",
    "vae_config",
]


@dataclass(frozen=True, kw_only=True)
class VAEModelConfig:
    """``models.<dataset>`` of a real-data experiment.

    Attributes:
        seed: seed of the initial weights, mini-batch order, dropout and Monte Carlo draws.
        latent_dim: L.
        encoder, decoder: networks (:class:`~vaeinfer.models.networks.NetworkConfig`); a
            ``resnet`` takes its ``image_shape`` from the data when left empty.
        min_scale: floor of the softplus scales (``normal_with_eps``).
        training: optimiser settings (:class:`~vaeinfer.training.TrainingConfig`).
        num_latent_samples: S, latent samples per data point in the ELBO (paper: 1 for images,
            8 for UCI).
        kl_warmup_steps: ``[start, end]``: the KL weight rises linearly from 0 to 1 between these
            optimiser steps (paper: BSDS300 30,000 to 200,001); empty: no schedule (beta = 1).
        train_noise_std: std of Gaussian noise added to each training batch (paper: POWER 0.001).
        checkpoint_every_epochs: how often the resume file is written.
    """

    seed: int = 20220118
    latent_dim: int
    encoder: NetworkConfig = field(default_factory=NetworkConfig)
    decoder: NetworkConfig = field(default_factory=NetworkConfig)
    min_scale: float = 1e-5
    training: TrainingConfig = field(default_factory=TrainingConfig)
    num_latent_samples: int = 1
    kl_warmup_steps: tuple[int, ...] = ()
    train_noise_std: float = 0.0
    checkpoint_every_epochs: int = 10

    def __post_init__(self) -> None:
        if self.num_latent_samples < 1:
            raise ValueError(f"num_latent_samples must be >= 1, got {self.num_latent_samples}")
        if self.kl_warmup_steps and len(self.kl_warmup_steps) != 2:
            raise ValueError(f"kl_warmup_steps must be [start, end] or empty, got {list(self.kl_warmup_steps)}")
        if self.train_noise_std < 0 or self.checkpoint_every_epochs < 1:
            raise ValueError("train_noise_std must be >= 0 and checkpoint_every_epochs >= 1")


@dataclass(frozen=True, kw_only=True)
class ClassifierModelConfig:
    """``experiments.mnist_gmm.classifier``: the FID feature network (paper: a ResNet, 40 epochs).

    Attributes: seed; network; training; checkpoint_every_epochs.
    """

    seed: int = 20220118
    network: NetworkConfig = field(default_factory=NetworkConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    checkpoint_every_epochs: int = 10


def _with_image_shape(network: NetworkConfig, dataset: xr.Dataset) -> NetworkConfig:
    if network.type != "resnet" or network.image_shape:
        return network
    shape = image_shape(dataset)
    if shape is None:
        raise ValueError(f"a resnet needs image data; dataset {dataset.attrs.get('name')!r} is tabular")
    return dataclasses.replace(network, image_shape=tuple(shape))


def vae_config(dataset: xr.Dataset, config: VAEModelConfig) -> VAEConfig:
    """The full architecture: the configured networks, D and the likelihood from the data."""
    return VAEConfig(
        data_dim=int(dataset.sizes["feature"]),
        latent_dim=config.latent_dim,
        likelihood=str(dataset.attrs.get("likelihood", "gaussian")),
        encoder=_with_image_shape(config.encoder, dataset),
        decoder=_with_image_shape(config.decoder, dataset),
        min_scale=config.min_scale,
    )


def resume_file(directory: str | Path, kind: str, config: Any, dataset: xr.Dataset) -> Path:
    """``<directory>/resume/<kind>-<hash>.pt``, the hash over the config and the data's identity."""
    data = dataset.attrs.get("config_json") or dataset.attrs.get("generator_config", "")  # toy data: its generator
    key = {"config": to_dict(config), "data": data, "name": dataset.attrs.get("name")}
    return Path(directory) / "resume" / f"{kind}-{config_hash(key)[:16]}.pt"


def _tensors(dataset: xr.Dataset, split: str, device: torch.device, labels: bool = False) -> tuple[torch.Tensor, ...]:
    x = torch.as_tensor(dataset[f"x_{split}"].values, dtype=torch.float32, device=device)
    bad = ~torch.isfinite(x).all(dim=1)
    if bool(bad.any()):  # one NaN would turn every parameter into NaN ("training diverged")
        rows = torch.nonzero(bad).flatten().tolist()
        raise ValueError(
            f"dataset {dataset.attrs.get('name')!r} has NaN or infinite values in x_{split} "
            f"(rows {rows[:5]}{' and more' if len(rows) > 5 else ''}); a prepared dataset must be complete "
            "(the experiments make the missing values): fix the raw data or its preparation"
        )
    if not labels:
        return (x,)
    return x, torch.as_tensor(dataset[f"label_{split}"].values, dtype=torch.long, device=device)


def labelled_split(dataset: xr.Dataset, split: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, labels)`` of one split as tensors on ``device``."""
    x, labels = _tensors(dataset, split, device, labels=True)
    return x, labels


def train_vae(
    dataset: xr.Dataset,
    config: VAEModelConfig,
    *,
    device: torch.device,
    resume_path: str | Path | None = None,
    progress: bool = True,
) -> tuple[VAE, FitResult]:
    """Maximise the ELBO (STL gradient) on the training split; keep the best-validation parameters."""
    model = VAE(vae_config(dataset, config))
    # Initial weights from a CPU generator, so they do not depend on the device.
    init_parameters(model, generator=vrandom.make_generator(vrandom.derive_seed(config.seed, "init")))
    model.to(device)
    schedule = config.kl_warmup_steps

    def loss(m: torch.nn.Module, batch: tuple[torch.Tensor, ...], g: torch.Generator, *, step: int) -> torch.Tensor:
        beta = linear_beta(step, *schedule) if schedule else 1.0
        noise = config.train_noise_std if m.training else 0.0
        return elbo_loss(m, batch[0], num_latent_samples=config.num_latent_samples, generator=g, beta=beta,
                         train_noise_std=noise)

    result = fit(
        model, _tensors(dataset, "train", device), _tensors(dataset, "val", device), loss, config.training,
        generator=vrandom.make_generator(config.seed, device), progress=progress, resume_path=resume_path,
        checkpoint_every_epochs=config.checkpoint_every_epochs,
    )
    model.load_state_dict(result.best_state)
    return model.eval(), result


def train_classifier(
    dataset: xr.Dataset,
    config: ClassifierModelConfig,
    *,
    device: torch.device,
    resume_path: str | Path | None = None,
    progress: bool = True,
) -> tuple[Classifier, FitResult]:
    """Cross-entropy training on the labelled training split (the FID feature network)."""
    if "label_train" not in dataset:
        raise ValueError(f"dataset {dataset.attrs.get('name')!r} has no labels to train a classifier on")
    num_classes = int(max(dataset[f"label_{s}"].values.max() for s in ("train", "val", "test"))) + 1
    model = Classifier(ClassifierConfig(data_dim=int(dataset.sizes["feature"]), num_classes=num_classes,
                                        network=_with_image_shape(config.network, dataset)))
    init_parameters(model, generator=vrandom.make_generator(vrandom.derive_seed(config.seed, "init")))
    model.to(device)
    result = fit(
        model, _tensors(dataset, "train", device, True), _tensors(dataset, "val", device, True),
        cross_entropy_loss, config.training, generator=vrandom.make_generator(config.seed, device),
        progress=progress, resume_path=resume_path, checkpoint_every_epochs=config.checkpoint_every_epochs,
    )
    model.load_state_dict(result.best_state)
    return model.eval(), result
