"""A plain, reproducible training loop: Adam, cosine learning rate, gradient clipping, best-val.

Reproducibility: mini-batch order, dropout masks and Monte Carlo draws all come from the one
``generator`` passed to :func:`fit`; nothing touches torch's global RNG.

Resumable training: with ``resume_path``, :func:`fit` writes a resume file every
``checkpoint_every_epochs`` epochs and at the end (model, optimiser, scheduler and generator state,
best-val state and the history), and a later call with the same setup continues from it. Resuming
after an interruption gives bit-identical parameters and history to an uninterrupted run on the same
device (on CUDA, given deterministic kernels, e.g. ``torch.backends.cudnn.deterministic = True``).
A resumed run logs one line, ``resuming from <resume file> at epoch <k> of <epochs>``, at INFO level
on the ``vaeinfer.training`` logger (the workflow's job logs show it).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import io
import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from vaeinfer.config import to_dict
from vaeinfer.models.networks import bind_generator

__all__ = ["FitResult", "LossFn", "TrainingConfig", "fit"]

LossFn = Callable[..., Tensor]
"""``loss_fn(model, batch, generator)`` or ``loss_fn(model, batch, generator, *, step)``: a scalar.

``batch`` is a tuple of tensors (rows of ``train`` or ``val``). When the function accepts a
``step`` keyword (or ``**kwargs``), :func:`fit` passes the global optimiser step: the 0-based index
of the step about to be taken during training, and the number of steps taken so far for the
validation loss (e.g. for a KL-weight schedule, :func:`vaeinfer.models.vae.linear_beta`).
"""

_RESUME_FORMAT = 1

_log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """Optimisation settings.

    Attributes:
        epochs: passes over the training set.
        batch_size: mini-batch size.
        learning_rate: Adam's initial learning rate, cosine-annealed to 0 over all steps.
        grad_clip_norm: maximum global gradient norm.
        eval_batch_size: the validation loss is the size-weighted mean of ``loss_fn`` over
            validation batches of this size (in order); ``None``: one batch with all of it.
    """

    epochs: int = 500
    batch_size: int = 1024
    learning_rate: float = 2e-4
    grad_clip_norm: float = 10.0
    eval_batch_size: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError("epochs, batch_size and learning_rate must be positive")
        if self.eval_batch_size is not None and self.eval_batch_size < 1:
            raise ValueError(f"eval_batch_size must be >= 1 or null, got {self.eval_batch_size}")


class FitResult(NamedTuple):
    """What :func:`fit` returns.

    Attributes:
        best_state: parameters at the epoch with the lowest validation loss.
        best_epoch: that epoch (0-based).
        history: per-epoch rows ``{"epoch", "step", "learning_rate", "train_loss", "val_loss"}``:
            ``step`` is the number of optimiser steps taken by the end of the epoch,
            ``learning_rate`` the rate of the epoch's first step, ``train_loss`` the size-weighted
            mean of the mini-batch losses, ``val_loss`` the loss on the validation set in eval mode.
        finished: False when ``stop_after_epochs`` stopped training before ``config.epochs``.
    """

    best_state: dict[str, Tensor]
    best_epoch: int
    history: list[dict[str, float]]
    finished: bool = True


def _accepts_step(loss_fn: Callable[..., Tensor]) -> bool:
    try:
        params = inspect.signature(loss_fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return any(
        (p.name == "step" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)) or p.kind == p.VAR_KEYWORD
        for p in params
    )


def _fingerprint(
    model: nn.Module, train: tuple[Tensor, ...], val: tuple[Tensor, ...], config: TrainingConfig,
    resume_key: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """What a resume file must match to be continued: JSON-able, compared for equality."""
    model_config = getattr(model, "config", None)
    fingerprint = {
        "training": to_dict(config),
        "model_class": type(model).__qualname__,
        "model_config": to_dict(model_config) if dataclasses.is_dataclass(model_config) else None,
        "parameters": [[name, list(t.shape), str(t.dtype)] for name, t in model.state_dict().items()],
        "train_shapes": [list(t.shape) for t in train],
        "val_shapes": [list(t.shape) for t in val],
        "resume_key": dict(resume_key) if resume_key is not None else None,
    }
    return json.loads(json.dumps(fingerprint, sort_keys=True, default=str))


def _save_resume(path: Path, payload: dict[str, Any]) -> None:
    from vaeinfer.results.io import atomic_path  # results.io imports the samplers; keep this module light

    # NOTE: torch.save names the zip's root folder after the file; saving to a buffer keeps the
    # bytes independent of the temporary file name (as in models.checkpoints.save_checkpoint).
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def _load_resume(path: Path, fingerprint: dict[str, Any]) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated or corrupt file
        raise OSError(f"resume file {path} is unreadable ({err}); delete it to restart training") from None
    if not isinstance(payload, dict) or payload.get("format") != _RESUME_FORMAT:
        raise ValueError(f"{path} is not a resume file of this version of vaeinfer; delete it to restart training")
    recorded = json.loads(payload["fingerprint"])
    if recorded != fingerprint:
        differ = sorted(k for k in set(recorded) | set(fingerprint) if recorded.get(k) != fingerprint.get(k))
        raise ValueError(
            f"resume file {path} was written for a different training setup (differs in: {', '.join(differ)}); "
            f"delete {path} to start training afresh, or restore the original setup to continue it"
        )
    return payload


def _val_loss(
    model: nn.Module, val: tuple[Tensor, ...], loss_fn: LossFn, generator: torch.Generator,
    batch_size: int | None, step_kw: dict[str, int],
) -> float:
    n = val[0].shape[0]
    if batch_size is None or batch_size >= n:
        return float(loss_fn(model, val, generator, **step_kw))
    total = 0.0
    for start in range(0, n, batch_size):
        batch = tuple(t[start : start + batch_size] for t in val)
        total += float(loss_fn(model, batch, generator, **step_kw)) * batch[0].shape[0]
    return total / n


def fit(
    model: nn.Module,
    train: tuple[Tensor, ...],
    val: tuple[Tensor, ...],
    loss_fn: LossFn,
    config: TrainingConfig,
    *,
    generator: torch.Generator,
    progress: bool = True,
    resume_path: str | os.PathLike[str] | None = None,
    checkpoint_every_epochs: int = 1,
    resume_key: Mapping[str, Any] | None = None,
    stop_after_epochs: int | None = None,
) -> FitResult:
    """Minimise ``loss_fn(model, batch, generator[, step=...])`` over mini-batches of ``train``.

    Each epoch draws a permutation of the training rows from ``generator``, takes one Adam step per
    mini-batch (gradient norm clipped to ``config.grad_clip_norm``, learning rate cosine-annealed
    from ``config.learning_rate`` to 0 over ``epochs * ceil(n / batch_size)`` steps), then
    evaluates the validation loss in eval mode without gradients. Dropout layers draw from
    ``generator`` (bound with :func:`~vaeinfer.models.networks.bind_generator`). ``generator`` may
    live on the model's device; the permutation is drawn there.

    Args:
        model: the module to train, in place (it ends with the *last* epoch's parameters; the
            best-val ones are in the result).
        train, val: tuples of tensors with the same number of rows, on the model's device.
        loss_fn: see :data:`LossFn`.
        config: optimisation settings.
        generator: the one source of randomness.
        progress: show a progress bar.
        resume_path: optional resume file. If it exists, training continues from it (it must have
            been written for the same setup: training config, model class/config/parameter shapes,
            data shapes and ``resume_key``; otherwise a ``ValueError`` names the file to delete).
            It is (re)written atomically every ``checkpoint_every_epochs`` epochs and at the end.
        checkpoint_every_epochs: epochs between resume-file writes.
        resume_key: extra JSON-able values the resume file must match (e.g. data and seed names).
        stop_after_epochs: stop once this many epochs (counted from the start of training,
            including resumed ones) are done, writing the resume file; the result then has
            ``finished=False``. For time-limited jobs and tests.

    Returns:
        :class:`FitResult`. Raises ``FloatingPointError`` if no validation loss was finite.
    """
    if checkpoint_every_epochs < 1:
        raise ValueError(f"checkpoint_every_epochs must be >= 1, got {checkpoint_every_epochs}")
    if stop_after_epochs is not None and stop_after_epochs < 0:
        raise ValueError(f"stop_after_epochs must be >= 0 or None, got {stop_after_epochs}")
    n = train[0].shape[0]
    steps_per_epoch = math.ceil(n / config.batch_size)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimiser, T_max=config.epochs * steps_per_epoch
    )
    pass_step = _accepts_step(loss_fn)
    best = (math.inf, -1, copy.deepcopy(model.state_dict()))
    history: list[dict[str, float]] = []
    start_epoch = 0

    path = Path(resume_path) if resume_path is not None else None
    fingerprint = _fingerprint(model, train, val, config, resume_key) if path is not None else {}
    if path is not None:
        from vaeinfer.results.io import remove_stale_temporaries

        remove_stale_temporaries(path)  # a resume write cut short by a kill (the file itself is whole)
    if path is not None and path.exists():
        saved = _load_resume(path, fingerprint)
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        schedule.load_state_dict(saved["scheduler"])
        generator.set_state(saved["generator"])
        devices = {k: v.device for k, v in model.state_dict().items()}
        best_state = {k: v.to(devices[k]) for k, v in saved["best_state"].items()}
        best = (float(saved["best_val_loss"]), int(saved["best_epoch"]), best_state)
        history = [dict(row) for row in saved["history"]]
        start_epoch = int(saved["epoch"])
        _log.info("resuming from %s at epoch %d of %d", path, start_epoch, config.epochs)

    def write_resume(epochs_done: int) -> None:
        if path is None:
            return
        _save_resume(path, {
            "format": _RESUME_FORMAT,
            "fingerprint": json.dumps(fingerprint, sort_keys=True),
            "epoch": epochs_done,
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimiser": optimiser.state_dict(),
            "scheduler": schedule.state_dict(),
            "generator": generator.get_state(),
            "best_val_loss": best[0],
            "best_epoch": best[1],
            "best_state": {k: v.detach().cpu() for k, v in best[2].items()},
            "history": history,
        })

    end_epoch = config.epochs if stop_after_epochs is None else min(config.epochs, stop_after_epochs)
    bar = tqdm(range(start_epoch, end_epoch), desc="training", disable=not progress, mininterval=2.0,
               initial=start_epoch, total=config.epochs)
    for epoch in bar:
        model.train()
        perm = torch.randperm(n, generator=generator, device=generator.device)
        total = 0.0
        learning_rate = float(optimiser.param_groups[0]["lr"])
        with bind_generator(model, generator):
            for i in range(steps_per_epoch):
                idx = perm[i * config.batch_size : (i + 1) * config.batch_size]
                batch = tuple(t[idx.to(t.device)] for t in train)
                step_kw = {"step": epoch * steps_per_epoch + i} if pass_step else {}
                loss = loss_fn(model, batch, generator, **step_kw)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
                optimiser.step()
                schedule.step()
                total += float(loss.detach()) * idx.shape[0]
        steps_done = (epoch + 1) * steps_per_epoch
        model.eval()
        with torch.no_grad():
            step_kw = {"step": steps_done} if pass_step else {}
            val_loss = _val_loss(model, val, loss_fn, generator, config.eval_batch_size, step_kw)
        history.append({"epoch": epoch, "step": steps_done, "learning_rate": learning_rate,
                        "train_loss": total / n, "val_loss": val_loss})
        if val_loss < best[0]:
            best = (val_loss, epoch, copy.deepcopy(model.state_dict()))
        bar.set_postfix(train=f"{total / n:.3f}", val=f"{val_loss:.3f}", refresh=False)
        if (epoch + 1) % checkpoint_every_epochs == 0 and epoch + 1 < end_epoch:
            write_resume(epoch + 1)
    bar.close()
    epochs_done = max(start_epoch, end_epoch)
    if epochs_done > start_epoch or not (path is not None and path.exists()):
        write_resume(epochs_done)
    finished = epochs_done >= config.epochs
    if finished and not math.isfinite(best[0]):
        raise FloatingPointError("training diverged: the validation loss was never finite")
    return FitResult(best_state=best[2], best_epoch=best[1], history=history, finished=finished)
