"""Provenance attributes: what produced a file (no wall-clock times, so reruns are byte-identical)."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

import vaeinfer

__all__ = ["config_hash", "git_commit", "provenance"]


def config_hash(config: Any) -> str:
    """sha256 of the canonical JSON of ``config``."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def git_commit(cwd: str | Path | None = None) -> str:
    """The checkout's HEAD commit, with ``-dirty`` if tracked files changed; ``unknown`` outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def provenance(
    config: Any, *, seed: int | None = None, device: str | torch.device = "cpu", with_commit: bool = True
) -> dict[str, Any]:
    """Attributes for a result file: versions, git commit, config hash and JSON, seed, device.

    ``with_commit=False`` leaves the git commit out. Checkpoints use it: their bytes then depend
    only on the config and the code that trained them, so retraining at a later commit (say, one
    that only updated ``dvc.lock``) reproduces the hash that ``dvc.lock`` records, and
    ``dvc status`` stays clean. The commit that trained a checkpoint is the one whose ``dvc.lock``
    first records its hash (``git log -p dvc.lock``).
    """
    import numpy
    import scipy
    import xarray

    attrs: dict[str, Any] = {
        "package": "vaeinfer",
        "package_version": vaeinfer.__version__,
        "torch_version": str(torch.__version__),
        "numpy_version": numpy.__version__,
        "scipy_version": scipy.__version__,
        "xarray_version": xarray.__version__,
        "python_version": platform.python_version(),
        "config_sha256": config_hash(config),
        "config_json": json.dumps(config, sort_keys=True, default=str),
        "device": str(device),
    }
    if with_commit:
        attrs["git_commit"] = git_commit()
    if seed is not None:
        attrs["seed"] = int(seed)
    return attrs
