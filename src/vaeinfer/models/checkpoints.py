"""Checkpoints: parameters plus the config and provenance that produced them."""

from __future__ import annotations

import io
import os
from typing import Any

import torch
from torch import nn

from vaeinfer.config import from_dict, to_dict
from vaeinfer.models.classifier import Classifier, ClassifierConfig
from vaeinfer.models.toy import ToyVAE, ToyVAEConfig
from vaeinfer.models.vae import VAE, VAEConfig
from vaeinfer.results.io import atomic_path

__all__ = ["MODEL_TYPES", "load_checkpoint", "save_checkpoint"]

#: model type name -> (class, config class); a checkpoint names its type.
MODEL_TYPES: dict[str, tuple[type[nn.Module], type]] = {
    "toy_vae": (ToyVAE, ToyVAEConfig),
    "vae": (VAE, VAEConfig),
    "classifier": (Classifier, ClassifierConfig),
}


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, model_type: str, **meta: Any) -> None:
    """Write ``model``'s parameters, architecture config and ``meta`` atomically to ``path``."""
    payload = {
        "model_type": model_type,
        "model_config": to_dict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **meta,
    }
    # NOTE: torch.save names the zip's root folder after the file; saving to a buffer keeps the
    # bytes independent of the temporary file name, so identical checkpoints are identical files.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def load_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """The model (in eval mode, on ``device``) and the checkpoint's metadata."""
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint {path} does not exist; run the pre-training rule") from None
    except Exception as err:  # corrupt zip, truncated file, ...
        reason = str(err).split(". ", 1)[0]  # torch goes on for several sentences about what may have happened
        message = f"checkpoint {path} is truncated or corrupt ({reason}); delete it and rerun pre-training"
        raise OSError(message) from None
    try:
        cls, config_cls = MODEL_TYPES[payload["model_type"]]
    except KeyError:
        raise ValueError(f"checkpoint {path} has unknown model type {payload.get('model_type')!r}") from None
    model = cls(from_dict(config_cls, payload["model_config"]))
    model.load_state_dict(payload["state_dict"])
    model.to(device).eval()
    meta = {k: v for k, v in payload.items() if k not in ("state_dict",)}
    return model, meta
