"""A plain, reproducible training loop: Adam, cosine learning rate, gradient clipping, best-val."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from vaeinfer.models.networks import bind_generator

__all__ = ["FitResult", "TrainingConfig", "fit"]

LossFn = Callable[[nn.Module, tuple[Tensor, ...], torch.Generator], Tensor]


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """Optimisation settings.

    Attributes:
        epochs: passes over the training set.
        batch_size: mini-batch size.
        learning_rate: Adam's initial learning rate, cosine-annealed to 0 over all steps.
        grad_clip_norm: maximum global gradient norm.
    """

    epochs: int = 500
    batch_size: int = 1024
    learning_rate: float = 2e-4
    grad_clip_norm: float = 10.0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError("epochs, batch_size and learning_rate must be positive")


class FitResult(NamedTuple):
    """What :func:`fit` returns.

    Attributes:
        best_state: parameters at the epoch with the lowest validation loss.
        best_epoch: that epoch (0-based).
        history: per-epoch ``{"epoch", "train_loss", "val_loss"}`` rows.
    """

    best_state: dict[str, Tensor]
    best_epoch: int
    history: list[dict[str, float]]


def fit(
    model: nn.Module,
    train: tuple[Tensor, ...],
    val: tuple[Tensor, ...],
    loss_fn: LossFn,
    config: TrainingConfig,
    *,
    generator: torch.Generator,
    progress: bool = True,
) -> FitResult:
    """Minimise ``loss_fn(model, batch, generator)`` over mini-batches of the tensors in ``train``.

    Mini-batch order, dropout masks and Monte Carlo draws all come from ``generator``.
    """
    n = train[0].shape[0]
    steps_per_epoch = math.ceil(n / config.batch_size)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimiser, T_max=config.epochs * steps_per_epoch
    )
    best = (math.inf, -1, copy.deepcopy(model.state_dict()))
    history: list[dict[str, float]] = []
    bar = tqdm(range(config.epochs), desc="training", disable=not progress, mininterval=2.0)
    for epoch in bar:
        model.train()
        perm = torch.randperm(n, generator=generator, device=generator.device)
        total = 0.0
        with bind_generator(model, generator):
            for i in range(steps_per_epoch):
                idx = perm[i * config.batch_size : (i + 1) * config.batch_size]
                loss = loss_fn(model, tuple(t[idx] for t in train), generator)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
                optimiser.step()
                schedule.step()
                total += float(loss.detach()) * idx.shape[0]
        model.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(model, val, generator))
        history.append({"epoch": epoch, "train_loss": total / n, "val_loss": val_loss})
        if val_loss < best[0]:
            best = (val_loss, epoch, copy.deepcopy(model.state_dict()))
        bar.set_postfix(train=f"{total / n:.3f}", val=f"{val_loss:.3f}")
    if not math.isfinite(best[0]):
        raise FloatingPointError("training diverged: the validation loss was never finite")
    return FitResult(best_state=best[2], best_epoch=best[1], history=history)
