"""MNIST-GMM (seed000.md §2.2): a Gaussian mixture fitted to MNIST in logit space, and samples from it.

Raw inputs: the MNIST training images and labels (IDX files, gzip-compressed) from torchvision's
mirror; the md5 sums are those torchvision checks (``torchvision/datasets/mnist.py``).

Recipe (all steps in :mod:`vaeinfer.data.gmm`):

1. the first 99.4 % (59,640) of the 60,000 training images;
2. nearest-neighbour resize 28 -> 14 (:func:`~vaeinfer.data.gmm.resize_nearest`), on the
   integer images, before dequantisation;
3. dequantise with 256 levels, ``x = (k + u) / 256`` (= the spec's ``(x 255 + u) / 256``), seeded
   here (the original's RNG is unseeded, so the exact numbers cannot be reproduced);
4. ``y = logit(0.15 + 0.7 x)``;
5. one full-covariance Gaussian per digit (196-D mean, 196x196 unbiased sample covariance),
   weights 1/10;
6. sample 18,000 train, 2,000 val and 20,000 test points with their component labels.

The VAE, the samplers and the metrics all work in logit space on these samples.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from vaeinfer.config import ConfigError
from vaeinfer.data.download import RemoteFile, require_file
from vaeinfer.data.gmm import build_class_gmm, resize_nearest
from vaeinfer.data.prepared import coerce_config, prepared_dataset

__all__ = ["REMOTE_FILES", "MnistGMMConfig", "prepare", "read_idx"]

_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
REMOTE_FILES: list[RemoteFile] = [
    RemoteFile("train-images-idx3-ubyte.gz", _MIRROR + "train-images-idx3-ubyte.gz",
               "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873", 9_912_422),
    RemoteFile("train-labels-idx1-ubyte.gz", _MIRROR + "train-labels-idx1-ubyte.gz",
               "md5:d53e105ee54ea40749a09fcbcd1e9432", 28_881),
]  # fmt: skip

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class MnistGMMConfig:
    """MNIST-GMM construction.

    Attributes:
        seed: seed of the dequantisation noise and of the sampling (streams derived per use and split).
        num_train, num_val, num_test: points sampled from the fitted mixture per split.
        fit_fraction: the leading fraction of the 60,000 training images used for the fit (0.994 -> 59,640).
        image_size: side of the resized images (14).
        alpha: squeeze of the logit transform, y = logit(alpha + (1 - 2 alpha) x).
    """

    seed: int = 20220118
    num_train: int = 18000
    num_val: int = 2000
    num_test: int = 20000
    fit_fraction: float = 0.994
    image_size: int = 14
    alpha: float = 0.15

    def __post_init__(self) -> None:
        for name in ("num_train", "num_val", "num_test", "image_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"MnistGMMConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.image_size > 28:
            raise ConfigError(f"MnistGMMConfig.image_size must be <= 28, got {self.image_size}")
        if not 0.0 < self.fit_fraction <= 1.0:
            raise ConfigError(f"MnistGMMConfig.fit_fraction must lie in (0, 1], got {self.fit_fraction}")
        if not 0.0 < self.alpha < 0.5:
            raise ConfigError(f"MnistGMMConfig.alpha must lie in (0, 0.5), got {self.alpha}")


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain): magic ``00 00 <type> <ndim>``, big-endian uint32 sizes, data."""
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"cannot read {path} ({err}); delete it and download it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number); delete it and download it again")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path} is truncated or corrupt: {len(raw)} bytes, expected {expected} for shape {shape}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def prepare(raw_dir: str | os.PathLike[str], config: MnistGMMConfig | Mapping[str, Any] | None = None) -> xr.Dataset:
    """Build MNIST-GMM from the raw IDX files in ``raw_dir`` (recipe in the module docstring)."""
    config = coerce_config(MnistGMMConfig, config)
    images_path, labels_path = (require_file(r, raw_dir) for r in REMOTE_FILES)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise ValueError(f"{images_path} / {labels_path}: expected images (N, 28, 28) and labels (N,), "
                         f"got {images.shape} and {labels.shape}")  # fmt: skip
    num_fit = int(np.floor(config.fit_fraction * images.shape[0] + 1e-9))
    images = resize_nearest(images[:num_fit], config.image_size)
    splits = build_class_gmm(
        images, labels[:num_fit].astype(np.int64), num_levels=256, num_classes=10, alpha=config.alpha,
        sizes={"train": config.num_train, "val": config.num_val, "test": config.num_test},
        seed=config.seed, stream="mnist_gmm",
    )  # fmt: skip
    return prepared_dataset(
        name="mnist_gmm", kind="real", stands_in_for="", likelihood="gaussian",
        image_shape=(config.image_size, config.image_size), config=config,
        x=splits.x, labels=splits.labels, gmm=splits.mixture,
        description=(
            f"MNIST-GMM (Simkus & Gutmann 2023): a 10-component full-covariance Gaussian mixture fitted to "
            f"logit({config.alpha} + {1 - 2 * config.alpha:g} x) of the first {num_fit} MNIST training images, "
            f"resized to {config.image_size}x{config.image_size} (nearest) and dequantised; samples in logit space."
        ),
    )  # fmt: skip
